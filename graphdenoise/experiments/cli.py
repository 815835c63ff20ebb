r"""``graphdenoise experiment NAME[,NAME...]``: run reproduction experiments into a results folder.

Example::

    graphdenoise experiment table1 --datasets amazon-cd,lastfm --budget small \
        --data-dir ../shared/datasets --out results/
"""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from typing import List, Optional

from .spec import BUDGETS, parse_list


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..catalog import EXPERIMENTS  # the names without importing the experiments (no torch for --help)
    parser = subparsers.add_parser(
        "experiment", help="run reproduction experiments (Table 1, figures) resumably",
        description="Run one or more experiments (" + ", ".join(EXPERIMENTS) + ") into --out: one CSV row per "
                    "cell, a markdown report and PNG figures; finished cells are skipped on re-runs.")
    parser.add_argument("names", help="experiment name(s), comma-separated: " + ", ".join(EXPERIMENTS))
    parser.add_argument("--budget", default="small", choices=sorted(BUDGETS),
                        help="epochs, early stopping, seeds and grid (default: small)")
    parser.add_argument("--datasets", default=None, help="comma-separated dataset names (default: per experiment)")
    parser.add_argument("--backbones", default=None, help="comma-separated backbones (default: per experiment)")
    parser.add_argument("--methods", default=None, help="comma-separated methods (BPR is always added)")
    parser.add_argument("--seeds", default=None, help="override the budget's seeds, e.g. 0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="override the budget's maximum epochs")
    parser.add_argument("--lrs", default=None, help="override the budget's learning-rate grid, e.g. 1e-3,1e-2")
    parser.add_argument("--l2s", default=None, help="override the budget's L2 grid")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                        help="loader option for every dataset, e.g. --dataset-option min_interactions=10")
    parser.add_argument("--data-dir", default=None, help="folder of raw dataset files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--out", default="results", help="results folder (default: results/)")
    parser.add_argument("--device", default=None, help="cpu, cuda... (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-retry-failed", action="store_true", help="do not re-run cells recorded as failed")
    parser.add_argument("--quiet", action="store_true", help="no per-cell progress lines")
    return parser


def _parse_option(text: str):
    import ast
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--dataset-option expects KEY=VALUE, got {text!r}")
    try:
        return key.replace("-", "_"), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.replace("-", "_"), value


def main(args: argparse.Namespace, argv: Optional[List[str]] = None) -> int:
    import torch

    from .experiments import make_spec, run
    from .spec import get_budget
    if args.threads:
        torch.set_num_threads(args.threads)
    budget = get_budget(args.budget)
    overrides = {}
    if args.seeds:
        overrides["seeds"] = parse_list(args.seeds, int)
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.lrs:
        overrides["lrs"] = parse_list(args.lrs, float)
    if args.l2s:
        overrides["l2s"] = parse_list(args.l2s, float)
    if overrides:
        budget = replace(budget, **overrides)
    dataset_options = dict(_parse_option(text) for text in args.dataset_option)
    command = "graphdenoise " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    log = None if args.quiet else (lambda line: print(line, flush=True))
    status = 0
    for name in parse_list(args.names):
        spec = make_spec(name, budget, datasets=parse_list(args.datasets), backbones=parse_list(args.backbones),
                         methods=parse_list(args.methods), dataset_options=dataset_options)
        result, report, _ = run(spec, args.out, data_dir=args.data_dir, device=args.device, command=command,
                                retry_failed=not args.no_retry_failed, log=log)
        print(f"{name}: report {report}; {result.ran} run, {result.skipped} reused, {result.failed} failed",
              flush=True)
        status = status or (1 if result.failed else 0)
    return status
