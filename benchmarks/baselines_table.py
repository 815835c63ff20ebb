r"""The denoising baselines beside a TUNED plain-BPR control, as in Table 1 of the TIL paper.

Runs ``bpr`` (an lr x L2 grid, the best cell chosen on VALIDATION Recall@20: the tuned control) and
every baseline method (``wbpr``, ``aobpr``, ``pris``, ``tce``, ``rce``, ``tce-bpr``, ``rce-bpr``,
``bod``) on one backbone (default MF) and dataset (default Last.fm), at the same epochs and seeds; the
baselines use the control's tuned lr / L2 (or, with ``--tune-all``, search the same grid each) and
their own paper defaults otherwise. Model selection is
the trainer's: validation only, with the test split evaluated once for the selected state.

Prints one table per seed set, methods as columns: validation and test Recall@20 / NDCG@20 (mean,
and standard deviation over seeds when there are several) and seconds per training epoch; writes
one CSV row per (method, seed, lr, L2) run, grid runs included.

Usage (the data folder holds the raw files, see ``../shared/datasets/README.md``)::

    python benchmarks/baselines_table.py --data-dir ../shared/datasets --epochs 100 --seeds 0 1 2
    python benchmarks/baselines_table.py --dataset synthetic --epochs 2 --bpr-lr 1e-3 --bpr-l2 1e-4
    python benchmarks/baselines_table.py --noise pos --noise-ratio 0.2 --set tce.drop_rate=0.1
"""
from __future__ import annotations

import argparse
import ast
import csv
import os
import statistics
import sys
import time
from typing import Dict, List

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from graphdenoise.api import fit  # noqa: E402
from graphdenoise.datasets import load_dataset  # noqa: E402

BASELINES = ["wbpr", "aobpr", "pris", "tce", "rce", "tce-bpr", "rce-bpr", "bod"]
ROWS = [("val/recall@20", "val Recall@20"), ("val/ndcg@20", "val NDCG@20"), ("test/recall@20", "test Recall@20"),
        ("test/ndcg@20", "test NDCG@20"), ("sec_per_epoch", "s / epoch")]


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


def run(data, method: str, args, seed: int, lr: float, l2: float, options: Dict[str, object]) -> Dict[str, object]:
    start = time.perf_counter()
    result = fit(dataset=data, model=args.model, method=method, epochs=args.epochs, seed=seed, device=args.device,
                 lr=lr, l2=l2, batch_size=args.batch_size, eval_every=args.eval_every, patience=args.patience,
                 show_progress=args.progress, **options)
    seconds = [r["seconds"] for r in result.history]
    row = {"method": method, "seed": seed, "lr": lr, "l2": l2, "model": args.model, "dataset": args.dataset,
           "epochs_run": len(result.history), "best_epoch": result.best_epoch,
           "sec_per_epoch": sum(seconds) / len(seconds), "total_seconds": time.perf_counter() - start,
           "threads": torch.get_num_threads(), "options": repr(options)}
    for split in ("val", "test"):
        for metric in ("recall@20", "ndcg@20"):
            row[f"{split}/{metric}"] = result.metrics[split][metric]
    return row


def tune(data, method: str, args, seed: int, options: Dict[str, object], rows: List[Dict[str, object]]):
    """Runs ``method`` on the lr x L2 grid, appends every run to ``rows``, returns the best on
    VALIDATION Recall@20 (never test)."""
    grid = []
    for lr in args.bpr_lr:
        for l2 in args.bpr_l2:
            row = run(data, method, args, seed, lr, l2, options)
            row["column"] = f"{method} lr={lr:g} l2={l2:g}"
            grid.append(row)
            print(f"seed {seed}  {method} lr={lr:g} l2={l2:g}  val Recall@20 {row['val/recall@20']:.4f}", flush=True)
    rows += grid
    return max(grid, key=lambda r: r["val/recall@20"])


def format_table(rows: List[Dict[str, object]], columns: List[str]) -> str:
    cells = {}
    for name in columns:
        chosen = [r for r in rows if r["column"] == name]
        for key, _ in ROWS:
            values = [float(r[key]) for r in chosen]
            mean = statistics.fmean(values)
            digits = 2 if key == "sec_per_epoch" else 4
            text = f"{mean:.{digits}f}"
            if len(values) > 1:
                text += f"±{statistics.stdev(values):.{digits}f}"
            cells[name, key] = text
    width = max(12, *(len(c) for c in cells.values())) + 1
    head = f"{'':16s}" + "".join(f"{c:>{width}s}" for c in columns)
    lines = [head, "-" * len(head)]
    for key, label in ROWS:
        lines.append(f"{label:16s}" + "".join(f"{cells[c, key]:>{width}s}" for c in columns))
    return "\n".join(lines)


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
    parser.add_argument("--noise-ratio", type=float, default=None)
    parser.add_argument("--model", default="mf")
    parser.add_argument("--methods", nargs="+", default=BASELINES)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--bpr-lr", type=float, nargs="+", default=[1e-3, 5e-3], help="the lr grid")
    parser.add_argument("--bpr-l2", type=float, nargs="+", default=[1e-4, 1e-3], help="the L2 grid")
    parser.add_argument("--tune-all", action="store_true",
                        help="search the same lr x L2 grid for every method (default: the baselines reuse the "
                             "tuned BPR's lr and L2)")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.OPTION=VALUE",
                        help="a method option, e.g. tce.drop_rate=0.1 (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="baselines_table.csv")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    method_options = parse_sets(args.set)
    unknown = sorted(set(method_options) - set(args.methods) - {"bpr"})
    if unknown:
        raise SystemExit(f"--set names method(s) {unknown} that are not run")
    dataset_options = parse_sets([f"d.{o}" for o in args.dataset_option]).get("d", {})

    rows: List[Dict[str, object]] = []
    for seed in args.seeds:
        data = load_dataset(args.dataset, root=args.root, data_dir=args.data_dir, seed=seed, noise=args.noise,
                            noise_ratio=args.noise_ratio, **dataset_options)
        best = tune(data, "bpr", args, seed, method_options.get("bpr", {}), rows)
        rows.append(dict(best, column="bpr (tuned)"))
        for method in args.methods:
            if method == "bpr":
                continue
            if args.tune_all:
                row = dict(tune(data, method, args, seed, method_options.get(method, {}), rows), column=method)
            else:
                row = run(data, method, args, seed, best["lr"], best["l2"], method_options.get(method, {}))
                row["column"] = method
            rows.append(row)
            print(f"seed {seed}  {method:8s} val Recall@20 {row['val/recall@20']:.4f}  lr={row['lr']:g} "
                  f"l2={row['l2']:g}  {row['sec_per_epoch']:.2f}s/epoch", flush=True)

    columns = ["bpr (tuned)"] + [m for m in args.methods if m != "bpr"]
    print(f"\n{args.dataset}, {args.model}, {args.epochs} epochs, seeds {args.seeds}"
          + (f", noise {args.noise} {args.noise_ratio}" if args.noise else "")
          + f"; {'every method' if args.tune_all else 'bpr'} tuned over lr {args.bpr_lr} x l2 {args.bpr_l2} "
            f"on validation Recall@20, per seed\n")
    print(format_table(rows, columns))
    fields = ["column", "method", "seed", "lr", "l2", "model", "dataset", "epochs_run", "best_epoch",
              "val/recall@20", "val/ndcg@20", "test/recall@20", "test/ndcg@20", "sec_per_epoch", "total_seconds",
              "threads", "options"]
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
