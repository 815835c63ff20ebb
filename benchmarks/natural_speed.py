r"""Seconds per training epoch of the natural-noise methods over plain BPR's, same backbone, one process
(issue 14: every new method within 1.5x of BPR's epoch; DeCA / DeCA(p) train extra models and BSL scores
128 negatives per positive by definition: reported).

The ratios of the natural-noise benchmark (RESULTS.md, ``x control``) come from separate runs on a
loaded machine. Here every method trains beside BPR in ONE process, on the same data and settings as
the benchmark's budget ``natural`` (lr 5e-3, no L2, each method's options and batch as there),
and epochs are INTERLEAVED (BPR, method 1, method 2, ..., BPR, ...) so that load changes hit all of
them alike; each method's figure is the median over ``--rounds`` epochs and its ratio is that median
over BPR's. Every trainer first trains ``--at-epoch`` epochs untimed (at least one: a warm-up), so
that methods with phases are timed in the phase that epoch selects (PLD resamples from ``begin_epoch``
= 5 on; SGDL's Phase II starts at the memorization point, forced after ``max_memorization_epochs`` =
15 as in the benchmark; DeCA(p) pre-trains at its first step); the timed epochs are ``at_epoch``,
``at_epoch + 1``, ... Training only (no validation).

``--profile METHOD`` prints the top entries of :mod:`cProfile` for that method's timed epochs
instead of the table.

Usage (one thread; the data folder holds ``natural-noise/``, see ``../shared/datasets/README.md``)::

    python benchmarks/natural_speed.py --data-dir ../shared/datasets --models gmf lightgcn \
        --methods dcf pld sgdl --at-epoch 20 --rounds 5
    python benchmarks/natural_speed.py --models lightgcn --methods dcf --profile dcf
    python benchmarks/natural_speed.py --models cdae --base erm-bce --methods deca deca-p udt --clock thread
    python benchmarks/natural_speed.py --models neumf --methods tce --flush-denormal  # see below

Each method runs as the natural-noise experiment runs it (``make_spec("natural-noise")``'s groups: its
options, the ``natural`` budget's epoch shares, its batch), so the figures are those of the benchmark's
cells; ``--batch-size`` forces one batch for all. On CDAE the experiment runs ``erm-bce`` (its control),
T-CE, R-CE, DeCA, DeCA(p) and UDT on batches of users' rows (64 users on ml-100k-natural).

``--flush-denormal`` flushes float denormals to zero, as the experiment's option of that name: pointwise
training on NeuMF drives weights into the denormal range, and T-CE's epoch there ran 2.8x BPR's without it
(1.0x with it). SGDL's rows name the phase it was in after the timed epochs.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from dataclasses import replace
from typing import Dict, List

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from graphdenoise.datasets import load_dataset  # noqa: E402
from graphdenoise.experiments import BUDGETS, make_spec  # noqa: E402
from graphdenoise.experiments.natural import NATURAL_METHODS  # noqa: E402
from graphdenoise.experiments.spec import Cell  # noqa: E402
from graphdenoise.methods import METHODS  # noqa: E402
from graphdenoise.models import MODELS  # noqa: E402
from graphdenoise.train import Trainer, TrainerConfig  # noqa: E402
from graphdenoise.utils import flush_denormals  # noqa: E402

def experiment_cells(model: str, names: List[str], args) -> Dict[str, Cell]:
    """Each name's cell as the natural-noise experiment runs it on ``model`` (its method, options and
    batch: the experiment's method options, the ``natural`` budget's epoch shares, CDAE's users per
    batch), at ``--lr``, no L2, ``--budget`` epochs. A name the experiment does not run on that backbone
    is an error that lists the ones it does."""
    budget = replace(BUDGETS["natural"], epochs=args.budget, seeds=(args.seed,), lrs=(args.lr,), l2s=(0.0,))
    groups = {g.label: g for g in make_spec("natural-noise", budget, datasets=[args.dataset],
                                            backbones=[model]).groups()}
    unknown = [name for name in names if name not in groups]
    if unknown:
        raise SystemExit(f"natural_speed.py: the natural-noise experiment does not run {', '.join(unknown)} on "
                         f"{model} (it runs: {', '.join(groups)})")
    cells = {name: groups[name].cell(budget, args.seed, args.lr, 0.0) for name in names}
    return {name: replace(cell, batch_size=args.batch_size or cell.batch_size) for name, cell in cells.items()}


def make_trainer(data, cell: Cell, args) -> Trainer:
    torch.manual_seed(args.seed)
    config = TrainerConfig(epochs=args.budget, batch_size=cell.batch_size, lr=args.lr, l2=0.0, seed=args.seed,
                           show_progress=False, device=args.device)
    return Trainer(MODELS.get(cell.backbone)(data), METHODS.get(cell.method)(**dict(cell.options)), data, config)


def time_epoch(trainer: Trainer, clock: str = "wall") -> float:
    """The trainer's next training epoch; its seconds (``wall``: the loop's own clock; ``thread``: CPU
    time of this thread, less sensitive to other processes on a loaded machine)."""
    start = time.thread_time()
    seconds = trainer.train_epoch()["seconds"]
    trainer.epoch += 1
    return time.thread_time() - start if clock == "thread" else seconds


def interleaved(trainers: Dict[str, Trainer], args, profile: str = None) -> Dict[str, List[float]]:
    """``--rounds`` epochs of every trainer, interleaved, after ``--at-epoch`` untimed epochs each."""
    for trainer in trainers.values():  # warm-up, and the phases before the timed one
        for _ in range(max(args.at_epoch, 1)):
            time_epoch(trainer, args.clock)
    times = {name: [] for name in trainers}
    profiler = cProfile.Profile() if profile else None
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            if name == profile:
                profiler.enable()
            times[name].append(time_epoch(trainer, args.clock))
            if name == profile:
                profiler.disable()
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile_lines)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k-natural")
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--models", nargs="+", default=["gmf", "lightgcn"])
    parser.add_argument("--methods", nargs="+", default=[m for m in NATURAL_METHODS if m != "bpr"])
    parser.add_argument("--at-epoch", type=int, default=20, help="untimed epochs before the timed ones")
    parser.add_argument("--budget", type=int, default=30, help="the trainer's epoch budget (DCF's lambda span)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="every method's batch (default: the experiment's, e.g. 2048; CDAE's users per batch)")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--base", default="bpr", help="the control the ratios divide by (e.g. erm-bce on cdae)")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush float denormals to zero (graphdenoise.utils.flush_denormals), as the experiment's "
                             "option: pointwise training on NeuMF reaches denormal weights, which slow every product")
    parser.add_argument("--profile", default=None, metavar="METHOD", help="cProfile this method's epochs")
    parser.add_argument("--profile-lines", type=int, default=40)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        flush_denormals()
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    flushed = ", denormals flushed" if args.flush_denormal else ""
    print(f"{args.dataset}, epochs {args.at_epoch}+ of {args.budget}, {args.rounds} rounds, {args.threads} "
          f"thread(s){flushed}, load average {os.getloadavg()[0]:.2f} at start; each method as the natural-noise "
          f"experiment runs it (options, batch)")
    print(f"| backbone | method | batch | s / epoch (median, {args.clock}) | x {args.base} |\n|---|---|---|---|---|")
    for model in args.models:
        names = [args.base] + [m for m in args.methods if m != args.base]
        cells = experiment_cells(model, names, args)
        trainers = {name: make_trainer(data, cells[name], args) for name in names}
        times = interleaved(trainers, args, args.profile)
        base = statistics.median(times[args.base])
        for name in names:
            median = statistics.median(times[name])
            phase = getattr(trainers[name].method, "phase", None)  # SGDL: its phase after the timed epochs
            shown = name if phase is None else f"{name} (phase {'II' if bool(phase) else 'I'})"
            print(f"| {model} | {shown} | {cells[name].batch_size} | {median:.4f} | {median / base:.2f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
