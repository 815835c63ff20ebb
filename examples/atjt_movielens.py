r"""ATJT on MovieLens-100K: Wide & Deep, DIN and SASRec, each trained with plain BCE and with ATJT.

Reproduces the layout of Table 2 (AUC / HR@5 / NDCG@5 and the relative improvement "+RI" of
ATJT over the base model) and Table 5 (mean weight of clean vs randomly replaced sequences) of
"Enhancing Recommendation with Denoising Auxiliary Task" (Liu et al., JCST 2024), on MovieLens-100K
instead of MovieLens-20M. Every rating is an interaction (the paper counts every MovieLens-20M
rating as a sample); the sequential view re-splits each user's interactions by time
(leave-last-out by default; ``--split ratio`` for the paper's 4:1 per-user split).

Usage::

    python examples/atjt_movielens.py --data-dir /path/to/datasets --epochs 5 --seeds 0 1 2

``--data-dir`` (or ``$GRAPHDENOISE_DATA``) is a folder with ``ml-100k/u.data``; without either the
file is downloaded. Processed files go to ``--root`` (default: the loader's default folder).
Runs can be split over processes and summarised together::

    python examples/atjt_movielens.py --models din --seeds 0 --json din0.json
    python examples/atjt_movielens.py --models din --seeds 1 --json din1.json
    python examples/atjt_movielens.py --aggregate din0.json din1.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from graphdenoise.datasets import MovieLens100K
from graphdenoise.sequential import SequenceData, fit_sequence

METRICS = ("auc", "hr@5", "ndcg@5")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"),
                   help="folder with ml-100k/u.data (default: $GRAPHDENOISE_DATA, else download)")
    p.add_argument("--root", default=None, help="where processed files are written (default: loader default)")
    p.add_argument("--models", nargs="+", default=["widedeep", "din", "sasrec"])
    p.add_argument("--methods", nargs="+", default=["bce", "atjt"],
                   help="bce and/or atjt, atjt-wat, atjt-dnr; every other method is compared with bce")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--max-len", type=int, default=20)
    p.add_argument("--split", default="leave-last-out", choices=["leave-last-out", "ratio"])
    p.add_argument("--eval-negatives", type=int, default=99)
    p.add_argument("--num-groups", type=int, default=2)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--recognizer-lr", type=float, default=0.01)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", default=None, help="write every run's metrics and weights to this file")
    p.add_argument("--verbose", action="store_true", help="one line per epoch")
    p.add_argument("--aggregate", nargs="+", default=None, metavar="JSON",
                   help="do not train: summarise the runs of these --json files")
    return p.parse_args()


def mean_std(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main():
    args = parse_args()
    if args.aggregate:
        runs = []
        for path in args.aggregate:
            with open(path) as handle:
                saved = json.load(handle)
            runs += saved["runs"]
            args.epochs = saved["args"]["epochs"]
        order = {"widedeep": 0, "din": 1, "sasrec": 2, "bce": -1}
        args.methods = sorted(dict.fromkeys(r["method"] for r in runs), key=lambda m: order.get(m, 9))
        args.models = sorted(dict.fromkeys(r["model"] for r in runs), key=lambda m: order.get(m, 9))
        args.seeds = sorted({r["seed"] for r in runs})
        summarize(runs, args)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    data = MovieLens100K(root=args.root, data_dir=args.data_dir, rating_threshold=None, log=False)[0]
    runs = []
    for seed in args.seeds:
        view = SequenceData(data, max_len=args.max_len, split=args.split, eval_negatives=args.eval_negatives,
                            seed=seed)
        if seed == args.seeds[0]:
            print(view, flush=True)
        for model in args.models:
            for method in args.methods:
                options = dict(epochs=args.epochs, seed=seed, device=args.device, show_progress=args.verbose,
                               patience=args.patience, batch_size=args.batch_size)
                if method != "bce":
                    options.update(recognizer_lr=args.recognizer_lr)
                if method in ("atjt", "atjt-dnr"):
                    options.update(num_groups=args.num_groups)
                if method == "atjt":
                    options.update(alpha=args.alpha)
                start = time.perf_counter()
                result = fit_sequence(view, model, method, **options)
                run = {"seed": seed, "model": model, "method": method, "test": result.metrics["test"],
                       "val": result.metrics["val"], "best_epoch": result.best_epoch,
                       "seconds": time.perf_counter() - start,
                       "weights": dict(getattr(result.method, "weight_stats", {}) or {})}
                runs.append(run)
                t = run["test"]
                w = run["weights"]
                extra = f"  w clean/noisy {w['clean_mean']:.4f}/{w['noisy_mean']:.4f}" if w else ""
                print(f"seed {seed}  {model:8s} {method:9s} test AUC {t['auc']:.4f}  HR@5 {t['hr@5']:.4f}  "
                      f"NDCG@5 {t['ndcg@5']:.4f}  (best epoch {run['best_epoch']}, {run['seconds']:.0f}s){extra}",
                      flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "runs": runs}, handle, indent=2)
    summarize(runs, args)


def summarize(runs, args):
    print(f"\nTest metrics, mean ± std over seeds {args.seeds} ({args.epochs} epochs max, model selection "
          f"on validation AUC); +RI = relative improvement of the means over bce, paired = mean ± std over "
          f"seeds of the per-seed relative improvement")
    print(f"{'model':22s}" + "".join(f"{m:>22s}" for m in METRICS))
    for model in args.models:
        rows = {}
        for method in args.methods:
            by_seed = {r["seed"]: r for r in runs if r["model"] == model and r["method"] == method}
            if not by_seed:
                continue
            rows[method] = by_seed
            cells = "".join("{:>13.4f} ± {:.4f}".format(*mean_std([r["test"][m] for r in by_seed.values()]))
                            for m in METRICS)
            print(f"{model + ('' if method == 'bce' else '+' + method.upper()):22s}{cells}")
        for method in rows:
            if method == "bce" or "bce" not in rows:
                continue
            seeds = sorted(set(rows[method]) & set(rows["bce"]))
            ri, paired = "", ""
            for m in METRICS:
                base = mean_std([rows["bce"][s]["test"][m] for s in seeds])[0]
                ours = mean_std([rows[method][s]["test"][m] for s in seeds])[0]
                ri += f"{100 * (ours / base - 1):>+21.2f}%"
                mu, sd = mean_std([100 * (rows[method][s]["test"][m] / rows["bce"][s]["test"][m] - 1) for s in seeds])
                paired += f"{mu:>+13.2f}% ± {sd:.2f}"
            print(f"{'  +RI ' + method:22s}{ri}")
            print(f"{'  paired RI ' + method:22s}{paired}")
    weighted = [r for r in runs if r["weights"]]
    if weighted:
        print("\nMean weight w of the noise recognition model (the paper's Table 5), after the last epoch, on "
              "samples of the last round's recommender group: original (clean) vs one item replaced (noisy)")
        for model in args.models:
            for method in args.methods:
                ws = [r["weights"] for r in weighted if r["model"] == model and r["method"] == method]
                if ws:
                    c, n = mean_std([w["clean_mean"] for w in ws]), mean_std([w["noisy_mean"] for w in ws])
                    print(f"{model:10s} {method:9s} clean {c[0]:.4f} ± {c[1]:.4f}   noisy {n[0]:.4f} ± {n[1]:.4f}"
                          f"   (noisy {100 * (1 - n[0] / c[0]):.1f}% smaller)")


if __name__ == "__main__":
    main()
