r"""Runs the cells of an :class:`~graphdenoise.experiments.spec.ExperimentSpec`, resumably.

For every block (dataset, backbone, noise) the plain-BPR control is run first and always tuned: each
point of the budget's lr x L2 grid is trained with the tuning seed(s) and the point with the best
mean **validation** Recall@20 is kept (test metrics never choose anything). A method that is tuned
does the same on its own; one that is not reuses the BPR control's point. The chosen point is then
run with every seed of the budget. Each cell is one :func:`graphdenoise.fit` with the budget's epoch
limit and early stopping rule; finished cells in the output folder are skipped, a failing cell is
recorded (status ``failed``, traceback file) and the run goes on.
"""
from __future__ import annotations

import functools
import math
import os
import statistics
import subprocess
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .spec import Cell, DatasetSpec, ExperimentSpec, Group, NoiseSpec, Options, noise_label
from .store import EXPERIMENT_COLUMNS, ResultStore, base_row, write_csv

Selection = Tuple[float, float, Options]


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    r"""The git commit of the graphdenoise checkout this process imported (``+dirty`` with uncommitted
    changes to tracked files), or ``""`` outside a git checkout. Computed once per process."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


class MissingComponentError(RuntimeError):
    """A cell names a method or backbone that is not registered (yet)."""


def mean_std(values, single_std: float = 0.0) -> Tuple[float, float]:
    """Mean and sample standard deviation of the finite ``values`` (``single_std`` for one value; NaN for none)."""
    values = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return float("nan"), float("nan")
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else single_std)


def select_on_validation(scores: Dict[Any, List[float]]) -> Optional[Any]:
    r"""The key whose runs have the best mean validation score (first key on ties; None if empty).

    ``scores`` maps a configuration to the validation metric of each of its runs; configurations
    without a finite score are ignored.
    """
    best, best_value = None, -math.inf
    for key, values in scores.items():
        finite = [v for v in values if v is not None and not math.isnan(v)]
        if finite and statistics.mean(finite) > best_value:
            best, best_value = key, statistics.mean(finite)
    return best


class PeakMemory:
    r"""Peak memory of the code in a ``with`` block: CUDA's allocator peak on a GPU, else the process's
    resident set size sampled every ``interval`` seconds (Linux ``/proc``; ``ru_maxrss`` elsewhere)."""

    def __init__(self, device: torch.device, interval: float = 0.05):
        self.device, self.interval = device, interval
        self.peak_mb, self.kind = float("nan"), "cuda" if device.type == "cuda" else "cpu-rss"
        self._stop = threading.Event()

    @staticmethod
    def rss_mb() -> float:
        try:
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, AttributeError):
            import resource
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self.rss_mb())

    def __enter__(self):
        if self.kind == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak_mb = self.rss_mb()
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.kind == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, self.rss_mb())
        return False


class DataCache:
    """Loads each (dataset, split seed, noise) once per process."""

    def __init__(self, data_dir: Optional[str] = None, root: Optional[str] = None):
        self.data_dir, self.root = data_dir, root
        self._cache: Dict[Tuple, Any] = {}

    def get(self, dataset: DatasetSpec, split_seed: int, noise: Optional[NoiseSpec]):
        key = (dataset, split_seed, noise)
        if key not in self._cache:
            from ..datasets import load_dataset
            from ..datasets.noise import AddNoisyNegatives, AddNoisyPositives, AddNoisyPosNeg
            options = dict(dataset.options)
            if self.root is not None:
                options.setdefault("root", os.path.join(self.root, dataset.name))
            data = load_dataset(dataset.name, data_dir=self.data_dir, seed=split_seed, **options)
            if noise is not None:
                transform = {"pos": AddNoisyPositives, "neg": AddNoisyNegatives,
                             "posneg": AddNoisyPosNeg}[noise.kind](noise.ratio, seed=split_seed)
                data = transform(data.clone())
            self._cache[key] = data
        return self._cache[key]


def check_components(cell: Cell) -> None:
    from ..methods import METHODS
    from ..models import MODELS
    if cell.method not in METHODS:
        raise MissingComponentError(f"method {cell.method!r} is not registered in graphdenoise.methods.METHODS "
                                    f"(available: {', '.join(METHODS.names())})")
    if cell.backbone not in MODELS:
        raise MissingComponentError(f"backbone {cell.backbone!r} is not registered in graphdenoise.models.MODELS "
                                    f"(available: {', '.join(MODELS.names())})")


def run_cell(cell: Cell, data_cache: DataCache, device: Optional[str] = None) -> Tuple[Dict[str, Any], Dict]:
    """Train and evaluate one cell; returns its CSV row and its details (history, metrics, diagnostics)."""
    from ..api import fit
    from ..utils import resolve_device
    from .analysis import ANALYSIS_FUNCTIONS
    check_components(cell)
    data = data_cache.get(cell.dataset, cell.split_seed, cell.noise)
    resolved = resolve_device(device)
    start = time.perf_counter()
    with PeakMemory(resolved) as memory:
        result = fit(data, model=cell.backbone, method=cell.method, epochs=cell.epochs, seed=cell.seed,
                     device=str(resolved), show_progress=False, **cell.fit_options())  # one log line per cell
        diagnostics = None
        if cell.analysis is not None:
            diagnostics = ANALYSIS_FUNCTIONS[cell.analysis](result.method, result.model, data, seed=cell.split_seed)
    wall = time.perf_counter() - start
    seconds = [h["seconds"] for h in result.history if "seconds" in h]
    row = base_row(cell)
    row.update({
        "status": "ok", "error": "", "epochs_run": len(result.history), "best_epoch": result.best_epoch,
        "val_recall@20": result.metrics["val"]["recall@20"], "val_ndcg@20": result.metrics["val"]["ndcg@20"],
        "test_recall@20": result.metrics["test"]["recall@20"], "test_ndcg@20": result.metrics["test"]["ndcg@20"],
        "sec_per_epoch": statistics.mean(seconds) if seconds else float("nan"), "train_seconds": sum(seconds),
        "wall_seconds": wall, "peak_mem_mb": memory.peak_mb, "mem_kind": memory.kind, "device": str(resolved),
        "code": code_version(),
    })
    details = {"cell": cell.config(), "config_hash": cell.config_hash(), "metrics": result.metrics,
               "best_epoch": result.best_epoch, "history": result.history, "fit_config": result.config,
               "analysis": diagnostics, "torch": torch.__version__}
    return row, details


@dataclass
class Entry:
    """A cell as used by one experiment."""

    group: Group
    role: str
    """``grid`` (a point searched with a tuning seed), ``final`` (a reported seed) or ``grid+final``."""
    cell: Cell


@dataclass
class ExperimentRun:
    """What :func:`run_experiment` returns: the spec, its cells and rows, and the lr / L2 chosen per group."""

    spec: ExperimentSpec
    store: ResultStore
    entries: List[Entry] = field(default_factory=list)
    selections: Dict[Group, Optional[Selection]] = field(default_factory=dict)
    selection_source: Dict[Group, str] = field(default_factory=dict)
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0

    def row(self, cell: Cell) -> Dict[str, Any]:
        return self.store.get(cell) or {}

    def final_rows(self, group: Group, ok_only: bool = True) -> List[Dict[str, Any]]:
        rows = [self.row(e.cell) for e in self.entries if e.group == group and "final" in e.role]
        return [r for r in rows if r.get("status") == "ok"] if ok_only else rows

    def final_cells(self, group: Group) -> List[Cell]:
        return [e.cell for e in self.entries if e.group == group and "final" in e.role]

    def groups(self) -> List[Group]:
        seen = []
        for entry in self.entries:
            if entry.group not in seen:
                seen.append(entry.group)
        return seen

    def failures(self) -> List[Tuple[Entry, Dict[str, Any]]]:
        out, seen = [], set()
        for entry in self.entries:
            row = self.row(entry.cell)
            key = entry.cell.config_hash()
            if row.get("status") == "failed" and key not in seen:
                seen.add(key)
                out.append((entry, row))
        return out


def group_key(group: Group) -> str:
    options = ",".join(f"{k}={v}" for k, v in group.options)
    return f"{group.dataset.label}/{group.backbone}/{noise_label(group.noise)}/{group.label}" + \
        (f"[{options}]" if options and group.label == group.method else "")


def run_experiment(spec: ExperimentSpec, out, *, data_dir: Optional[str] = None, device: Optional[str] = None,
                   root: Optional[str] = None, retry_failed: bool = True,
                   log: Optional[Callable[[str], None]] = print) -> ExperimentRun:
    r"""Run (or resume) every cell of ``spec`` into the folder ``out``; returns an :class:`ExperimentRun`.

    Args:
        spec (ExperimentSpec): The experiment.
        out (str or Path): Output folder; cells already finished there are reused.
        data_dir (str, optional): Folder of raw dataset files (else ``$GRAPHDENOISE_DATA``).
        device (str, optional): ``cpu``, ``cuda``... (default: CUDA when available).
        root (str, optional): Where processed datasets are cached (default: the loaders' default).
        retry_failed (bool): Run cells recorded as failed again. (default: :obj:`True`)
        log (callable, optional): Progress lines (None: silent).
    """
    log = log or (lambda _: None)
    store = ResultStore(out)
    run = ExperimentRun(spec, store)
    cache = DataCache(data_dir, root)
    budget = spec.budget
    start = time.perf_counter()
    groups = spec.groups()
    planned = _count_planned(groups, budget)
    counter = [0]

    def execute(cell: Cell) -> Dict[str, Any]:
        counter[0] += 1
        key = cell.config_hash()
        existing = store.get(cell)
        if existing is not None and (existing.get("status") == "ok" or not retry_failed):
            run.skipped += 1
            return existing
        label = (f"[{counter[0]}/{planned}] {cell.dataset.label} {cell.backbone} {cell.method} seed={cell.seed} "
                 f"lr={cell.lr:g} l2={cell.l2:g} {noise_label(cell.noise)}"
                 + (f" {dict(cell.options)}" if cell.options else ""))
        log(f"{label} ...")
        try:
            row, details = run_cell(cell, cache, device)
            store.record(row, details)
            run.ran += 1
            log(f"    ok in {row['wall_seconds']:.0f}s: {row['epochs_run']} epochs (best {row['best_epoch']}), "
                f"val R@20 {row['val_recall@20']:.4f}, test R@20 {row['test_recall@20']:.4f}, "
                f"{row['sec_per_epoch']:.2f} s/epoch")
        except Exception as exc:  # a failing cell is recorded; the run goes on
            row = base_row(cell)
            row.update({"status": "failed", "error": f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]})
            store.record(row, traceback_text=traceback.format_exc())
            run.failed += 1
            log(f"    FAILED ({row['error']}); traceback in {store.traceback_path(key)}")
        return row

    bpr_choice: Dict[Tuple, Optional[Selection]] = {}
    for group in groups:
        roles: Dict[Cell, str] = {}
        if group.tuned:
            scores: Dict[Selection, List[float]] = {}
            for lr, l2, extra in budget.grid_for(group.method, True):
                for seed in budget.tuning_seeds:
                    cell = group.cell(budget, seed, lr, l2, extra, spec.split_seed)
                    roles[cell] = "grid"
                    row = execute(cell)
                    value = row.get("val_recall@20") if row.get("status") == "ok" else float("nan")
                    scores.setdefault((lr, l2, extra), []).append(value)
            choice = select_on_validation(scores)
            source = "grid search on validation" if choice is not None else "grid failed: first grid point"
            if choice is None:
                choice = next(iter(scores))
        else:
            choice = bpr_choice.get(group.block)
            source = "tuned BPR control"
            if choice is None:
                choice, source = (budget.lrs[0], budget.l2s[0], ()), "BPR control failed: first grid point"
            else:
                choice = (choice[0], choice[1], ())
        if group.method == "bpr" and not group.options and group.block not in bpr_choice:
            bpr_choice[group.block] = choice if source.startswith("grid search") else None
        run.selections[group], run.selection_source[group] = choice, source
        for seed in budget.seeds:
            cell = group.cell(budget, seed, choice[0], choice[1], choice[2], spec.split_seed)
            roles[cell] = "grid+final" if cell in roles else "final"
            if roles[cell] == "final":
                execute(cell)
        run.entries.extend(Entry(group, role, cell) for cell, role in roles.items())
        _write_experiment_csv(run)
    run.seconds = time.perf_counter() - start
    log(f"{spec.name}: {run.ran} cells run, {run.skipped} reused, {run.failed} failed, {run.seconds:.0f}s")
    return run


def _count_planned(groups: List[Group], budget) -> int:
    total = 0
    for group in groups:
        if group.tuned:
            grid = budget.grid_for(group.method, True)
            total += len(grid) * len(budget.tuning_seeds) + len(set(budget.seeds) - set(budget.tuning_seeds))
        else:
            total += len(budget.seeds)
    return total


def _write_experiment_csv(run: ExperimentRun) -> None:
    rows = []
    for entry in run.entries:
        row = dict(run.row(entry.cell) or base_row(entry.cell))
        row.update({"experiment": run.spec.name, "group": group_key(entry.group), "role": entry.role})
        rows.append(row)
    write_csv(run.store.out / f"{run.spec.name}.csv", rows, EXPERIMENT_COLUMNS)
