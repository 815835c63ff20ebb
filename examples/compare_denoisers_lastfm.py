r"""Compare denoising methods on Last.fm beside a TUNED plain-BPR control (a small TIL Table 1).

Uses the reproduction harness (:mod:`graphdenoise.experiments`): BPR's learning rate is chosen on
validation Recall@20 over ``--lrs``; every other method reuses it; all run with the same seeds, epoch
limit and early stopping. Results go to ``--out`` (CSV per cell, ``table1.md`` report); re-running
skips the cells already finished there, so an interrupted run loses nothing.

Usage::

    python examples/compare_denoisers_lastfm.py --data-dir ../shared/datasets
    python examples/compare_denoisers_lastfm.py --backbones mf,lightgcn --seeds 0,1,2 --epochs 20
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from graphdenoise.experiments import get_budget, make_spec, run
from graphdenoise.experiments.report import metric_stats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"),
                        help="folder of raw dataset files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--dataset", default="lastfm")
    parser.add_argument("--backbones", default="mf", help="comma-separated: mf, lightgcn (default: mf)")
    parser.add_argument("--methods", default="wbpr,pris,tce-bpr,rce-bpr,til-ui,til-mi",
                        help="comma-separated methods; BPR (tuned) is always included")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    parser.add_argument("--lrs", default="1e-3,1e-2", help="BPR's learning-rate grid (default: 1e-3,1e-2)")
    parser.add_argument("--out", default="results/compare-lastfm")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    budget = replace(get_budget("small"), epochs=args.epochs, seeds=tuple(int(s) for s in args.seeds.split(",")),
                     lrs=tuple(float(v) for v in args.lrs.split(",")))
    spec = make_spec("table1", budget, datasets=[args.dataset], backbones=args.backbones.split(","),
                     methods=args.methods.split(","))
    result, report, _ = run(spec, args.out, data_dir=args.data_dir, device=args.device,
                            command="python " + " ".join(sys.argv))
    print(f"\n{'backbone':<10}{'method':<10}{'test R@20 (%)':>18}{'test N@20 (%)':>18}{'lr':>8}")
    for group in result.groups():
        recall, ndcg = metric_stats(result, group, "test_recall@20"), metric_stats(result, group, "test_ndcg@20")
        lr = result.selections[group][0]
        print(f"{group.backbone:<10}{group.method:<10}{recall[0] * 100:>18.2f}{ndcg[0] * 100:>18.2f}{lr:>8g}")
    print(f"\nfull report (mean ± std, best / second best, Δ vs BPR): {report}")


if __name__ == "__main__":
    main()
