r"""Robustness study (TIL Fig. 3): how much Recall@20 each method loses when noise is injected.

Trains every method on the clean data and on three corrupted copies of the training edges (validation
and test stay clean): Noisy-Pos (random unobserved items added as positives), Noisy-Neg (true
positives removed) and Noisy-(Pos+Neg), each at ``ratio`` x the user's positives (paper: 0.5). Prints
the relative drop of test Recall@20 and writes ``robustness.md`` and ``figures/robustness.png``.

Usage::

    python examples/robustness.py --data-dir ../shared/datasets
    python examples/robustness.py --dataset synthetic --epochs 5        # offline, a minute
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from graphdenoise.experiments import NoiseSpec, get_budget, make_spec, run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"),
                        help="folder of raw dataset files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--dataset", default="lastfm")
    parser.add_argument("--backbone", default="mf")
    parser.add_argument("--methods", default="tce-bpr,til-ui", help="methods beside the tuned BPR")
    parser.add_argument("--ratio", type=float, default=0.5, help="noise per clean positive (default: 0.5)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default="results/robustness")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    budget = replace(get_budget("small"), epochs=args.epochs, seeds=tuple(int(s) for s in args.seeds.split(",")),
                     lrs=(1e-2,))
    spec = make_spec("robustness", budget, datasets=[args.dataset], backbones=[args.backbone],
                     methods=args.methods.split(","))
    spec = replace(spec, noises=(None,) + tuple(NoiseSpec(kind, args.ratio) for kind in ("pos", "neg", "posneg")))
    result, report, figures = run(spec, args.out, data_dir=args.data_dir, device=args.device,
                                  command="python " + " ".join(sys.argv))
    text = report.read_text()
    print(text[text.index("## Recall@20 under injected noise"):text.index("## Details")])
    print(f"report: {report}; figure: {', '.join(map(str, figures))}")


if __name__ == "__main__":
    main()
