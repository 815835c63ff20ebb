r"""The results folder of the harness: one CSV row per cell, written atomically, keyed by config hash.

Layout of ``out/``::

    cells.csv              every cell ever run here (any experiment), one row per config hash
    cells/<hash>.json      the cell's config, metrics, per-epoch history and diagnostics
    tracebacks/<hash>.txt  the traceback of a failed cell
    <experiment>.csv       the cells of one experiment (with their role: grid point or final seed)
    <experiment>.md        its report; figures/<experiment>*.png its figures

A cell whose row says ``ok`` is never run again (resume); a ``failed`` one is retried by the next
invocation (e.g. once the missing method exists).
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from ..train.checkpoint import atomic_write_text
from .spec import Cell, noise_label

#: Columns of ``cells.csv`` and of the per-experiment CSVs (the latter add ``experiment``, ``group`` and ``role``).
COLUMNS = [
    "dataset", "backbone", "method", "seed", "noise", "options", "lr", "l2", "config_hash", "status", "error",
    "epochs_run", "best_epoch", "val_recall@20", "val_ndcg@20", "test_recall@20", "test_ndcg@20",
    "sec_per_epoch", "train_seconds", "wall_seconds", "peak_mem_mb", "mem_kind", "device", "analysis", "code",
]
EXPERIMENT_COLUMNS = ["experiment", "group", "role"] + COLUMNS
NUMERIC = {"seed", "lr", "l2", "epochs_run", "best_epoch", "val_recall@20", "val_ndcg@20", "test_recall@20",
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
            "lr": float(cell.lr), "l2": float(cell.l2), "config_hash": cell.config_hash(),
            "analysis": cell.analysis or ""}


class ResultStore:
    r"""The cells of an output folder, persisted after every change.

    Args:
        out (str or Path): The output folder (created).
    """

    def __init__(self, out):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / "cells.csv"
        self.rows: Dict[str, Dict[str, Any]] = {row["config_hash"]: row for row in read_csv(self.path)}

    def get(self, cell: Cell) -> Optional[Dict[str, Any]]:
        return self.rows.get(cell.config_hash())

    def is_done(self, cell: Cell) -> bool:
        row = self.get(cell)
        return row is not None and row.get("status") == "ok"

    def record(self, row: Dict[str, Any], details: Optional[Dict[str, Any]] = None,
               traceback_text: Optional[str] = None) -> None:
        """Store ``row`` (replacing an earlier row of the same hash) and rewrite ``cells.csv`` atomically."""
        key = row["config_hash"]
        if details is not None:
            atomic_write_text(json.dumps(details, indent=1, default=_json_default), self.details_path(key))
        if traceback_text is not None:
            atomic_write_text(traceback_text, self.traceback_path(key))
        self.rows[key] = row
        write_csv(self.path, self.rows.values(), COLUMNS)

    def details_path(self, key: str) -> Path:
        return self.out / "cells" / f"{key}.json"

    def traceback_path(self, key: str) -> Path:
        return self.out / "tracebacks" / f"{key}.txt"

    def details(self, cell_or_key) -> Dict[str, Any]:
        key = cell_or_key.config_hash() if isinstance(cell_or_key, Cell) else cell_or_key
        path = self.details_path(key)
        if not path.exists():
            return {}
        with open(path) as handle:
            return json.load(handle)


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
