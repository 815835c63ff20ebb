r"""The results folder of the harness: one CSV row per cell, written atomically, keyed by config hash.

Layout of ``out/``::

    rows/<hash>.json       the cell's row (the source of truth; written atomically)
    cells.csv              every cell ever run here (any experiment), one row per config hash, rebuilt
                           from rows/ under a lock
    cells/<hash>.json      the cell's config, metrics, per-epoch history and diagnostics
    claims/<hash>          the runner running the cell now (pid, host)
    tuning.db              Optuna studies of budgets with ``trials`` (SQLite)
    tracebacks/<hash>.txt  the traceback of a failed cell
    <experiment>.csv       the cells of one experiment (with their role: grid point or final seed)
    <experiment>.md        its report; figures/<experiment>*.png its figures

A cell whose row says ``ok`` is never run again (resume); a ``failed`` one is retried by the next
invocation (e.g. once the missing method exists).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from ..train.checkpoint import atomic_write_text
from .spec import Cell, noise_label

#: Columns of ``cells.csv`` and of the per-experiment CSVs (the latter add ``experiment``, ``group`` and ``role``).
COLUMNS = [
    "dataset", "backbone", "method", "seed", "noise", "options", "lr", "l2", "batch_size", "config_hash", "status", "error",
    "epochs_run", "best_epoch", "val_recall@20", "val_ndcg@20", "test_recall@20", "test_ndcg@20",
    "sec_per_epoch", "train_seconds", "wall_seconds", "peak_mem_mb", "mem_kind", "device", "analysis", "code",
]
EXPERIMENT_COLUMNS = ["experiment", "group", "role"] + COLUMNS
NUMERIC = {"seed", "lr", "l2", "batch_size", "epochs_run", "best_epoch", "val_recall@20", "val_ndcg@20", "test_recall@20",
           "test_ndcg@20", "sec_per_epoch", "train_seconds", "wall_seconds", "peak_mem_mb"}


def write_csv(path: Path, rows: Iterable[Dict[str, Any]], columns: List[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _format(row.get(key)) for key in columns})
    atomic_write_text(buffer.getvalue(), path)


def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def read_csv(path: Path) -> List[Dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in NUMERIC & set(row):
            row[key] = _parse_number(row[key])
    return rows


def _parse_number(text: str):
    if text in ("", None):
        return float("nan")
    try:
        number = float(text)
    except ValueError:
        return float("nan")
    return int(number) if number.is_integer() and "e" not in text.lower() and "." not in text else number


def base_row(cell: Cell) -> Dict[str, Any]:
    """The descriptive columns of a cell's row."""
    return {"dataset": cell.dataset.label, "backbone": cell.backbone, "method": cell.method, "seed": cell.seed,
            "noise": noise_label(cell.noise), "options": json.dumps(dict(cell.options), sort_keys=True),
            "lr": float(cell.lr), "l2": float(cell.l2), "batch_size": cell.batch_size, "config_hash": cell.config_hash(),
            "analysis": cell.analysis or ""}


class ResultStore:
    r"""The cells of an output folder. Each cell's row is its own file (``rows/<hash>.json``, written
    atomically): the source of truth, so several runners can share one folder. ``cells.csv`` is
    rebuilt from the row files under a file lock after every record, so no runner's rows are lost.

    A runner claims a cell before running it (``claims/<hash>``, created exclusively); another runner
    that needs the same cell waits for its row instead of running it again. The claim of a runner
    that died (same host, process gone) is taken over.

    Args:
        out (str or Path): The output folder (created).
    """

    def __init__(self, out):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / "cells.csv"
        self.started = time.time()
        # Output folders written before row files existed: their cells.csv rows are read once.
        self.legacy: Dict[str, Dict[str, Any]] = {row["config_hash"]: row for row in read_csv(self.path)}
        self.rows: Dict[str, Dict[str, Any]] = {}

    def get(self, cell: Cell) -> Optional[Dict[str, Any]]:
        """The latest row of ``cell`` recorded by any runner (None if it never ran)."""
        key = cell.config_hash() if isinstance(cell, Cell) else cell
        if key in self.rows and self.rows[key].get("status") == "ok":
            return self.rows[key]  # an ok row is final
        path = self.row_path(key)
        if path.exists():
            with open(path) as handle:
                self.rows[key] = json.load(handle)
        return self.rows.get(key, self.legacy.get(key))

    def is_done(self, cell: Cell) -> bool:
        row = self.get(cell)
        return row is not None and row.get("status") == "ok"

    def is_stale_failure(self, row: Dict[str, Any]) -> bool:
        """A failed row recorded before this store was opened (a concurrent runner's fresh failure is not retried)."""
        return row.get("status") != "ok" and row.get("recorded_at", 0.0) < self.started

    def record(self, row: Dict[str, Any], details: Optional[Dict[str, Any]] = None,
               traceback_text: Optional[str] = None) -> None:
        """Store ``row`` (replacing an earlier row of the same hash) and rebuild ``cells.csv``."""
        key = row["config_hash"]
        if details is not None:
            atomic_write_text(json.dumps(details, indent=1, default=_json_default), self.details_path(key))
        if traceback_text is not None:
            atomic_write_text(traceback_text, self.traceback_path(key))
        row = dict(row, recorded_at=time.time())
        atomic_write_text(json.dumps(row, default=_json_default), self.row_path(key))
        self.rows[key] = row
        self.rebuild_csv()

    def all_rows(self) -> List[Dict[str, Any]]:
        """Every row of the folder: the row files, then legacy ``cells.csv`` rows without one."""
        rows = {}
        for path in sorted((self.out / "rows").glob("*.json")):
            with open(path) as handle:
                rows[path.stem] = json.load(handle)
        return [*rows.values(), *(row for key, row in self.legacy.items() if key not in rows)]

    def rebuild_csv(self) -> None:
        """Rewrite ``cells.csv`` from every row file, under the folder's lock (atomic)."""
        with folder_lock(self.out / ".lock"):
            write_csv(self.path, self.all_rows(), COLUMNS)

    # ------------------------------------------------------------------ claims
    def claim(self, cell: Cell) -> bool:
        """Claim ``cell`` for this process; False while another live runner holds it."""
        path = self.claim_path(cell.config_hash())
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._claim_is_stale(path):
                    return False
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}, handle)
            return True
        return False

    def release(self, cell: Cell) -> None:
        self.claim_path(cell.config_hash()).unlink(missing_ok=True)

    def is_claimed(self, cell: Cell) -> bool:
        path = self.claim_path(cell.config_hash())
        return path.exists() and not self._claim_is_stale(path)

    @staticmethod
    def _claim_is_stale(path: Path) -> bool:
        try:
            with open(path) as handle:
                owner = json.load(handle)
        except (OSError, ValueError):
            return False  # being written right now
        if owner.get("host") != socket.gethostname():
            return False  # another machine's runner: cannot tell, wait
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError, TypeError):
            return False
        return False

    # ------------------------------------------------------------------ paths
    def row_path(self, key: str) -> Path:
        return self.out / "rows" / f"{key}.json"

    def claim_path(self, key: str) -> Path:
        return self.out / "claims" / key

    def details_path(self, key: str) -> Path:
        return self.out / "cells" / f"{key}.json"

    def traceback_path(self, key: str) -> Path:
        return self.out / "tracebacks" / f"{key}.txt"

    def checkpoint_path(self, key: str) -> Path:
        """The running cell's checkpoint folder: a runner that was stopped (Ctrl-C, SIGTERM, a lost
        machine) resumes the cell from its last evaluation; removed once the cell's row is recorded."""
        return self.out / "checkpoints" / key

    def details(self, cell_or_key) -> Dict[str, Any]:
        key = cell_or_key.config_hash() if isinstance(cell_or_key, Cell) else cell_or_key
        path = self.details_path(key)
        if not path.exists():
            return {}
        with open(path) as handle:
            return json.load(handle)


@contextlib.contextmanager
def folder_lock(path: Path):
    """An exclusive advisory lock on ``path`` (``fcntl.flock``; a no-op where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:  # Windows: row files stay the source of truth; cells.csv may lag a concurrent runner
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
