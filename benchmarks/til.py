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

``--probe-test`` also records the test metrics at every evaluation (a trainer callback; nothing is
selected on them) and reports each run's best test Recall@20 and its epoch beside the validation-selected
one: the optimistic protocol that printing val and test at every evaluation (the authors' code) allows.
``--curves`` draws validation Recall@20 per evaluation (mean over seeds) for every variant.

Usage::

    python benchmarks/til.py --overhead --data-dir ../shared/datasets [--recipe authors-code]
    python benchmarks/til.py --overhead --threads 1 --batches 20 --repeats 5 --cpu-time   # a quick, loaded-machine check
    python benchmarks/til.py --quality --datasets lastfm,amazon-cd --epochs 40 --seeds 0,1,2 --csv til.csv
    python benchmarks/til.py --quality --datasets lastfm --epochs 300 --patience 6 --noise 0 --tune-seeds 1 \
        --variants til-ui,til-ui/authors-code,til-mi,til-mi/authors-code --probe-test --curves curves.png
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import time
from pathlib import Path

import torch

from graphdenoise.datasets import load_dataset
from graphdenoise.experiments import Budget, DatasetSpec, ExperimentSpec, NoiseSpec, mean_std, run_experiment
from graphdenoise.experiments.spec import freeze_options
from graphdenoise.experiments.figures import lines
from graphdenoise.experiments.store import write_csv
from graphdenoise.metrics.ranking import RankingEvaluator
from graphdenoise.methods import METHODS
from graphdenoise.models import MODELS
from graphdenoise.train import Trainer, TrainerConfig
from graphdenoise.utils import flush_denormals, seed_everything

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
    unit = f"the first {args.batches} batches" if args.batches else "epochs"
    clock = time.thread_time if args.cpu_time else time.perf_counter
    print(f"overhead on {args.overhead_dataset}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}; one warm-up epoch each, then the best of {args.repeats} {unit}, interleaved"
          f"{' (thread CPU time)' if args.cpu_time else ''}")
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
        # --batches: a slice drawn once (the sampler's epoch set-up is not timed), stepped again per repeat
        slices = {method: list(itertools.islice(trainer.batches(), args.batches)) if args.batches else None
                  for method, trainer in trainers.items()}
        times = {method: math.inf for method in methods}
        for _ in range(args.repeats):
            for method in methods:
                start = clock()
                run_slice(trainers[method], slices[method])
                times[method] = min(times[method], clock() - start)
        print(f"{model:<10}{times['bpr']:>8.2f}{times['til-ui']:>10.2f}{times['til-ui'] / times['bpr']:>7.2f}"
              f"{times['til-mi']:>10.2f}{times['til-mi'] / times['bpr']:>7.2f}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def run_slice(trainer, batches) -> None:
    """One epoch, or the optimisation steps of the drawn ``batches`` (None: the whole epoch)."""
    if batches is None:
        trainer.train_epoch()
        return
    trainer.model.train()
    trainer.method.train()
    for batch, ctx in batches:
        trainer.optimisation_step(batch, ctx)


class TestProbe:
    """Trainer callback: the test metrics at every evaluation, as ``probe_test/<metric>`` history entries.
    For the optimistic-protocol column only; model selection never reads them."""

    def __init__(self, data):
        self.evaluator = RankingEvaluator(data, ks=(20,))

    def attach(self, modules, config):
        self.model = modules["model"]

    def __call__(self, epoch, record):
        if "val/recall@20" in record:
            record.update({f"probe_test/{k}": v for k, v in self.evaluator.evaluate(self.model, "test").items()})


def optimistic(details) -> dict:
    """Best test Recall@20 over the evaluations of one run (and its epoch, NDCG@20 there); empty without probe."""
    probed = [h for h in details["history"] if "probe_test/recall@20" in h]
    if not probed:
        return {}
    best = max(probed, key=lambda h: h["probe_test/recall@20"])
    return {"recall": best["probe_test/recall@20"], "ndcg": best["probe_test/ndcg@20"], "epoch": best["epoch"]}


def paired_gap(rows, base_rows, key="test_recall@20"):
    """``(method - bpr) / bpr`` per seed, mean ± std over the seeds both have."""
    base = {r["seed"]: r[key] for r in base_rows}
    return mean_std([r[key] / base[r["seed"]] - 1 for r in rows if r["seed"] in base])


def quality_spec(args, dataset: str, noise) -> ExperimentSpec:
    """The runner's protocol: BPR tuned on validation (mean over every seed), each TIL variant a labelled group."""
    seeds = tuple(int(s) for s in args.seeds.split(","))
    budget = Budget("til-quality", epochs=args.epochs, eval_every=args.eval_every, patience=args.patience, seeds=seeds,
                    lrs=tuple(args.lrs), l2s=tuple(args.l2s), batch_size=args.batch_size,
                    tune_seeds=args.tune_seeds or len(seeds),
                    trials=args.trials)
    chosen = [(name, method, freeze_options(extra)) for name, (method, extra) in VARIANTS.items()
              if name in args.variants.split(",")]
    analysis = {method: "noise-roc" for _, method, _ in chosen} if noise is not None else {}
    options = {"split": args.split} if args.split else {}
    return ExperimentSpec("til-quality", (DatasetSpec(dataset, options),), (args.model,), (), budget, noises=(noise,),
                          configurations=tuple(chosen), analysis=analysis)


def quality_row(run, group, base_group) -> dict:
    """Test metrics (mean ± std over seeds), the gap to BPR paired by seed, best epochs, s / epoch, the
    last weight statistics, the noise AUCs and (with ``--probe-test``) the optimistic best-test numbers."""
    finals, base_rows = run.final_rows(group), run.final_rows(base_group)
    details = [run.store.details(cell) for cell in run.final_cells(group) if run.row(cell).get("status") == "ok"]
    base_details = [run.store.details(cell) for cell in run.final_cells(base_group)
                    if run.row(cell).get("status") == "ok"]
    best = [optimistic(d) for d in details]
    best_base = {d["cell"]["seed"]: optimistic(d).get("recall") for d in base_details}
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
            "rel_vs_bpr": paired_gap(finals, base_rows)[0], "rel_vs_bpr_std": paired_gap(finals, base_rows)[1],
            "best_epochs": " ".join(str(r["best_epoch"]) for r in finals),
            "epochs_run_each": " ".join(str(r["epochs_run"]) for r in finals),
            "val_recall@20": mean_std([r["val_recall@20"] for r in finals])[0],
            "opt_test_recall@20": mean_std([b["recall"] for b in best if b])[0] if any(best) else float("nan"),
            "opt_test_recall@20_std": mean_std([b["recall"] for b in best if b])[1] if any(best) else float("nan"),
            "opt_test_ndcg@20": mean_std([b["ndcg"] for b in best if b])[0] if any(best) else float("nan"),
            "opt_epochs": " ".join(str(b["epoch"]) for b in best if b),
            "opt_rel_vs_bpr": mean_std([b["recall"] / best_base[d["cell"]["seed"]] - 1 for b, d in zip(best, details)
                                        if b and best_base.get(d["cell"]["seed"])])[0] if any(best) else float("nan"),
            "sec_per_epoch": mean_std([r["sec_per_epoch"] for r in finals])[0],
            "weight_mean": last.get("weight_mean", float("nan")), "weight_std": last.get("weight_std", float("nan")),
            "weight_above_0.99": last.get("weight_frac_above_0.99", float("nan")),
            "weight_auc": auc["weight_auc"], "margin_auc": auc["margin_auc"],
            "epochs_run": mean_std([r["epochs_run"] for r in finals])[0], "lr": lr, "l2": l2, "seeds": len(finals)}


def quality(args):
    rows, curves = [], {}
    for dataset in args.datasets.split(","):
        for noise in [None] + ([NoiseSpec("pos", args.noise)] if args.noise > 0 else []):
            spec = quality_spec(args, dataset, noise)
            probe = (lambda cell, data: [TestProbe(data)]) if args.probe_test else None
            run = run_experiment(spec, args.out, data_dir=args.data_dir, device="cpu", log=print if args.verbose else None,
                                 cell_callbacks=probe)
            groups = run.groups()
            print(f"\n{dataset} / {args.model} / {'clean' if noise is None else noise.label}: "
                  f"{run.selection_source[groups[0]]}, lr={run.selections[groups[0]][0]:g} "
                  f"l2={run.selections[groups[0]][1]:g}; {spec.budget.describe()}")
            print(f"load average {os.getloadavg()[0]:.2f}; optimistic = best test R@20 over evaluations (never selected on)")
            print(f"{'method':<22}{'R@20 test':>16}{'N@20 test':>16}{'vs bpr':>15}{'best ep':>12}{'s/epoch':>8}"
                  f"{'w mean':>8}{'w std':>7}{'>0.99':>7}{'AUC w':>7}{'AUC m':>7}{'optimistic':>11}{'vs bpr':>8}"
                  f"{'at epoch':>12}")
            for group in groups:
                row = quality_row(run, group, groups[0])
                rows.append(row)
                print(f"{row['method']:<22}{row['recall@20']:>9.4f}±{row['recall@20_std']:.4f}{row['ndcg@20']:>9.4f}"
                      f"±{row['ndcg@20_std']:.4f}{row['rel_vs_bpr']:>+8.1%}±{row['rel_vs_bpr_std']:.1%}"
                      f"{row['best_epochs']:>12}{row['sec_per_epoch']:>8.2f}"
                      f"{row['weight_mean']:>8.3f}{row['weight_std']:>7.3f}{row['weight_above_0.99']:>7.2f}"
                      f"{row['weight_auc']:>7.3f}{row['margin_auc']:>7.3f}{row['opt_test_recall@20']:>11.4f}"
                      f"{row['opt_rel_vs_bpr']:>+8.1%}{row['opt_epochs']:>12}", flush=True)
            if args.curves and noise is None:
                curves[dataset] = validation_curves(run, groups)
    if args.csv and rows:
        write_csv(Path(args.csv), rows, list(rows[0]))
    if args.curves and curves:
        lines(curves, args.curves, "epoch", "val. Recall@20 (mean ± std, seeds)",
              f"{args.model.upper()}: validation Recall@20 per evaluation")


def validation_curves(run, groups) -> dict:
    """``{label: [(epoch, mean, std), ...]}`` of validation Recall@20 over the seeds still running at that epoch."""
    curves = {}
    for group in groups:
        per_epoch = {}
        for cell in run.final_cells(group):
            if run.row(cell).get("status") == "ok":
                for h in run.store.details(cell)["history"]:
                    if "val/recall@20" in h:
                        per_epoch.setdefault(h["epoch"], []).append(h["val/recall@20"])
        curves["bpr (tuned)" if group.method == "bpr" else group.label] = [
            (epoch, *mean_std(values)) for epoch, values in sorted(per_epoch.items())]
    return dict(sorted(curves.items(), key=lambda kv: (kv[0] != "bpr (tuned)", kv[0])))  # distinct colours


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush float denormals to zero (the authors-code weight head decays into them)")
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--overhead-dataset", default="gowalla")
    parser.add_argument("--models", default="mf,lightgcn")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per method (best is kept)")
    parser.add_argument("--batches", type=int, default=0,
                        help="--overhead: time the first N batches of an epoch instead of whole epochs (0)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="--overhead: time by the thread's CPU time (steadier on a shared machine)")
    parser.add_argument("--recipe", default="paper", help="TIL recipe of --overhead: paper or authors-code")
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--datasets", default="lastfm,amazon-cd")
    parser.add_argument("--split", default=None,
                        help="loader split of --quality's datasets, e.g. ratio (8:1:1 per user); default: the loader's own")
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
    parser.add_argument("--tune-seeds", type=int, default=0, help="BPR's grid uses the first N seeds (0: all)")
    parser.add_argument("--probe-test", action="store_true",
                        help="record test metrics at every evaluation: the optimistic best-test column")
    parser.add_argument("--curves", default=None, help="PNG of validation Recall@20 per evaluation")
    parser.add_argument("--verbose", action="store_true", help="one line per cell run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        flush_denormals()
    if not (args.overhead or args.quality):
        parser.error("choose --overhead and/or --quality")
    if args.overhead:
        overhead(args)
    if args.quality:
        quality(args)


if __name__ == "__main__":
    main()
