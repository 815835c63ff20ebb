r"""Case study (TIL Fig. 4): do the learned triplet weights agree with the users' ratings?

Loads MovieLens-100K with ``rating_threshold=1`` (every rating is a training positive, the rating is
kept on the edge), trains TIL, and compares the mean learned weight of triplets ``(u, i, j)`` where
``u`` rated ``i`` 4-5 and ``j`` 1-3 (a trustworthy preference) with all other same-user triplets,
using :func:`graphdenoise.metrics.rating_pair_weights`. Optionally draws the weight of every rating
pair as a heatmap.

Usage::

    python examples/weight_case_study.py --data-dir ../shared/datasets
    python examples/weight_case_study.py --methods til-ui,til-mi --epochs 20 --figure case-study.png
"""
from __future__ import annotations

import argparse
import os

import graphdenoise
from graphdenoise.datasets import load_dataset
from graphdenoise.metrics.noise import rating_pair_weights


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"),
                        help="folder of raw dataset files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--model", default="mf")
    parser.add_argument("--methods", default="til-ui", help="comma-separated TIL variants (default: til-ui)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None, help="write a rating-pair heatmap PNG here")
    args = parser.parse_args(argv)

    data = load_dataset("ml-100k", data_dir=args.data_dir, rating_threshold=1)
    print(f"MovieLens-100K, every rating a positive: {data['user'].num_nodes} users, {data['item'].num_nodes} "
          f"items, {data['user', 'interacts', 'item'].edge_index.size(1)} training edges")
    panels = {}
    for method in args.methods.split(","):
        options = {"pretrain_epochs": max(1, args.epochs // 6)} if method in ("til-mi", "til-mik") else {}
        result = graphdenoise.fit(data, model=args.model, method=method, epochs=args.epochs, seed=args.seed,
                                  lr=args.lr, eval_every=2, patience=3, **options)
        summary = rating_pair_weights(result.method, result.model, data, generator_seed=args.seed)
        print(f"\n{method}: test Recall@20 {result.metrics['test']['recall@20']:.4f}")
        print(f"  mean weight, positive rated 4-5 and negative 1-3: {summary['high_low_mean']:.4f} "
              f"({summary['num_high_low']} triplets)")
        print(f"  mean weight, every other rated pair:             {summary['other_mean']:.4f} "
              f"({summary['num_other']} triplets)")
        if args.figure:
            from graphdenoise.experiments.analysis import rating_grid
            panels[method] = {**rating_grid(result.method, result.model, data, seed=args.seed),
                              "subtitle": f"4-5 vs 1-3: {summary['high_low_mean']:.3f}, "
                                          f"others: {summary['other_mean']:.3f}"}
    if args.figure:
        from graphdenoise.experiments.figures import rating_heatmaps
        print(f"\nwrote {rating_heatmaps(panels, args.figure, 'Learned weight by rating pair (x100 / max)')}")


if __name__ == "__main__":
    main()
