r"""The command line: ``graphdenoise fit ...``, ``graphdenoise describe ...``, ``graphdenoise list``,
``graphdenoise experiment ...`` (:mod:`graphdenoise.experiments.cli`).

Start-up rule: this module imports only the standard library at module level, and help, ``list`` and
argument errors never import torch (names come from :mod:`graphdenoise.catalog`); each command imports
what it needs inside its branch (see :mod:`graphdenoise._lazy`)."""
from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import List, Optional


def _parse_option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option expects KEY=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return key.replace("-", "_"), parsed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphdenoise", description="Denoising recommenders on PyTorch Geometric")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="train and evaluate a recommender")
    fit.add_argument("--dataset", default="synthetic", help="dataset name (default: synthetic)")
    fit.add_argument("--model", default="lightgcn", help="backbone name (default: lightgcn)")
    fit.add_argument("--method", default="bpr", help="training method (default: bpr)")
    fit.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: 300)")
    fit.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--data-dir", default=None, help="folder of raw files (default: $GRAPHDENOISE_DATA)")
    fit.add_argument("--out", default=None, help="write metrics, config and history as JSON here")
    fit.add_argument("--save", default=None, help="write the trained model here (graphdenoise.load reads it)")
    fit.add_argument("--checkpoint-dir", default=None, help="checkpoint folder (default with --resume: runs/<run>)")
    fit.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    for name, kind in (("lr", float), ("l2", float), ("batch-size", int), ("eval-every", int), ("patience", int)):
        fit.add_argument(f"--{name}", type=kind, default=None)
    fit.add_argument("--noisy-positives", type=float, default=0.0, help="inject this ratio of noisy positives")
    fit.add_argument("--noisy-negatives", type=float, default=0.0, help="flip this ratio of positives")
    fit.add_argument("--option", "-o", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                     help="any model, method or trainer option, e.g. -o num_layers=2 -o drop_rate=0.1")
    fit.add_argument("--dataset-option", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                     help="dataset loader option, e.g. --dataset-option min_interactions=10")
    fit.add_argument("--distributed", action="store_true",
                     help="data-parallel under torchrun (gloo on CPU, nccl on GPUs); rank 0 writes the outputs")
    fit.add_argument("--quiet", action="store_true", help="no progress output")

    describe = sub.add_parser("describe", help="print a dataset's statistics")
    describe.add_argument("--dataset", default="synthetic")
    describe.add_argument("--data-dir", default=None)
    describe.add_argument("--seed", type=int, default=0)

    sub.add_parser("list", help="list datasets, models and methods")

    from .experiments.cli import add_parser as add_experiment_parser
    add_experiment_parser(sub)
    return parser


def _metrics_table(metrics: dict) -> str:
    names = list(next(iter(metrics.values())).keys())
    lines = [f"{'metric':<14}" + "".join(f"{split:>10}" for split in metrics)]
    for name in names:
        lines.append(f"{name:<14}" + "".join(f"{metrics[split][name]:>10.4f}" for split in metrics))
    return "\n".join(lines)


def _fail(message: str) -> int:
    print(f"graphdenoise: error: {message}", file=sys.stderr)
    return 2


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            from . import catalog  # names only: no torch import (see graphdenoise/_lazy.py)
            print("datasets:", ", ".join(catalog.DATASETS))
            print("models:  ", ", ".join(catalog.MODELS), "| sequence models:", ", ".join(catalog.SEQUENCE_MODELS))
            print("methods: ", ", ".join(catalog.METHODS), "| sequence methods:", ", ".join(catalog.SEQUENCE_METHODS))
            return 0
        if args.command == "experiment":
            from .experiments.cli import main as experiment_main
            return experiment_main(args, argv)
        if args.command == "describe":
            from .datasets import describe, load_dataset
            data = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed)
            describe(data, name=args.dataset, file=sys.stdout)
            return 0
        _check_names(args)
        return _fit(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        return _fail(str(exc))


def _check_names(args) -> None:
    """Unknown model / method names fail before torch is imported (the registry's error message)."""
    from . import catalog
    for kind, name, valid in (("model", args.model, catalog.MODELS + catalog.SEQUENCE_MODELS),
                              ("method", args.method, catalog.METHODS + catalog.SEQUENCE_METHODS)):
        if name.lower() not in valid:
            raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def _fit(args) -> int:
    from .api import fit
    options = dict(args.option)
    for name in ("lr", "l2", "batch_size", "eval_every", "patience"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    checkpoint_dir = args.checkpoint_dir
    if args.resume and checkpoint_dir is None:
        checkpoint_dir = os.path.join("runs", f"{args.dataset}_{args.model}_{args.method}_seed{args.seed}")
    if checkpoint_dir is not None:
        options["checkpoint_dir"] = checkpoint_dir
    if args.resume:
        options["resume"] = True
    is_main = True
    if args.distributed:
        from .distributed import init_from_env
        world = init_from_env(args.device)
        is_main = world.is_main
        options["distributed"] = True
    result = fit(args.dataset, args.model, args.method, epochs=args.epochs, device=args.device, seed=args.seed,
                 data_dir=args.data_dir, dataset_options=dict(args.dataset_option),
                 noisy_positives=args.noisy_positives, noisy_negatives=args.noisy_negatives,
                 show_progress=not args.quiet and is_main, **options)
    if not is_main:
        return 0
    print(f"\n{args.dataset} / {args.model} / {args.method}: best validation epoch {result.best_epoch}, "
          f"{result.seconds:.1f}s")
    print(_metrics_table(result.metrics))
    if args.out:
        result.save_json(args.out)
        print(f"wrote {args.out}")
    if args.save:
        result.save(args.save)
        print(f"wrote {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
