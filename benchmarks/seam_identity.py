r"""Bit-identity check of the method/trainer seam (issue 13): one short run of every registered
(backbone, method) pair on MovieLens-100K, written as a CSV with full float precision.

Graph task: every (model in ``MODELS``, method in ``METHODS``) pair plus a few option variants that
exercise the paths a redesign of the seam touches (TIL's held-out and other-batch outer objectives,
TIL-MI/MIK clusters from the first step, several negatives per positive). Sequence task: every
(model in ``SEQUENCE_MODELS``, method in ``SEQUENCE_METHODS``) pair, at a small size.
Seed 0, CPU, one thread. Usage (from the repository root, with the package importable)::

    GRAPHDENOISE_DATA=/path/to/datasets python benchmarks/seam_identity.py --out before.csv
    python benchmarks/seam_identity.py --compare before.csv after.csv

Every number of a row must be equal (``repr`` of the float) before and after a refactoring that
keeps the order of random draws and floating-point operations.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import torch

import graphdenoise
from graphdenoise.datasets import load_dataset

GRAPH_OPTIONS = dict(epochs=2, eval_every=2, batch_size=4096, patience=0, ks=(10, 20), monitor="recall@20",
                     embedding_dim=16)
GRAPH_METHOD_OPTIONS = {
    "til-mi": dict(pretrain_epochs=0, num_clusters=8, refresh_every=3, kmeans_iters=3),
    "til-mik": dict(pretrain_epochs=0, num_clusters=8, refresh_every=3, kmeans_iters=3),
    "pris": dict(num_clusters=4),
    "tce": dict(num_gradual=10),
    "tce-bpr": dict(num_gradual=10),
}
GRAPH_VARIANTS = [  # (method, label, extra options), run on every backbone
    ("til-ui", "til-ui[outer=holdout]", dict(outer="holdout", holdout_fraction=0.1)),
    ("til-ui", "til-ui[outer=other-batch]", dict(outer="other-batch")),
    ("bpr", "bpr[num_negatives=3]", dict(num_negatives=3)),
    ("bod", "bod[outer_every=3]", dict(outer_every=3, weight_on="score")),
]
SEQUENCE_OPTIONS = dict(epochs=1, batch_size=2048, eval_batch_size=1024, patience=0, max_len=5,
                        eval_negatives=20, embedding_dim=8)
SEQUENCE_METHOD_OPTIONS = {
    "atjt": dict(recognizer_embedding_dim=8, diagnostic_samples=256),
    "atjt-wat": dict(recognizer_embedding_dim=8, diagnostic_samples=256),
    "atjt-dnr": dict(recognizer_embedding_dim=8, diagnostic_samples=256, pretrain_batch_size=2048),
}


def graph_runs():
    from graphdenoise.methods import METHODS
    from graphdenoise.models import MODELS
    for model in MODELS.names():
        for method in METHODS.names():
            if method in ("bsl",):  # methods added by the redesign have no "before"
                continue
            yield model, method, method, {**GRAPH_OPTIONS, **GRAPH_METHOD_OPTIONS.get(method, {})}
        for method, label, extra in GRAPH_VARIANTS:
            yield model, method, label, {**GRAPH_OPTIONS, **GRAPH_METHOD_OPTIONS.get(method, {}), **extra}


def sequence_runs():
    from graphdenoise.sequential import SEQUENCE_METHODS, SEQUENCE_MODELS
    for model in SEQUENCE_MODELS.names():
        for method in SEQUENCE_METHODS.names():
            yield model, method, method, {**SEQUENCE_OPTIONS, **SEQUENCE_METHOD_OPTIONS.get(method, {})}


def flatten(result) -> dict:
    row = {}
    for split, metrics in result.metrics.items():
        for key, value in metrics.items():
            row[f"{split}/{key}"] = repr(float(value))
    for record in result.history:
        for key, value in record.items():
            if key in ("seconds", "epoch") or not isinstance(value, (int, float)):
                continue
            row[f"epoch{record['epoch']}/{key}"] = repr(float(value))
    row["final_loss"] = repr(float(result.history[-1]["loss"]))
    return row


def run(args) -> None:
    torch.set_num_threads(1)
    graph = load_dataset("ml-100k", data_dir=args.data_dir, seed=0)
    sequential = load_dataset("ml-100k", data_dir=args.data_dir, seed=0, rating_threshold=None)
    rows = []
    tasks = [("graph", graph, graph_runs()), ("sequence", sequential, sequence_runs())]
    for task, data, runs in tasks:
        for model, method, label, options in runs:
            if args.only and args.only not in f"{task}/{model}/{label}":
                continue
            start = time.perf_counter()
            result = graphdenoise.fit(data, model=model, method=method, seed=0, device="cpu", **options)
            rows.append({"task": task, "model": model, "method": label, **flatten(result)})
            print(f"{task:8s} {model:9s} {label:28s} loss {rows[-1]['final_loss']}  "
                  f"({time.perf_counter() - start:.1f}s)", flush=True)
    columns = ["task", "model", "method"] + sorted({k for r in rows for k in r} - {"task", "model", "method"})
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)


def compare(before_path: str, after_path: str) -> int:
    def read(path):
        with open(path, newline="") as handle:
            return {(r["task"], r["model"], r["method"]): r for r in csv.DictReader(handle)}

    before, after = read(before_path), read(after_path)
    bad = 0
    for key, row in before.items():
        other = after.get(key)
        if other is None:
            print("missing after:", key)
            bad += 1
            continue
        # every number recorded before must be the same; columns recorded only after (new logs) are listed
        diffs = [c for c in row if c not in ("task", "model", "method") and row[c] and row[c] != other.get(c, "")]
        added = sorted(c for c in other if other[c] and not row.get(c))
        verdict = "identical" if not diffs else "DIFFERS in " + ", ".join(diffs)
        print(f"{'/'.join(key):45s} {verdict}{'  (new: ' + ', '.join(added) + ')' if added else ''}")
        bad += bool(diffs)
    print(f"{len(before) - bad} of {len(before)} runs bit-identical")
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--out", default="seam_identity.csv")
    parser.add_argument("--only", default=None, help="run only labels containing this text")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
