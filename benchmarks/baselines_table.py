r"""The denoising baselines beside a TUNED plain-BPR control, as in Table 1 of the TIL paper.

Runs ``bpr`` (an lr x L2 grid, or ``--trials`` Optuna trials, chosen on VALIDATION Recall@20: the
tuned control) and every baseline method (``wbpr``, ``aobpr``, ``pris``, ``tce``, ``rce``,
``tce-bpr``, ``rce-bpr``, ``bod``) on one backbone (default MF) and dataset (default Last.fm), at the
same epochs and seeds; the baselines use the control's tuned lr / L2 (or, with ``--tune-all``, are
tuned the same way each) and their own paper defaults otherwise. The protocol is the experiment
runner's (:func:`graphdenoise.experiments.run_experiment`): the search uses the first seed, the
choice then runs on every seed; cells are stored in ``--out`` and reused on re-runs.

Prints one table, methods as columns: validation and test Recall@20 / NDCG@20 (mean, and standard
deviation over seeds when there are several) and seconds per training epoch; ``--out`` holds one CSV
row per run (``cells.csv``, grid runs included) and ``baselines.csv`` with each run's role.

Usage (the data folder holds the raw files, see ``../shared/datasets/README.md``)::

    python benchmarks/baselines_table.py --data-dir ../shared/datasets --epochs 100 --seeds 0 1 2
    python benchmarks/baselines_table.py --dataset synthetic --epochs 2 --bpr-lr 1e-3 --bpr-l2 1e-4
    python benchmarks/baselines_table.py --noise pos --noise-ratio 0.2 --set tce.drop_rate=0.1
    python benchmarks/baselines_table.py --dataset ml-100k --methods tce --trials 8 --tune-all
"""
from __future__ import annotations

import argparse
import ast
import os
import statistics
from typing import Dict, List

import torch

from graphdenoise.experiments import Budget, DatasetSpec, ExperimentSpec, NoiseSpec, run_experiment
from graphdenoise.experiments.spec import freeze_options

BASELINES = ["wbpr", "aobpr", "pris", "tce", "rce", "tce-bpr", "rce-bpr", "bod"]
ROWS = [("val_recall@20", "val Recall@20"), ("val_ndcg@20", "val NDCG@20"), ("test_recall@20", "test Recall@20"),
        ("test_ndcg@20", "test NDCG@20"), ("sec_per_epoch", "s / epoch")]


def parse_sets(items: List[str]) -> Dict[str, Dict[str, object]]:
    """``["tce.drop_rate=0.1", ...]`` -> ``{"tce": {"drop_rate": 0.1}}`` (values as Python literals)."""
    out: Dict[str, Dict[str, object]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set expects METHOD.OPTION=VALUE, got {item!r}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(method.lower(), {})[name] = value
    return out


def format_table(columns: Dict[str, List[Dict[str, object]]]) -> str:
    """Methods as columns, the ROWS metrics as rows: mean (± std over seeds when there are several)."""
    cells = {}
    for name, rows in columns.items():
        for key, _ in ROWS:
            values = [float(r[key]) for r in rows]
            digits = 2 if key == "sec_per_epoch" else 4
            text = f"{statistics.fmean(values):.{digits}f}" if values else "failed"
            if len(values) > 1:
                text += f"±{statistics.stdev(values):.{digits}f}"
            cells[name, key] = text
    width = max(12, *(len(c) for c in cells.values())) + 1
    head = f"{'':16s}" + "".join(f"{c:>{width}s}" for c in columns)
    lines = [head, "-" * len(head)]
    for key, label in ROWS:
        lines.append(f"{label:16s}" + "".join(f"{cells[c, key]:>{width}s}" for c in columns))
    return "\n".join(lines)


def make_spec(args) -> ExperimentSpec:
    method_options = parse_sets(args.set)
    unknown = sorted(set(method_options) - set(args.methods) - {"bpr"})
    if unknown:
        raise SystemExit(f"--set names method(s) {unknown} that are not run")
    dataset_options = parse_sets([f"d.{o}" for o in args.dataset_option]).get("d", {})
    budget = Budget("baselines", epochs=args.epochs, eval_every=args.eval_every, patience=args.patience,
                    seeds=tuple(args.seeds), lrs=tuple(args.bpr_lr), l2s=tuple(args.bpr_l2), tune_all=args.tune_all,
                    batch_size=args.batch_size, trials=args.trials)
    noise = NoiseSpec(args.noise, args.noise_ratio) if args.noise else None
    return ExperimentSpec("baselines", (DatasetSpec(args.dataset, dataset_options),), (args.model,),
                          tuple(args.methods), budget, noises=(noise,),
                          method_options=tuple((m, freeze_options(o)) for m, o in method_options.items()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="lastfm")
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"),
                        help="folder of raw files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--root", default=None, help="processed-dataset cache (default: the dataset's)")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to load_dataset, e.g. num_users=200 for synthetic")
    parser.add_argument("--noise", default=None, choices=["pos", "neg", "posneg"])
    parser.add_argument("--noise-ratio", type=float, default=0.2)
    parser.add_argument("--model", default="mf")
    parser.add_argument("--methods", nargs="+", default=BASELINES)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--bpr-lr", type=float, nargs="+", default=[1e-3, 5e-3], help="the lr grid")
    parser.add_argument("--bpr-l2", type=float, nargs="+", default=[1e-4, 1e-3], help="the L2 grid")
    parser.add_argument("--trials", type=int, default=0, help="Optuna trials instead of the grid (0: grid)")
    parser.add_argument("--tune-all", action="store_true",
                        help="tune every method the same way (default: the baselines reuse the tuned BPR's lr and L2)")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.OPTION=VALUE",
                        help="a method option, e.g. tce.drop_rate=0.1 (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="baselines_table", help="results folder (cells are reused on re-runs)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = make_spec(args)
    run = run_experiment(spec, args.out, data_dir=args.data_dir, device=args.device, root=args.root,
                         log=None if args.quiet else print)
    columns = {}
    for group in run.groups():
        lr, l2, extra = run.selections[group]
        name = ("bpr (tuned)" if group.method == "bpr" else group.label)
        columns[name] = run.final_rows(group)
        print(f"{name}: lr={lr:g} l2={l2:g} {dict(extra) or ''} ({run.selection_source[group]})")
    print(f"\n{args.dataset}, {args.model}, {args.epochs} epochs, seeds {args.seeds}"
          + (f", noise {args.noise} {args.noise_ratio}" if args.noise else "") + f"; {spec.budget.describe()}\n")
    print(format_table(columns))
    print(f"\nrows in {args.out}/cells.csv and {args.out}/baselines.csv")


if __name__ == "__main__":
    main()
