r"""The natural-noise benchmark (issue 14): denoisers beside a tuned plain control on real low ratings.

Training uses every interaction of ``ml-100k-natural`` / ``modcloth`` (low ratings included, marked
``is_noise``); validation and test use the clean held-out interactions, as the DeCA authors and the
RecSys'25 study ("Are We Really Making Recommendations Robust?", ``bachml/EvalDenoisingRec``) do.
Every cell runs with :class:`~graphdenoise.experiments.analysis.SelectionTrace`, so one training run
reports the test metrics at the evaluation each selection rule (clean validation Recall@20, noisy
validation Recall@20, validation BCE, the study's revised BCE) would choose; the reported state itself
(and the lr / L2 search) is selected on clean validation Recall@20 only. After training,
:func:`~graphdenoise.experiments.analysis.natural_noise` measures how well the method's weights rank
the clean training interactions above the low-rated ones (AUC).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import figures
from .analysis import RULE_KEYS, rule_selections
from .report import fmt, table
from .runner import ExperimentRun, Group
from .runner import mean_std as _mean_std
from .store import write_csv

NATURAL_METHODS = ("bpr", "tce", "rce", "deca", "deca-p", "dcf", "udt", "bsl", "pld", "sgdl", "til-ui", "bod")
NATURAL_ON_REQUEST = ("bsl-tanh",)
"""Methods the experiment analyses like its own but runs only when named (``--methods bsl-tanh``: BSL with a
bounded score, for backbones with a learned output layer)."""
KS = (5, 10, 20, 50)
RULES = tuple(RULE_KEYS)
METRICS = tuple(f"{m}@{k}" for m in ("recall", "ndcg") for k in KS)


def mean_std(values):
    return _mean_std(values, single_std=math.nan)


def cell_summaries(run: ExperimentRun, group: Group) -> Dict[int, Dict[str, Any]]:
    r"""Per seed of ``group``'s finished cells: test metrics of the validation-selected state (every
    cut-off, from the trace: the same state the trainer restores), the test metrics each selection rule
    picks (:func:`rule_selections`), noise-detection AUCs and s / epoch."""
    out = {}
    for cell in run.final_cells(group):
        row = run.row(cell)
        if row.get("status") != "ok":
            continue
        details = run.store.details(cell)
        analysis, rules = details.get("analysis") or {}, rule_selections(details.get("history", []), METRICS)
        if "val" not in rules:
            continue
        out[cell.seed] = {"test": rules["val"], "sec_per_epoch": row["sec_per_epoch"], "rules": rules,
                          "weight_auc": analysis.get("weight_auc", math.nan),
                          "margin_auc": analysis.get("margin_auc", math.nan)}
    return out


def _paired_gap(cells: Dict[int, Dict], control: Dict[int, Dict], rule: Optional[str] = None):
    """``(method - control) / control`` of test Recall@20 per shared seed, mean and std."""
    def value(summary):
        return summary["test"].get("recall@20") if rule is None else summary["rules"].get(rule, {}).get("recall@20")
    gaps = [value(cells[s]) / value(control[s]) - 1 for s in cells if s in control
            and value(cells[s]) is not None and value(control[s])]
    return mean_std(gaps)


def summary_rows(run: ExperimentRun) -> List[Dict[str, Any]]:
    r"""One row per group: means / stds over seeds of every metric, the paired gap to the block's
    control, the AUCs, s / epoch and its ratio to the control's, and Recall@20 under every rule."""
    rows, controls = [], {}
    for group in run.groups():
        cells = cell_summaries(run, group)
        if group.control:
            controls[group.block] = cells
        control = controls.get(group.block, {})
        row: Dict[str, Any] = {"dataset": group.dataset.label, "backbone": group.backbone, "method": group.label,
                               "seeds": len(cells)}
        for metric in METRICS:
            row[f"test_{metric}"], row[f"test_{metric}_std"] = mean_std([c["test"].get(metric) for c in cells.values()])
        row["gap_recall@20"], row["gap_recall@20_std"] = _paired_gap(cells, control)
        for key in ("weight_auc", "margin_auc", "sec_per_epoch"):
            row[key], row[f"{key}_std"] = mean_std([c[key] for c in cells.values()])
        base = mean_std([c["sec_per_epoch"] for c in control.values()])[0]
        row["time_ratio"] = row["sec_per_epoch"] / base if base and not math.isnan(base) else math.nan
        for rule in RULES:
            picks = [c["rules"][rule] for c in cells.values() if rule in c["rules"]]
            row[f"{rule}_recall@20"], row[f"{rule}_recall@20_std"] = mean_std([p["recall@20"] for p in picks])
            row[f"{rule}_epoch"] = mean_std([p["epoch"] for p in picks])[0]
            row[f"{rule}_gap"], row[f"{rule}_gap_std"] = _paired_gap(cells, control, rule)
        choice = run.selections.get(group)
        row["lr_l2"] = "/".join(f"{v:g}" for v in choice[:2]) if choice else "–"
        rows.append(row)
    return rows


def _main_table(rows: List[Dict[str, Any]]) -> str:
    header = ["dataset", "backbone", "method", "seeds", "test R@20 (%)", "test N@20 (%)",
              "R@20 vs control, paired (%)", "weight AUC", "margin AUC", "s / epoch", "x control", "lr / L2"]
    body = [[r["dataset"], figures.label(r["backbone"]), figures.label(r["method"]), str(r["seeds"]),
             fmt(r["test_recall@20"], r["test_recall@20_std"]), fmt(r["test_ndcg@20"], r["test_ndcg@20_std"]),
             fmt(r["gap_recall@20"], r["gap_recall@20_std"], digits=1),
             fmt(r["weight_auc"], r["weight_auc_std"], scale=1, digits=3),
             fmt(r["margin_auc"], r["margin_auc_std"], scale=1, digits=3),
             fmt(r["sec_per_epoch"], r["sec_per_epoch_std"], scale=1), fmt(r["time_ratio"], scale=1), r["lr_l2"]]
            for r in rows]
    return table(header, body, ["l", "l", "l", "r"] + ["r"] * (len(header) - 4))


def _cutoff_table(rows: List[Dict[str, Any]]) -> str:
    header = ["dataset", "backbone", "method"] + [f"{m[0].upper()}@{k}" for m in ("recall", "ndcg") for k in KS]
    body = [[r["dataset"], figures.label(r["backbone"]), figures.label(r["method"])]
            + [fmt(r[f"test_{m}"], r[f"test_{m}_std"]) for m in METRICS] for r in rows]
    return table(header, body, ["l", "l", "l"] + ["r"] * len(METRICS))


def _rule_table(rows: List[Dict[str, Any]]) -> str:
    header = ["dataset", "backbone", "method"] + [f"{rule}: R@20 (%) [epoch]" for rule in RULES] \
        + [f"{rule}: vs control (%)" for rule in RULES[1:]]
    body = [[r["dataset"], figures.label(r["backbone"]), figures.label(r["method"])]
            + [f"{fmt(r[f'{rule}_recall@20'], r[f'{rule}_recall@20_std'])} [{fmt(r[f'{rule}_epoch'], scale=1, digits=0)}]"
               for rule in RULES]
            + [fmt(r[f"{rule}_gap"], r[f"{rule}_gap_std"], digits=1) for rule in RULES[1:]] for r in rows]
    return table(header, body, ["l", "l", "l"] + ["r"] * (len(header) - 3))


def report_natural_noise(run: ExperimentRun, out: Path):
    rows = summary_rows(run)
    columns = list(rows[0]) if rows else ["dataset"]
    write_csv(out / "natural-noise-summary.csv", rows, columns)
    panels: Dict[str, Dict[str, Dict]] = {}
    for r in rows:
        panel = panels.setdefault(f"{r['dataset']} / {figures.label(r['backbone'])}", {})
        panel[r["method"]] = {rule: (r[f"{rule}_recall@20"] * 100, r[f"{rule}_recall@20_std"] * 100)
                              for rule in RULES}
    path = figures.grouped_bars(panels, out / "figures" / "natural-noise.png", ylabel="test Recall@20 (%)",
                                title="Natural noise: test Recall@20 at the state each selection rule picks "
                                      "(mean ± std over seeds)", panel_width=7.5)
    text = ("## Denoisers on natural noise beside a tuned control\n\n"
            "Reported state and lr / L2 chosen on clean validation Recall@20. `R@20 vs control` is "
            "`(method - control) / control` of test Recall@20 paired by seed (mean ± std); the control is the "
            "block's first row (the tuned BPR; pointwise ERM on CDAE, trained on users' rows like its "
            "denoisers, as in the RecSys'25 study). `weight AUC`: the method's "
            "weights at ranking clean training interactions above the low-rated ones (0.5 = no information; "
            "BPR's constant weights give 0.5); `margin AUC`: the same for the model's score margin. `x control`: "
            "s / epoch over the control's on the same backbone (training only).\n\n" + _main_table(rows)
            + "\n\n### Every cut-off (test, clean split, full ranking)\n\n" + _cutoff_table(rows)
            + "\n\n### What each model-selection rule picks\n\nFrom the same runs: test Recall@20 at the evaluation "
            "each rule would select (mean epoch in brackets), and its paired gap to the control selected by the "
            "same rule. `val` = clean validation Recall@20 (the reported state), `val_noisy` = Recall@20 on every "
            "validation interaction, `val_loss` = validation BCE with one sampled negative, `val_loss_revised` = "
            "the RecSys'25 study's ERM_RE (the highest-loss 20% of validation positives left out). Runs stop "
            "early on clean validation Recall@20, so the other rules choose among the evaluations that ran.\n\n"
            + _rule_table(rows))
    return text, [path]
