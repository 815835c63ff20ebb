r"""TIL: overhead per epoch against BPR, and quality at equal budget beside a TUNED BPR control.

Part 1 (``--overhead``): seconds per epoch of ``til-ui`` and ``til-mi`` divided by ``bpr``'s, same
backbone and data, one process (default Gowalla, MF and LightGCN). Goal: at most 2x.

Part 2 (``--quality``): on each dataset, plain BPR's learning rate and L2 are chosen on validation
Recall@20 (grid below, mean over seeds); every TIL variant then runs with those settings, at the same
epoch budget and seeds, clean and with ``--noise`` injected noisy positives. Reported: test
Recall@20 / NDCG@20 mean ± std over seeds, relative change vs the tuned BPR, the final weight
statistics (mean, std, share above 0.99: saturation) and, under noise, the AUC of the weights and
of the score margin at finding the injected triplets. Test metrics never choose anything.

Usage::

    python benchmarks/til.py --overhead --data-dir ../shared/datasets [--recipe authors-code]
    python benchmarks/til.py --quality --datasets lastfm,amazon-cd --epochs 40 --seeds 0,1,2 --csv til.csv
"""
from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import graphdenoise  # noqa: E402
from graphdenoise.datasets import load_dataset  # noqa: E402
from graphdenoise.datasets.noise import AddNoisyPositives  # noqa: E402
from graphdenoise.experiments import mean_std, select_on_validation  # noqa: E402
from graphdenoise.methods import METHODS  # noqa: E402
from graphdenoise.metrics import noise_detection_auc  # noqa: E402
from graphdenoise.models import MODELS  # noqa: E402
from graphdenoise.train import Trainer, TrainerConfig  # noqa: E402
from graphdenoise.utils import seed_everything  # noqa: E402

VARIANTS = {
    "til-ui": ("til-ui", {}),
    "til-ui/other": ("til-ui", {"outer": "other-batch"}),
    "til-ui/holdout": ("til-ui", {"outer": "holdout"}),
    "til-ui/holdout+norm": ("til-ui", {"outer": "holdout", "normalize_weights": True}),
    "til-mi": ("til-mi", {}),
    "til-mi/holdout+norm": ("til-mi", {"outer": "holdout", "normalize_weights": True}),
    # the authors' code's dynamics (issue 17); til-mi's warm-up is scaled to the budget like the paper's
    "til-ui/authors-code": ("til-ui", {"recipe": "authors-code"}),
    "til-mi/authors-code": ("til-mi", {"recipe": "authors-code"}),
}


def overhead(args):
    data = load_dataset(args.overhead_dataset, data_dir=args.data_dir)
    print(f"overhead on {args.overhead_dataset}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}; one warm-up epoch each, then the best of {args.repeats} epochs, interleaved")
    print(f"{'model':<10}{'bpr s':>8}{'til-ui s':>10}{'ratio':>7}{'til-mi s':>10}{'ratio':>7}")
    methods = ("bpr", "til-ui", "til-mi")
    for model in args.models.split(","):
        trainers = {}
        for method in methods:
            seed_everything(0)
            options = {} if method == "bpr" else {"recipe": args.recipe}
            if method == "til-mi":
                options["pretrain_epochs"] = 0
            method_obj = METHODS.get(method)(**options)
            trainers[method] = Trainer(MODELS.get(model)(data), method_obj, data,
                                       TrainerConfig(batch_size=5000, show_progress=False, device="cpu"))
            trainers[method].train_epoch()  # warm-up (and TIL-MI's cluster initialisation)
        times = {method: math.inf for method in methods}
        for _ in range(args.repeats):
            for method in methods:
                start = time.perf_counter()
                trainers[method].train_epoch()
                times[method] = min(times[method], time.perf_counter() - start)
        print(f"{model:<10}{times['bpr']:>8.2f}{times['til-ui']:>10.2f}{times['til-ui'] / times['bpr']:>7.2f}"
              f"{times['til-mi']:>10.2f}{times['til-mi'] / times['bpr']:>7.2f}", flush=True)


def quality(args):
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for dataset in args.datasets.split(","):
        clean = load_dataset(dataset, data_dir=args.data_dir)
        settings = [("clean", clean)]
        if args.noise > 0:
            settings.append((f"noisy-pos {args.noise}", AddNoisyPositives(args.noise, seed=0)(clean.clone())))
        for setting, data in settings:
            common = dict(model=args.model, epochs=args.epochs, eval_every=args.eval_every, patience=args.patience,
                          batch_size=args.batch_size)
            grid = {}
            for lr, l2 in itertools.product(args.lrs, args.l2s):
                runs = [graphdenoise.fit(data, method="bpr", seed=s, lr=lr, l2=l2, **common) for s in seeds]
                grid[(lr, l2)] = runs
            best = select_on_validation({key: [r.metrics["val"]["recall@20"] for r in runs]
                                         for key, runs in grid.items()})
            results = {"bpr (tuned)": grid[best]}
            for name, (method, extra) in VARIANTS.items():
                if name not in args.variants.split(","):
                    continue
                opts = dict(extra)
                if method == "til-mi":
                    opts.setdefault("pretrain_epochs", max(1, args.epochs // 6))
                results[name] = [graphdenoise.fit(data, method=method, seed=s, lr=best[0], l2=best[1], **common, **opts)
                                 for s in seeds]
            base = statistics.mean(r.metrics["test"]["recall@20"] for r in results["bpr (tuned)"])
            print(f"\n{dataset} / {args.model} / {setting}: tuned bpr lr={best[0]} l2={best[1]}; "
                  f"{args.epochs} epochs max, seeds {seeds}")
            print(f"{'method':<22}{'R@20 test':>16}{'N@20 test':>16}{'vs bpr':>8}{'s/epoch':>8}"
                  f"{'w mean':>8}{'w std':>7}{'>0.99':>7}{'AUC w':>7}{'AUC m':>7}")
            for name, runs in results.items():
                rec = mean_std([r.metrics["test"]["recall@20"] for r in runs])
                ndcg = mean_std([r.metrics["test"]["ndcg@20"] for r in runs])
                sec = statistics.mean(statistics.mean(h["seconds"] for h in r.history) for r in runs)
                last = runs[0].history[-1]
                auc_w = auc_m = float("nan")
                if setting != "clean":
                    reports = [noise_detection_auc(r.method, r.model, data) for r in runs]
                    auc_w = statistics.mean(rep["weight_auc"] for rep in reports)
                    auc_m = statistics.mean(rep["margin_auc"] for rep in reports)
                row = {"dataset": dataset, "setting": setting, "model": args.model, "method": name,
                       "recall@20": rec[0], "recall@20_std": rec[1], "ndcg@20": ndcg[0], "ndcg@20_std": ndcg[1],
                       "rel_vs_bpr": rec[0] / base - 1, "sec_per_epoch": sec,
                       "weight_mean": last.get("weight_mean", float("nan")),
                       "weight_std": last.get("weight_std", float("nan")),
                       "weight_above_0.99": last.get("weight_frac_above_0.99", float("nan")),
                       "weight_auc": auc_w, "margin_auc": auc_m, "epochs_run": statistics.mean(len(r.history) for r in runs),
                       "lr": best[0], "l2": best[1], "seeds": len(seeds)}
                rows.append(row)
                print(f"{name:<22}{rec[0]:>9.4f}±{rec[1]:.4f}{ndcg[0]:>9.4f}±{ndcg[1]:.4f}{row['rel_vs_bpr']:>+8.1%}"
                      f"{sec:>8.2f}{row['weight_mean']:>8.3f}{row['weight_std']:>7.3f}{row['weight_above_0.99']:>7.2f}"
                      f"{auc_w:>7.3f}{auc_m:>7.3f}", flush=True)
    if args.csv:
        with open(args.csv + ".tmp", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(args.csv + ".tmp", args.csv)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--overhead-dataset", default="gowalla")
    parser.add_argument("--models", default="mf,lightgcn")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per method (best is kept)")
    parser.add_argument("--recipe", default="paper", help="TIL recipe of --overhead: paper or authors-code")
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--datasets", default="lastfm,amazon-cd")
    parser.add_argument("--model", default="mf")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 5e-3, 1e-2])
    parser.add_argument("--l2s", type=float, nargs="+", default=[1e-4])
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.overhead or args.quality):
        parser.error("choose --overhead and/or --quality")
    if args.overhead:
        overhead(args)
    if args.quality:
        quality(args)


if __name__ == "__main__":
    main()
