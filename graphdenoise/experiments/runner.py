r"""Runs the cells of an :class:`~graphdenoise.experiments.spec.ExperimentSpec`, resumably.

For every block (dataset, backbone, noise) the plain-BPR control is run first and always tuned: each
point of the budget's lr x L2 grid is trained with the tuning seed(s) and the point with the best
mean **validation** Recall@20 is kept (test metrics never choose anything). A method that is tuned
does the same on its own; one that is not reuses the BPR control's point. The chosen point is then
run with every seed of the budget. Each cell is one :func:`graphdenoise.fit` with the budget's epoch
limit and early stopping rule; finished cells in the output folder are skipped, a failing cell is
recorded (status ``failed``, traceback file) and the run goes on. A running cell checkpoints at every
evaluation (``checkpoints/<hash>`` in the output folder), so a runner stopped mid-cell (Ctrl-C,
SIGTERM, a lost machine) continues that cell exactly where its last evaluation left it.
"""
from __future__ import annotations

import functools
import math
import os
import shutil
import statistics
import subprocess
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .spec import Cell, DatasetSpec, ExperimentSpec, Group, NoiseSpec, Options, noise_label
from .store import EXPERIMENT_COLUMNS, ResultStore, base_row, write_csv

NOT_RUN = "not run"
"""The status of a cell a report-only run found without a row (never written to the store)."""
_UNFINISHED = object()  # a block's control whose grid a report-only run found unfinished


def not_run_row(cell: Cell) -> Dict[str, Any]:
    """The stand-in row of a cell without one (a report-only run's; never stored)."""
    return dict(base_row(cell), status=NOT_RUN)


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


#: ``cell_callbacks(cell, data)``: extra trainer callbacks for one cell (see :func:`run_experiment`).
CellCallbacks = Callable[[Cell, Any], List[Callable]]


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


def run_cell(cell: Cell, data_cache: DataCache, device: Optional[str] = None,
             callbacks: Sequence[Callable] = (), cell_callbacks: Optional[CellCallbacks] = None,
             checkpoint_dir: Optional[Path] = None) -> Tuple[Dict[str, Any], Dict]:
    """Train and evaluate one cell; returns its CSV row and its details (history, metrics, diagnostics).
    ``callbacks`` go to the trainer (e.g. the tuner's pruning callback), and so do those that
    ``cell_callbacks(cell, data)`` returns (e.g. a probe that adds entries to the history).
    ``checkpoint_dir``: the run checkpoints there at every evaluation and resumes from it (exactly)
    when it holds one."""
    from ..api import fit
    from ..utils import resolve_device
    from .analysis import ANALYSIS_CALLBACKS, ANALYSIS_FUNCTIONS
    check_components(cell)
    data = data_cache.get(cell.dataset, cell.split_seed, cell.noise)
    if cell_callbacks is not None:
        callbacks = [*callbacks, *cell_callbacks(cell, data)]
    if cell.analysis in ANALYSIS_CALLBACKS:  # per-evaluation diagnostics, written into the history
        callbacks = list(callbacks) + [ANALYSIS_CALLBACKS[cell.analysis](data)]
    resolved = resolve_device(device)
    start = time.perf_counter()
    with PeakMemory(resolved) as memory:
        resume = {} if checkpoint_dir is None else {"checkpoint_dir": str(checkpoint_dir), "resume": True}
        result = fit(data, model=cell.backbone, method=cell.method, epochs=cell.epochs, seed=cell.seed,
                     device=str(resolved), show_progress=False, callbacks=list(callbacks),
                     **cell.fit_options(), **resume)  # one log line per cell
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
    """``grid`` or ``trial`` (a point searched with a tuning seed), ``final`` (a reported seed), or both (``grid+final``)."""
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
    pruned: int = 0
    """Tuning trials stopped early by the pruner (neither run to the end nor failed)."""
    seconds: float = 0.0
    run_missing: bool = True
    """False for a report of the finished cells only (``report_only``): nothing was run."""

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

    def distinct(self) -> List[Tuple[Entry, Dict[str, Any]]]:
        """The first entry of each distinct cell, with its row (``{}`` when it has none)."""
        out, seen = [], set()
        for entry in self.entries:
            key = entry.cell.config_hash()
            if key not in seen:
                seen.add(key)
                out.append((entry, self.row(entry.cell)))
        return out

    def missing(self) -> List[Entry]:
        """Entries (one per distinct cell) with no row yet: not run, or being run by another runner."""
        return [entry for entry, row in self.distinct() if not row]

    def failures(self) -> List[Tuple[Entry, Dict[str, Any]]]:
        return [(entry, row) for entry, row in self.distinct() if row.get("status") == "failed"]


def group_key(group: Group) -> str:
    options = ",".join(f"{k}={v}" for k, v in group.options)
    return f"{group.dataset.label}/{group.backbone}/{noise_label(group.noise)}/{group.label}" + \
        (f"[{options}]" if options and group.label == group.method else "")


def run_experiment(spec: ExperimentSpec, out, *, data_dir: Optional[str] = None, device: Optional[str] = None,
                   root: Optional[str] = None, retry_failed: bool = True,
                   log: Optional[Callable[[str], None]] = print,
                   cell_callbacks: Optional[CellCallbacks] = None, report_only: bool = False) -> ExperimentRun:
    r"""Run (or resume) every cell of ``spec`` into the folder ``out``; returns an :class:`ExperimentRun`.

    The protocol: each tuned group (plain BPR, or every method with ``budget.tune_all``) chooses its
    lr / L2 (and searched options) on VALIDATION Recall@20 of the tuning seeds, by the budget's grid or
    by ``budget.trials`` Optuna trials (:mod:`graphdenoise.tune`, the same tuner for every method);
    an untuned group reuses the tuned control of its block (BPR unless ``spec.backbone_methods`` names
    another); the choice then runs on every seed.
    Several runners may share ``out``: each cell runs once (see :class:`ResultStore`).

    Args:
        spec (ExperimentSpec): The experiment.
        out (str or Path): Output folder; cells already finished there are reused.
        data_dir (str, optional): Folder of raw dataset files (else ``$GRAPHDENOISE_DATA``).
        device (str, optional): ``cpu``, ``cuda``... (default: CUDA when available).
        root (str, optional): Where processed datasets are cached (default: the loaders' default).
        retry_failed (bool): Run cells recorded as failed again. (default: :obj:`True`)
        log (callable, optional): Progress lines (None: silent).
        cell_callbacks (callable, optional): ``cell_callbacks(cell, data)`` returns extra trainer
            callbacks for each cell run here (e.g. a probe recording the test metrics at every
            evaluation for an optimistic-protocol column; they never select anything). Not part of
            a cell's identity: cells reused from ``out`` keep what their run recorded. (default: :obj:`None`)
        report_only (bool): Run nothing: the finished cells of ``out`` only (e.g. while runners are still
            filling it). A group whose grid is not finished has no lr / L2 and so no reported seeds yet;
            :meth:`ExperimentRun.missing` lists the cells without a row. (default: :obj:`False`)
    """
    if report_only and spec.budget.trials:
        raise ValueError("report_only needs a grid budget: Optuna trials are chosen by the study as they run "
                         "(report with the same command once they have finished)")
    if report_only and not Path(out).is_dir():
        raise ValueError(f"report_only: the output folder {str(out)!r} does not exist (no cells to report)")
    if spec.budget.trials:
        from ..tune import require_optuna
        require_optuna()  # before any cell runs
    run = ExperimentRun(spec, ResultStore(out), run_missing=not report_only)
    executor = CellExecutor(run, DataCache(data_dir, root), device, retry_failed, log or (lambda _: None),
                            _count_planned(spec.groups(), spec.budget), cell_callbacks)
    if not report_only and not spec.budget.trials:  # Optuna's trials are chosen as they run
        executor.spare = [cell for group in spec.groups() if group.tuned
                          for cells in _grid(group, spec).values() for cell in cells]
    start = time.perf_counter()
    control_choice: Dict[Tuple, Optional[Selection]] = {}  # each block's tuned control
    for group in spec.groups():
        roles: Dict[Cell, str] = {}
        if group.tuned:
            select = _select_by_trials if spec.budget.trials else _select_on_grid
            choice, source = select(group, spec, executor, roles)
        else:
            choice, source = control_choice.get(group.block), "tuned control"
            if choice is _UNFINISHED:
                choice, source = None, "control's grid not finished"
            elif choice is None:
                choice, source = (spec.budget.lrs[0], spec.budget.l2s[0], ()), "control failed: first grid point"
            else:
                choice = (choice[0], choice[1], ())
        if group.control and group.block not in control_choice:
            control_choice[group.block] = _UNFINISHED if choice is None else None if "failed" in source else choice
        run.selections[group], run.selection_source[group] = choice, source
        if choice is None:  # report_only: no lr / L2 yet, so no reported seeds
            run.entries.extend(Entry(group, role, cell) for cell, role in roles.items())
            continue
        finals = [group.cell(spec.budget, seed, choice[0], choice[1], choice[2], spec.split_seed)
                  for seed in spec.budget.seeds]
        executor.execute_all([cell for cell in finals if cell not in roles])
        for cell in finals:
            roles[cell] = f"{roles[cell]}+final" if cell in roles else "final"
        run.entries.extend(Entry(group, role, cell) for cell, role in roles.items())
        _write_experiment_csv(run)
    run.seconds = time.perf_counter() - start
    executor.log(f"{spec.name}: {run.ran} cells run, {run.pruned} pruned, {run.skipped} reused, {run.failed} failed, "
                 f"{run.seconds:.0f}s")
    return run


class CellExecutor:
    """Runs cells for one :class:`ExperimentRun`: reuses finished ones, claims the rest, records every outcome."""

    def __init__(self, run: ExperimentRun, cache: DataCache, device, retry_failed: bool, log, planned: int,
                 cell_callbacks: Optional[CellCallbacks] = None):
        self.run, self.store, self.cache, self.device = run, run.store, cache, device
        self.cell_callbacks = cell_callbacks
        self.retry_failed, self.log, self.planned, self.counter = retry_failed, log, planned, 0
        self.spare: List[Cell] = []
        """Grid cells of the experiment's tuned groups: run one while every cell this runner waits for is
        held by others (:meth:`run_spare`)."""
        self.ran_here: set = set()

    def finished(self, cell: Cell) -> Optional[Dict[str, Any]]:
        """The cell's row if no run is needed (ok, or failed and not to be retried by this runner)."""
        row = self.store.get(cell)
        if row is None:
            return None
        if row.get("status") == "ok" or not self.retry_failed or not self.store.is_stale_failure(row):
            return row
        return None

    def execute_all(self, cells: Sequence[Cell], wait: float = 1.0) -> List[Dict[str, Any]]:
        """Rows of ``cells``: runs the unclaimed ones first, then waits for those other runners hold."""
        rows: Dict[Cell, Dict[str, Any]] = {}
        pending = list(dict.fromkeys(cells))
        while pending:
            deferred = []
            for cell in pending:
                row = self.execute(cell, claim_only=True)
                if row is None:
                    deferred.append(cell)
                else:
                    rows[cell] = row
            if deferred and len(deferred) == len(pending) and not self.run_spare():
                time.sleep(wait)  # every remaining cell is being run by another runner, no spare work
            pending = deferred
        return [rows[cell] for cell in cells]

    def run_spare(self) -> bool:
        """Runs one cell of :attr:`spare` that is neither finished nor held; False when none is left.
        A runner waiting at a group's barrier (its grid or its seeds held by other runners) thus tunes a
        later group instead of idling: grid cells depend on nothing, and their rows are reused when the
        runner reaches their group."""
        while self.spare:
            cell = self.spare.pop(0)
            if self.finished(cell) is None and self.execute(cell, claim_only=True) is not None:
                return True
        return False

    def execute(self, cell: Cell, callbacks: Sequence[Callable] = (), passthrough: Tuple[type, ...] = (),
                claim_only: bool = False) -> Optional[Dict[str, Any]]:
        r"""The cell's row, running it if needed. A cell another runner holds is waited for, or, with
        ``claim_only``, left (None). Exceptions of the ``passthrough`` types (the tuner's pruning) are
        recorded with status ``pruned`` and re-raised."""
        while True:
            row = self.finished(cell)
            if row is not None:
                self.run.skipped += cell not in self.ran_here  # a spare cell run here is not "reused"
                return row
            if not self.run.run_missing:
                return not_run_row(cell)
            if self.store.claim(cell):
                break
            if claim_only:
                return None
            time.sleep(1.0)
        try:
            return self._run(cell, callbacks, passthrough)
        finally:
            self.store.release(cell)

    def _run(self, cell: Cell, callbacks, passthrough) -> Dict[str, Any]:
        self.counter += 1
        self.ran_here.add(cell)
        key = cell.config_hash()
        self.log(f"[{self.counter}/{self.planned}] {cell.dataset.label} {cell.backbone} {cell.method} seed={cell.seed} "
                 f"lr={cell.lr:g} l2={cell.l2:g} {noise_label(cell.noise)}"
                 + (f" batch={cell.batch_size}" if cell.batch_size != self.run.spec.budget.batch_size else "")
                 + (f" {dict(cell.options)}" if cell.options else "") + " ...")
        checkpoint = self.store.checkpoint_path(key)
        if checkpoint.exists():
            self.log(f"    resuming from {checkpoint}")
        try:
            row, details = run_cell(cell, self.cache, self.device, callbacks, self.cell_callbacks, checkpoint)
            self.store.record(row, details)
            shutil.rmtree(checkpoint, ignore_errors=True)
            self.run.ran += 1
            self.log(f"    ok in {row['wall_seconds']:.0f}s: {row['epochs_run']} epochs (best {row['best_epoch']}), "
                     f"val R@20 {row['val_recall@20']:.4f}, test R@20 {row['test_recall@20']:.4f}, "
                     f"{row['sec_per_epoch']:.2f} s/epoch")
            return row
        except passthrough as exc:
            row = dict(base_row(cell), status="pruned", error=str(exc)[:500])
            self.store.record(row)
            shutil.rmtree(checkpoint, ignore_errors=True)
            self.run.pruned += 1
            self.log(f"    pruned ({exc})")
            raise
        except Exception as exc:  # a failing cell is recorded; the run goes on
            row = dict(base_row(cell), status="failed", error=f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500])
            self.store.record(row, traceback_text=traceback.format_exc())
            shutil.rmtree(checkpoint, ignore_errors=True)  # a retry starts afresh
            self.run.failed += 1
            self.log(f"    FAILED ({row['error']}); traceback in {self.store.traceback_path(key)}")
            return row


def _validation(row: Dict[str, Any]) -> float:
    return row.get("val_recall@20") if row.get("status") == "ok" else float("nan")


def _grid(group: Group, spec: ExperimentSpec) -> Dict[Tuple, List[Cell]]:
    """The cells of ``group``'s grid search: each grid point's cells at the budget's tuning seeds."""
    budget = spec.budget
    return {point: [group.cell(budget, seed, *point, split_seed=spec.split_seed) for seed in budget.tuning_seeds]
            for point in budget.grid_for(group.method, True)}


def _select_on_grid(group: Group, spec: ExperimentSpec, executor: CellExecutor, roles: Dict[Cell, str]):
    """The budget's grid point with the best mean validation Recall@20 over the tuning seeds."""
    points = _grid(group, spec)
    for cells in points.values():
        roles.update({cell: "grid" for cell in cells})
    grid = [cell for cells in points.values() for cell in cells]
    rows = dict(zip(grid, executor.execute_all(grid)))
    if any(row.get("status") == NOT_RUN for row in rows.values()):
        return None, "grid not finished"
    scores = {point: [_validation(rows[cell]) for cell in cells] for point, cells in points.items()}
    choice = select_on_validation(scores)
    if choice is None:
        return next(iter(scores)), "grid failed: first grid point"
    return choice, "grid search on validation"


def _select_by_trials(group: Group, spec: ExperimentSpec, executor: CellExecutor, roles: Dict[Cell, str]):
    """Optuna trials over the declared search space (:mod:`graphdenoise.tune`), each a cell of the store."""
    import hashlib
    import json
    from ..search_space import search_space
    from ..tune import PruningCallback, open_study, optimize, require_optuna
    optuna, budget = require_optuna(), spec.budget
    space = search_space(group.backbone, group.method, exclude=tuple(dict(group.options)))
    identity = {"group": group_key(group), "space": {k: repr(v) for k, v in space.items()},
                "cell": group.cell(budget, 0, 0.0, 0.0, split_seed=spec.split_seed).config(),
                "tuning_seeds": list(budget.tuning_seeds)}
    identity["cell"].pop("lr"), identity["cell"].pop("l2"), identity["cell"].pop("seed")
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    study = open_study(f"{group_key(group)}#{digest}", f"sqlite:///{executor.store.out.resolve() / 'tuning.db'}",
                       identity)

    def objective(params, trial) -> float:
        params = dict(params)
        lr, l2 = params.pop("lr"), params.pop("l2")
        cells = [group.cell(budget, seed, lr, l2, tuple(sorted(params.items())), spec.split_seed)
                 for seed in budget.tuning_seeds]
        roles.update({cell: "trial" for cell in cells})
        single = len(cells) == 1  # pruning compares one run's curve with earlier trials'
        rows = [executor.execute(cell, [PruningCallback(trial)] if single else [], (optuna.TrialPruned,))
                for cell in cells]
        values = [_validation(row) for row in rows]
        return statistics.mean(values) if all(not math.isnan(v) for v in values) else float("nan")

    optimize(study, objective, space, budget.trials)
    completed = [t for t in study.trials if t.value is not None and not math.isnan(t.value)]
    if not completed:
        return (budget.lrs[0], budget.l2s[0], ()), "trials failed: first grid point"
    best = dict(study.best_params)
    lr, l2 = best.pop("lr"), best.pop("l2")
    return (lr, l2, tuple(sorted(best.items()))), f"{budget.trials} Optuna trials on validation"


def _count_planned(groups: List[Group], budget) -> int:
    total = 0
    for group in groups:
        if group.tuned:
            points = budget.trials or len(budget.grid_for(group.method, True))
            total += points * len(budget.tuning_seeds) + len(set(budget.seeds) - set(budget.tuning_seeds))
        else:
            total += len(budget.seeds)
    return total


def _write_experiment_csv(run: ExperimentRun) -> None:
    rows = []
    for entry in run.entries:
        row = dict(run.row(entry.cell) or not_run_row(entry.cell))
        row.update({"experiment": run.spec.name, "group": group_key(entry.group), "role": entry.role})
        rows.append(row)
    write_csv(run.store.out / f"{run.spec.name}.csv", rows, EXPERIMENT_COLUMNS)
