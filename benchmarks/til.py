r"""TIL: overhead per epoch against BPR, and quality at equal budget beside a TUNED BPR control.

Part 1 (``--overhead``): seconds per epoch of ``til-ui`` and ``til-mi`` divided by ``bpr``'s, same
backbone and data, one process (default Gowalla, MF and LightGCN). Goal: at most 2x.

Part 2 (``--quality``): on each dataset, plain BPR's learning rate and L2 are chosen on validation
Recall@20 (grid below, or ``--trials`` Optuna trials; mean over seeds) by the experiment runner's
protocol (:func:`graphdenoise.experiments.run_experiment`, cells stored in ``--out``); every TIL
variant then runs with those settings, at the same
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
import math
import os
import statistics
import time
from pathlib import Path

import torch

from graphdenoise.datasets import load_dataset
from graphdenoise.experiments import Budget, DatasetSpec, ExperimentSpec, NoiseSpec, mean_std, run_experiment
from graphdenoise.experiments.spec import freeze_options
from graphdenoise.experiments.store import write_csv
from graphdenoise.methods import METHODS
from graphdenoise.models import MODELS
from graphdenoise.train import Trainer, TrainerConfig
from graphdenoise.utils import seed_everything

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


def quality_spec(args, dataset: str, noise) -> ExperimentSpec:
    """The runner's protocol: BPR tuned on validation (mean over every seed), each TIL variant a labelled group."""
    seeds = tuple(int(s) for s in args.seeds.split(","))
    budget = Budget("til-quality", epochs=args.epochs, eval_every=args.eval_every, patience=args.patience, seeds=seeds,
                    lrs=tuple(args.lrs), l2s=tuple(args.l2s), batch_size=args.batch_size, tune_seeds=len(seeds),
                    trials=args.trials)
    chosen = [(name, method, freeze_options(extra)) for name, (method, extra) in VARIANTS.items()
              if name in args.variants.split(",")]
    analysis = {method: "noise-roc" for _, method, _ in chosen} if noise is not None else {}
    return ExperimentSpec("til-quality", (DatasetSpec(dataset),), (args.model,), (), budget, noises=(noise,),
                          configurations=tuple(chosen), analysis=analysis)


def quality_row(run, group, base: float) -> dict:
    """Test metrics (mean ± std over seeds), s / epoch, the last weight statistics and the noise AUCs."""
    finals = run.final_rows(group)
    details = [run.store.details(cell) for cell in run.final_cells(group) if run.row(cell).get("status") == "ok"]
    rec = mean_std([r["test_recall@20"] for r in finals])
    ndcg = mean_std([r["test_ndcg@20"] for r in finals])
    last = details[0]["history"][-1] if details else {}
    analyses = [d["analysis"] for d in details if d.get("analysis")]
    auc = {key: statistics.mean(a[key] for a in analyses) if analyses else float("nan")
           for key in ("weight_auc", "margin_auc")}
    lr, l2, _ = run.selections[group]
    return {"dataset": group.dataset.label, "setting": "clean" if group.noise is None else group.noise.label,
            "model": group.backbone, "method": "bpr (tuned)" if group.method == "bpr" else group.label,
            "recall@20": rec[0], "recall@20_std": rec[1], "ndcg@20": ndcg[0], "ndcg@20_std": ndcg[1],
            "rel_vs_bpr": rec[0] / base - 1 if base else float("nan"),
            "sec_per_epoch": mean_std([r["sec_per_epoch"] for r in finals])[0],
            "weight_mean": last.get("weight_mean", float("nan")), "weight_std": last.get("weight_std", float("nan")),
            "weight_above_0.99": last.get("weight_frac_above_0.99", float("nan")),
            "weight_auc": auc["weight_auc"], "margin_auc": auc["margin_auc"],
            "epochs_run": mean_std([r["epochs_run"] for r in finals])[0], "lr": lr, "l2": l2, "seeds": len(finals)}


def quality(args):
    rows = []
    for dataset in args.datasets.split(","):
        for noise in [None] + ([NoiseSpec("pos", args.noise)] if args.noise > 0 else []):
            spec = quality_spec(args, dataset, noise)
            run = run_experiment(spec, args.out, data_dir=args.data_dir, device="cpu", log=None)
            groups = run.groups()
            base = mean_std([r["test_recall@20"] for r in run.final_rows(groups[0])])[0]
            print(f"\n{dataset} / {args.model} / {'clean' if noise is None else noise.label}: "
                  f"{run.selection_source[groups[0]]}, lr={run.selections[groups[0]][0]:g} "
                  f"l2={run.selections[groups[0]][1]:g}; {spec.budget.describe()}")
            print(f"{'method':<22}{'R@20 test':>16}{'N@20 test':>16}{'vs bpr':>8}{'s/epoch':>8}"
                  f"{'w mean':>8}{'w std':>7}{'>0.99':>7}{'AUC w':>7}{'AUC m':>7}")
            for group in groups:
                row = quality_row(run, group, base)
                rows.append(row)
                print(f"{row['method']:<22}{row['recall@20']:>9.4f}±{row['recall@20_std']:.4f}{row['ndcg@20']:>9.4f}"
                      f"±{row['ndcg@20_std']:.4f}{row['rel_vs_bpr']:>+8.1%}{row['sec_per_epoch']:>8.2f}"
                      f"{row['weight_mean']:>8.3f}{row['weight_std']:>7.3f}{row['weight_above_0.99']:>7.2f}"
                      f"{row['weight_auc']:>7.3f}{row['margin_auc']:>7.3f}", flush=True)
    if args.csv and rows:
        write_csv(Path(args.csv), rows, list(rows[0]))


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
    parser.add_argument("--trials", type=int, default=0, help="Optuna trials for BPR instead of the grid (0: grid)")
    parser.add_argument("--out", default="til_quality", help="results folder of the runner (cells are reused)")
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
