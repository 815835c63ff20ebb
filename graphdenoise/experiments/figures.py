r"""Matplotlib (Agg) counterparts of the TIL paper's figures, written as small PNGs.

Each function takes plain numbers (already aggregated over seeds), draws one figure and returns the
path it wrote; :mod:`graphdenoise.experiments.experiments` prepares the numbers from the cells.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..optional import require

MeanStd = Tuple[float, float]
DPI = 100

METHOD_COLORS = {"bpr": "#4c72b0", "wbpr": "#8172b2", "aobpr": "#937860", "pris": "#da8bc3", "tce": "#8c8c8c",
                 "rce": "#ccb974", "tce-bpr": "#64b5cd", "rce-bpr": "#55a868", "bod": "#937860",
                 "til-ui": "#dd8452", "til-mik": "#e6b422", "til-mi": "#c44e52"}
BACKBONE_MARKERS = {"mf": "o", "neumf": "^", "mgccf": "s", "lightgcn": "D"}
LABELS = {"bpr": "BPR", "wbpr": "WBPR", "aobpr": "AOBPR", "pris": "PRIS", "tce": "T-CE", "rce": "R-CE",
          "tce-bpr": "TCE-BPR", "rce-bpr": "RCE-BPR", "bod": "BOD", "til-ui": "TIL-UI", "til-mik": "TIL-MIK",
          "til-mi": "TIL-MI", "mf": "MF", "neumf": "NeuMF", "mgccf": "MGCCF", "lightgcn": "LightGCN",
          "deca": "DeCA", "deca-p": "DeCA(p)", "dcf": "DCF", "udt": "UDT", "bsl": "BSL", "bsl-tanh": "BSL (tanh)",
          "pld": "PLD", "sgdl": "SGDL", "erm-bce": "ERM (BCE)", "gmf": "GMF", "cdae": "CDAE"}


def label(name: str) -> str:
    return LABELS.get(name, name)


def color(name: str, index: int = 0) -> str:
    return METHOD_COLORS.get(name, f"C{index % 10}")


def _pyplot():
    # matplotlib is the 'plots' extra: a core install gets the pip line, not a bare ImportError
    matplotlib = require("matplotlib", "graphdenoise's figures")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    _pyplot().close(fig)
    tmp.replace(path)
    return path


def _grid(n: int, width: float = 4.6, height: float = 3.4):
    plt = _pyplot()
    cols = min(n, 3)
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _nan(value: float) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def grouped_bars(panels: Dict[str, Dict[str, Dict[str, MeanStd]]], path, ylabel: str, title: str,
                 xorder: Optional[Sequence[str]] = None, horizontal_zero: bool = False,
                 panel_width: float = 4.6) -> Path:
    r"""One panel per key of ``panels``; in each, groups along x and one bar per series.

    ``panels[panel][x][series] = (mean, std)``.
    """
    fig, axes = _grid(len(panels), width=panel_width)
    for ax, (panel, groups) in zip(axes, panels.items()):
        xs = list(xorder or groups)
        xs = [x for x in xs if x in groups]
        series = []
        for x in xs:
            for name in groups[x]:
                if name not in series:
                    series.append(name)
        width = 0.8 / max(len(series), 1)
        for s, name in enumerate(series):
            means = [groups[x].get(name, (float("nan"), 0.0))[0] for x in xs]
            stds = [groups[x].get(name, (float("nan"), 0.0))[1] for x in xs]
            positions = [i - 0.4 + width * (s + 0.5) for i in range(len(xs))]
            ax.bar(positions, [0 if _nan(m) else m for m in means], width,
                   yerr=[0 if _nan(v) else v for v in stds], capsize=2, label=label(name), color=color(name, s))
        ax.set_xticks(range(len(xs)))
        crowded = len(xs) > 6  # long method lists (natural-noise) would overlap
        ax.set_xticklabels([label(x) for x in xs], rotation=45 if crowded else 0, ha="right" if crowded else "center",
                           fontsize=8 if crowded else None)
        if horizontal_zero:
            ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def rating_heatmaps(panels: Dict[str, Dict], path, title: str) -> Path:
    r"""TIL Fig. 4: per method, mean learned weight (x100 / largest weight) by rating pair.

    ``panels[name] = {"ratings": [...], "mean_weight_x100": matrix, "subtitle": str}``.
    """
    fig, axes = _grid(len(panels), width=5.0, height=4.0)
    for ax, (name, panel) in zip(axes, panels.items()):
        ratings, matrix = panel["ratings"], panel["mean_weight_x100"]
        values = [[float("nan") if _nan(v) else v for v in row] for row in matrix]
        image = ax.imshow(values, cmap="viridis", origin="lower")
        for a in range(len(ratings)):
            for b in range(len(ratings)):
                if not _nan(values[a][b]):
                    ax.text(b, a, f"{values[a][b]:.1f}", ha="center", va="center", fontsize=7, color="white")
        ax.set_xticks(range(len(ratings)))
        ax.set_xticklabels(ratings)
        ax.set_yticks(range(len(ratings)))
        ax.set_yticklabels(ratings)
        ax.set_xlabel("rating(u, j) of the negative item")
        ax.set_ylabel("rating(u, i) of the positive item")
        if ratings and 4 in ratings and 3 in ratings:  # the paper's cell: i rated 4-5, j rated 1-3
            lo_j, hi_j = ratings.index(min(r for r in ratings if r <= 3)), ratings.index(3)
            lo_i, hi_i = ratings.index(4), ratings.index(max(ratings))
            from matplotlib.patches import Rectangle
            ax.add_patch(Rectangle((lo_j - 0.5, lo_i - 0.5), hi_j - lo_j + 1, hi_i - lo_i + 1, fill=False,
                                   edgecolor="red", linewidth=2))
        ax.set_title(f"{label(name)}\n{panel.get('subtitle', '')}", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def lines(panels: Dict[str, Dict[str, List[Tuple[float, float, float]]]], path, xlabel: str, ylabel: str,
          title: str, references: Optional[Dict[str, Dict[str, MeanStd]]] = None, logx: bool = False) -> Path:
    r"""One panel per key; ``panels[panel][series] = [(x, mean, std), ...]``; ``references[panel][name]``
    draws a dashed horizontal line (e.g. the tuned BPR)."""
    fig, axes = _grid(len(panels))
    for ax, (panel, series) in zip(axes, panels.items()):
        for s, (name, points) in enumerate(series.items()):
            points = sorted(points)
            ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[0.0 if _nan(p[2]) else p[2] for p in points],
                        marker="o",
                        capsize=2, label=label(name), color=color(name, s))
        for r, (name, (mean, std)) in enumerate((references or {}).get(panel, {}).items()):
            if not _nan(mean):
                ax.axhline(mean, linestyle="--", color=color(name, r + 5), label=f"{label(name)} (tuned)")
        if logx:
            ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def time_scatter(panels: Dict[str, List[Dict]], path, title: str) -> Path:
    r"""TIL Fig. 6: training time (x) vs test Recall@20 (y), colour = method, marker = backbone.

    ``panels[panel] = [{"method", "backbone", "seconds", "recall", "recall_std"}, ...]``.
    """
    plt = _pyplot()
    fig, axes = _grid(len(panels), width=5.0, height=3.8)
    for ax, (panel, points) in zip(axes, panels.items()):
        for point in points:
            std = point.get("recall_std", 0.0)
            ax.errorbar(point["seconds"], point["recall"], yerr=0.0 if _nan(std) else std,
                        marker=BACKBONE_MARKERS.get(point["backbone"], "o"), color=color(point["method"]),
                        markersize=8, capsize=2, linestyle="none")
        ax.set_xlabel("training time (s, until early stop)")
        ax.set_ylabel("test Recall@20")
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
        methods = list(dict.fromkeys(p["method"] for p in points))
        backbones = list(dict.fromkeys(p["backbone"] for p in points))
        handles = [plt.Line2D([], [], color=color(m), marker="o", linestyle="none", label=label(m)) for m in methods]
        handles += [plt.Line2D([], [], color="grey", marker=BACKBONE_MARKERS.get(b, "o"), linestyle="none",
                               label=label(b)) for b in backbones]
        ax.legend(handles=handles, fontsize=7)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def roc_curves(panels: Dict[str, List[Dict]], path, title: str) -> Path:
    r"""ROC curves of learned weights at finding injected noise; ``panels[panel] = [{"method", "fpr",
    "tpr", "auc", "auc_std"}, ...]``."""
    fig, axes = _grid(len(panels), width=4.6, height=4.2)
    for ax, (panel, curves) in zip(axes, panels.items()):
        for c, curve in enumerate(curves):
            std = curve.get("auc_std", 0.0)
            ax.plot(curve["fpr"], curve["tpr"], color=color(curve["method"], c),
                    label=f"{label(curve['method'])} (AUC {curve['auc']:.3f}"
                    + (")" if _nan(std) or not std else f" ± {std:.3f})"))
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance (AUC 0.5)")
        ax.set_xlabel("false positive rate (noisy triplets kept)")
        ax.set_ylabel("true positive rate (clean triplets kept)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)
