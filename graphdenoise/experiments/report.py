r"""Markdown pieces of the reports: mean ± std cells, best / second best marks, tables, machine info."""
from __future__ import annotations

import math
import os
import platform
from typing import Dict, List, Optional, Sequence

import torch

from .runner import ExperimentRun, Group
from .runner import mean_std as _mean_std


def mean_std(values):
    """Mean and std over seeds; the std of a single seed is NaN (shown as nothing)."""
    return _mean_std(values, single_std=math.nan)


def fmt(mean: float, std: Optional[float] = None, scale: float = 100.0, digits: int = 2) -> str:
    """``12.34 ± 0.56`` (values x ``scale``); ``–`` for NaN."""
    if mean is None or math.isnan(mean):
        return "–"
    text = f"{mean * scale:.{digits}f}"
    if std is not None and not math.isnan(std):
        text += f" ± {std * scale:.{digits}f}"
    return text


def mark_best(values: Dict[str, float], texts: Dict[str, str]) -> Dict[str, str]:
    r"""Bold the best and underline the second best of ``values`` (higher is better), as in the paper."""
    ranked = sorted((v, k) for k, v in values.items() if v is not None and not math.isnan(v))[::-1]
    out = dict(texts)
    if ranked:
        out[ranked[0][1]] = f"**{texts[ranked[0][1]]}**"
    if len(ranked) > 1:
        out[ranked[1][1]] = f"<u>{texts[ranked[1][1]]}</u>"
    return out


def table(header: Sequence[str], rows: List[Sequence[str]], align: Optional[Sequence[str]] = None) -> str:
    align = align or ["l"] * len(header)
    sep = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def metric_stats(run: ExperimentRun, group: Group, metric: str):
    """Mean, std and number of finished seeds of ``metric`` over the final cells of ``group``."""
    rows = run.final_rows(group)
    mean, std = mean_std([r.get(metric) for r in rows])
    return mean, std, len(rows)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> Dict[str, str]:
    info = {"nproc": str(os.cpu_count()), "cpu": cpu_model(), "torch": torch.__version__,
            "torch threads": str(torch.get_num_threads()), "python": platform.python_version(),
            "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    if hasattr(os, "getloadavg"):
        info["load"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return info


def group_columns(group: Group) -> List[str]:
    """The descriptive columns of a configuration: dataset, backbone, data (noise) and method."""
    return [group.dataset.label, group.backbone, group.noise.label if group.noise else "clean", group.label]


def details_table(run: ExperimentRun) -> str:
    """Per configuration: chosen lr / L2 and how, epochs, validation Recall@20, speed and memory."""
    rows = []
    for group in run.groups():
        choice = run.selections.get(group)
        finals = run.final_rows(group)
        n_total = len(run.final_cells(group))
        val = mean_std([r.get("val_recall@20") for r in finals])
        rows.append([*group_columns(group), f"{choice[0]:g}" if choice else "–", f"{choice[1]:g}" if choice else "–",
                     run.selection_source.get(group, ""),
                     f"{len(finals)}/{n_total}", fmt(*mean_std([r.get("epochs_run") for r in finals]), scale=1, digits=1),
                     fmt(*mean_std([r.get("best_epoch") for r in finals]), scale=1, digits=1), fmt(*val),
                     fmt(mean_std([r.get("sec_per_epoch") for r in finals])[0], scale=1),
                     fmt(mean_std([r.get("train_seconds") for r in finals])[0], scale=1, digits=0),
                     fmt(max([r.get("peak_mem_mb") for r in finals] or [float("nan")]), scale=1, digits=0)])
    return table(["dataset", "backbone", "data", "method", "lr", "L2", "lr / L2 from", "seeds ok", "epochs run",
                  "best epoch", "valid R@20 (%)", "s / epoch", "train s", "peak MB"], rows,
                 ["l", "l", "l", "l", "r", "r", "l", "r", "r", "r", "r", "r", "r", "r"])


def failures_section(run: ExperimentRun) -> str:
    failures = run.failures()
    text = "No cell failed."
    if failures:
        rows = [[e.cell.config_hash(), e.cell.dataset.label, e.cell.backbone, e.cell.method, str(e.cell.seed),
                 row.get("error", "").replace("|", "/")[:200]] for e, row in failures]
        text = (f"{len(failures)} cell(s) failed (tracebacks in `tracebacks/<hash>.txt`; they are retried by the "
                "next invocation):\n\n" + table(["hash", "dataset", "backbone", "method", "seed", "error"], rows))
    missing = missing_section(run)
    return text + ("\n\n" + missing if missing else "")


def missing_section(run: ExperimentRun) -> str:
    """The configurations with cells not run yet (a report of the finished cells only), and what is
    missing; empty when every cell has a row."""
    missing: Dict[Group, List[str]] = {}
    for entry in run.missing():
        missing.setdefault(entry.group, []).append(f"{entry.role} seed {entry.cell.seed} lr {entry.cell.lr:g}")
    rows = [[*group_columns(g), run.selection_source.get(g, ""), str(len(cells)), "; ".join(cells)]
            for g, cells in missing.items()]
    if not rows:
        return ""
    return (f"{sum(len(c) for c in missing.values())} cell(s) not run yet (a report of the finished cells only: "
            "a configuration whose lr / L2 grid is not finished has no reported seeds; the same command without "
            "`--report-only` runs them):\n\n"
            + table(["dataset", "backbone", "data", "method", "lr / L2 from", "cells", "which"], rows))


def run_time_summary(run: ExperimentRun) -> str:
    cells = [row for _, row in run.distinct()]
    ok = [r for r in cells if r.get("status") == "ok"]
    total = sum(float(r.get("wall_seconds") or 0) for r in ok)
    codes = sorted({str(r.get("code")) for r in ok if r.get("code")})
    missing = sum(1 for r in cells if not r)
    return (f"{len(cells)} distinct cells ({len(ok)} ok" + (f", {missing} not run yet: a report of the finished "
            "cells only" if missing else "") + "); their training and evaluation took "
            f"{total / 60:.1f} min of wall-clock time in total (sum over cells, as recorded when each ran); "
            f"this invocation ran {run.ran}, reused {run.skipped} and took {run.seconds / 60:.1f} min."
            + (f" Code (git) of the cells: {', '.join(codes)}." if codes else ""))
