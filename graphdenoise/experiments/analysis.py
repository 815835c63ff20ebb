r"""Post-training diagnostics of a cell: the TIL case study (Fig. 4) and ROC curves of learned weights.

Both build on :mod:`graphdenoise.metrics.noise`: :func:`case_study` reports
:func:`~graphdenoise.metrics.rating_pair_weights` and adds the mean weight of every (rating of the
positive, rating of the negative) pair, normalised like the paper's figure (by the largest triplet
weight, x100); :func:`noise_roc` reports :func:`~graphdenoise.metrics.noise_detection_auc` and the
ROC curve of the same weights (same seeded negatives), so the curve's AUC is the reported one.

For natural noise (``ml-100k-natural``, ``modcloth``: ``is_noise`` marks the low-rated training
interactions) :func:`natural_noise` reports the same AUCs, and :class:`SelectionTrace` records at every
evaluation what each model-selection rule of :data:`~graphdenoise.metrics.validation.SELECT_ON` compares,
beside the clean test metrics, so that one run shows the state every rule would select
(:func:`rule_selections`).
"""
from __future__ import annotations

from typing import Any, Dict

import torch

from ..datasets.graph import INTERACTS, train_edges
from ..metrics import noise_detection_auc, roc_auc
from ..metrics.noise import rated_pair_triplets, rating_pair_weights
from ..metrics.ranking import RankingEvaluator
from ..metrics.validation import validation_loss
from ..sampling import TripletSampler


@torch.no_grad()
def rating_grid(method, model, data, seed: int = 0) -> Dict[str, Any]:
    r"""Mean learned weight of same-user triplets by ``(rating(u, i), rating(u, j))``.

    Triplets are drawn as in :func:`~graphdenoise.metrics.rating_pair_weights` (for every training
    edge ``(u, i)`` one other training item ``j`` of ``u``). Returns the ratings, a matrix of mean
    weights x100 / the largest triplet weight (rows: positive's rating, columns: negative's) and the
    counts.
    """
    users, pos, neg, r_pos, r_neg = rated_pair_triplets(data, seed)
    device = next(model.parameters()).device
    model.eval()
    weight = method.weights(model, users.to(device), pos.to(device), neg.to(device)).detach().cpu().double()
    top = float(weight.max()) if weight.numel() else 1.0
    levels = sorted({int(r) for r in torch.cat([r_pos, r_neg]).tolist() if r == r})
    mean = [[float("nan")] * len(levels) for _ in levels]
    count = [[0] * len(levels) for _ in levels]
    for a, ra in enumerate(levels):
        for b, rb in enumerate(levels):
            mask = (r_pos == ra) & (r_neg == rb)
            count[a][b] = int(mask.sum())
            if count[a][b]:
                mean[a][b] = float(weight[mask].mean()) / top * 100
    return {"ratings": levels, "mean_weight_x100": mean, "count": count, "max_weight": top}


def case_study(method, model, data, seed: int = 0) -> Dict[str, Any]:
    """TIL Fig. 4 for one trained cell: :func:`rating_pair_weights` plus :func:`rating_grid`."""
    return {"rating_pair_weights": rating_pair_weights(method, model, data, generator_seed=seed),
            "rating_grid": rating_grid(method, model, data, seed=seed)}


@torch.no_grad()
def noise_roc(method, model, data, seed: int = 0, batch_size: int = 20000, points: int = 200) -> Dict[str, Any]:
    r"""ROC of the learned weights at ranking clean training triplets above injected noisy ones.

    Returns :func:`noise_detection_auc`'s summary and ``fpr`` / ``tpr`` (at most ``points`` points)
    of the curve over the same triplets; "positive" is a clean triplet, so AUC > 0.5 means the
    method down-weights the noise.
    """
    summary = noise_detection_auc(method, model, data, seed=seed, batch_size=batch_size)
    model.eval()
    device = next(model.parameters()).device
    sampler = TripletSampler(data, batch_size=batch_size, seed=seed, index=None)
    num_edges = train_edges(data).size(1)
    weights = []
    for start in range(0, num_edges, batch_size):
        batch = sampler.batch(torch.arange(start, min(start + batch_size, num_edges))).to(device)
        weights.append(method.weights(model, batch.users, batch.pos_items, batch.neg_items).detach().cpu())
    weight = torch.cat(weights).double()
    clean = ~data[INTERACTS].is_noise.bool()
    fpr, tpr = roc_curve(weight, clean, points)
    return {**summary, "curve_auc": roc_auc(weight, clean), "fpr": fpr, "tpr": tpr,
            "num_clean": int(clean.sum()), "num_noisy": int((~clean).sum())}


def roc_curve(scores: torch.Tensor, labels: torch.Tensor, points: int = 200):
    """``(fpr, tpr)`` lists of the ROC curve of ``scores`` for boolean ``labels`` (ties as one step)."""
    labels = labels.bool()
    order = torch.argsort(scores, descending=True)
    s, y = scores[order], labels[order].double()
    tps, fps = torch.cumsum(y, 0), torch.cumsum(1 - y, 0)
    last_of_tie = torch.ones_like(s, dtype=torch.bool)
    last_of_tie[:-1] = s[1:] != s[:-1]
    tps, fps = tps[last_of_tie], fps[last_of_tie]
    tpr = torch.cat([torch.zeros(1, dtype=torch.float64), tps / max(float(y.sum()), 1.0)])
    fpr = torch.cat([torch.zeros(1, dtype=torch.float64), fps / max(float((1 - y).sum()), 1.0)])
    if tpr.numel() > points:
        keep = torch.unique(torch.linspace(0, tpr.numel() - 1, points).round().long())
        tpr, fpr = tpr[keep], fpr[keep]
    return [round(float(v), 5) for v in fpr], [round(float(v), 5) for v in tpr]


def natural_noise(method, model, data, seed: int = 0) -> Dict[str, Any]:
    r""":func:`noise_detection_auc` on the real low-rated training interactions (``is_noise`` of a
    natural-noise dataset): how well the selected state's weights (``weight_auc``) and score margins
    (``margin_auc``) rank the clean interactions above the noisy ones."""
    return noise_detection_auc(method, model, data, seed=seed)


class SelectionTrace:
    r"""A trainer callback recording, at every evaluation, the values of every selection rule and the
    clean test metrics into the epoch's history record (keys ``trace/...``).

    The trainer has already compared its own rule (``select_on``) when callbacks run and never reads
    these keys, so test metrics choose nothing: :func:`rule_selections` reads, after training, which
    evaluation each rule would have chosen and what the test metrics were there. The loss negatives are
    seeded as :func:`~graphdenoise.metrics.validation.selection_value` seeds them.

    Args:
        data (HeteroData): The dataset (with ``val_noisy`` for natural noise).
        ks (tuple): Cut-offs of the test metrics. (default: ``(5, 10, 20, 50)``)
        drop_share (float): Share left out by the revised loss (the RecSys'25 study: 0.2). (default: ``0.2``)
    """

    def __init__(self, data, ks=(5, 10, 20, 50), drop_share: float = 0.2):
        self.data, self.ks, self.drop_share = data, tuple(ks), drop_share
        self.model, self.seed, self.evaluator = None, 0, None

    def attach(self, modules: Dict[str, Any], config: Dict[str, Any]) -> None:
        self.model, self.seed = modules["model"], int(config["trainer"]["seed"])
        self.evaluator = RankingEvaluator(self.data, ks=self.ks)

    def __call__(self, epoch: int, record: Dict[str, Any]) -> None:
        if "val/recall@20" not in record or self.model is None:
            return
        noisy = "val_noisy" in self.evaluator.indices
        for split in ("test", "val_noisy") if noisy else ("test",):
            record.update({f"trace/{split}/{k}": v for k, v in self.evaluator.evaluate(self.model, split).items()})
        split, seed = ("val_noisy" if noisy else "val"), self.seed * 1_000_003 + epoch
        record["trace/val_loss"] = validation_loss(self.model, self.data, split, 0.0, seed=seed)["loss"]
        record["trace/val_loss_revised"] = validation_loss(self.model, self.data, split, self.drop_share,
                                                           seed=seed)["loss"]


#: Selection rule -> (history key, True when higher is better).
RULE_KEYS = {"val": ("val/recall@20", True), "val_noisy": ("trace/val_noisy/recall@20", True),
             "val_loss": ("trace/val_loss", False), "val_loss_revised": ("trace/val_loss_revised", False)}


def rule_selections(history, metrics=("recall@20", "ndcg@20")) -> Dict[str, Dict[str, float]]:
    r"""For each rule of :data:`RULE_KEYS` found in ``history`` (a :class:`SelectionTrace` run), the
    first evaluation with the best value (as the trainer's selection keeps the first best) and the test
    ``metrics`` recorded there: ``{rule: {"epoch": e, "recall@20": ...}}``."""
    out = {}
    for rule, (key, higher) in RULE_KEYS.items():
        best = None
        for record in history:
            value = record.get(key)
            if value is None or value != value or f"trace/test/{metrics[0]}" not in record:
                continue
            if best is None or (value > best[0] if higher else value < best[0]):
                best = (value, record)
        if best is not None:
            out[rule] = {"epoch": best[1].get("epoch"), **{m: best[1][f"trace/test/{m}"] for m in metrics}}
    return out


ANALYSIS_FUNCTIONS = {"case-study": case_study, "noise-roc": noise_roc, "natural-noise": natural_noise}
#: Analyses whose cells also run a trainer callback (built from the cell's data).
ANALYSIS_CALLBACKS = {"natural-noise": SelectionTrace}
