r"""``graphdenoise experiment NAME[,NAME...]``: run reproduction experiments into a results folder.

Example::

    graphdenoise experiment table1 --datasets amazon-cd,lastfm --budget small \
        --data-dir ../shared/datasets --out results/
"""
from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
from dataclasses import replace
from typing import List, Optional

from .spec import BUDGETS, parse_list


def _budget_epilog() -> str:
    lines = ["budgets (--budget):"]
    for budget in BUDGETS.values():
        lines.extend(textwrap.wrap(budget.describe().replace("`", ""), width=96, initial_indent="  ",
                                   subsequent_indent="      "))
    return "\n".join(lines)


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..catalog import EXPERIMENTS  # the names without importing the experiments (no torch for --help)
    parser = subparsers.add_parser(
        "experiment", help="run reproduction experiments (Table 1, figures) resumably",
        description="Run one or more experiments (" + ", ".join(EXPERIMENTS) + ") into --out: one CSV row per "
                    "cell, a markdown report and PNG figures; finished cells are skipped on re-runs. Every "
                    "dataset, backbone and method name is checked before the first cell runs.",
        epilog=_budget_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="?", default=None,
                        help="experiment name(s), comma-separated: " + ", ".join(EXPERIMENTS))
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="a YAML/JSON file whose keys are these options (names, budget, datasets, ...); "
                             "flags given on the command line win")
    parser.add_argument("--budget", default="small", choices=sorted(BUDGETS),
                        help="epochs, early stopping, seeds and lr/L2 grid; each budget is described below "
                             "(default: small)")
    parser.add_argument("--datasets", default=None, help="comma-separated dataset names (default: per experiment)")
    parser.add_argument("--backbones", default=None, help="comma-separated backbones (default: per experiment)")
    parser.add_argument("--methods", default=None, help="comma-separated methods (BPR is always added)")
    parser.add_argument("--seeds", default=None, help="override the budget's seeds, e.g. 0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="override the budget's maximum epochs")
    parser.add_argument("--lrs", default=None, help="override the budget's learning-rate grid, e.g. 1e-3,1e-2")
    parser.add_argument("--l2s", default=None, help="override the budget's L2 grid")
    parser.add_argument("--trials", type=int, default=None,
                        help="tune with this many Optuna trials per tuned method instead of the grid (needs [tune])")
    parser.add_argument("--tune-all", action="store_true",
                        help="tune every method with the same budget (default: the budget's; BPR only for small)")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                        help="loader option for every dataset, e.g. --dataset-option min_interactions=10")
    parser.add_argument("--data-dir", default=None, help="folder of raw dataset files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--out", default="results", help="results folder (default: results/)")
    parser.add_argument("--device", default=None, help="cpu, cuda... (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush float denormals to zero on CPU (a denormal weight slows every product it "
                             "enters, up to 30x; see graphdenoise.utils.flush_denormals)")
    parser.add_argument("--no-retry-failed", action="store_true", help="do not re-run cells recorded as failed")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write the report of the cells already finished in --out (e.g. while "
                             "runners fill it), listing those not run yet")
    parser.add_argument("--quiet", action="store_true", help="no per-cell progress lines")
    parser.set_defaults(experiment_parser=parser)
    return parser


def _apply_config(args: argparse.Namespace, argv: Optional[List[str]]) -> argparse.Namespace:
    """Re-parse with the config file's values as defaults, so command-line flags override them."""
    from ..runconfig import normalise_key, read_mapping
    parser = args.experiment_parser
    valid = sorted(a.dest for a in parser._actions if a.dest not in ("help", "config"))
    values = {normalise_key(k): v for k, v in read_mapping(args.config).items()}
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"{args.config}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: "
                         f"{', '.join(valid)}")
    for key, value in values.items():
        if isinstance(value, (list, tuple)) and key != "dataset_option":
            values[key] = ",".join(str(v) for v in value)
        elif isinstance(value, dict) and key == "dataset_option":
            values[key] = [f"{k}={v!r}" for k, v in value.items()]
    parser.set_defaults(**values)
    tokens = list(sys.argv[1:] if argv is None else argv)
    return parser.parse_args(tokens[tokens.index("experiment") + 1:])


def check_names(specs) -> None:
    r"""Every dataset, backbone and method of ``specs`` exists (raises before any cell runs)."""
    from .. import METHODS, MODELS
    from ..datasets import DATASETS, is_interaction_file
    for spec in specs:
        for backbone in spec.backbones:
            MODELS.get(backbone)
        for method in tuple(spec.methods) + tuple(getattr(spec, "variant_methods", ()) or ()):
            METHODS.get(method)
        for dataset in spec.datasets:
            if not is_interaction_file(dataset.name):
                DATASETS.get(dataset.name)


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
    if args.config:
        args = _apply_config(args, argv)
    if not args.names:
        raise ValueError("experiment needs NAMES (positional, or 'names:' in --config)")
    import torch

    from .experiments import make_spec, run
    from .spec import get_budget
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.flush_denormal:
        from ..utils import flush_denormals
        flush_denormals()
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
    if args.trials is not None:
        overrides["trials"] = args.trials
    if args.tune_all:
        overrides["tune_all"] = True
    if overrides:
        budget = replace(budget, **overrides)
    dataset_options = dict(_parse_option(text) for text in args.dataset_option)
    command = "graphdenoise " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    log = None if args.quiet else (lambda line: print(line, flush=True))
    status = 0
    specs = [make_spec(name, budget, datasets=parse_list(args.datasets), backbones=parse_list(args.backbones),
                       methods=parse_list(args.methods), dataset_options=dataset_options)
             for name in parse_list(args.names)]
    check_names(specs)
    for name, spec in zip(parse_list(args.names), specs):
        result, report, _ = run(spec, args.out, data_dir=args.data_dir, device=args.device, command=command,
                                retry_failed=not args.no_retry_failed, log=log, report_only=args.report_only)
        missing = len(result.missing())
        print(f"{name}: report {report}; {result.ran} run, {result.skipped} reused, {result.failed} failed"
              + (f", {missing} not run yet" if missing else ""), flush=True)
        status = status or (1 if result.failed else 0)
    return status
