r"""Model selection on natural noise: validation losses and the rules that choose a training state.

On natural-noise data the validation set is itself noisy unless it is filtered by rating, and the
RecSys'25 study ("Are We Really Making Recommendations Robust? Revisiting Model Evaluation for Denoising
Recommendation", ``bachml/EvalDenoisingRec`` @ a36a902) found that selection on noisy held-out data
drifts from the clean test. :data:`SELECT_ON` offers the rules it compares:

* ``"val"``: the ranking metric ``monitor`` on the clean validation split (the default everywhere);
* ``"val_noisy"``: the same metric on every validation interaction (the study validates on
  ``ml100k.valid.rating`` = DeCA's ``valid.noisy``);
* ``"val_loss"``: the mean BCE on the validation positives and one sampled negative each (the study's
  ERM statistic, ``code/main.py:36-50,64``);
* ``"val_loss_revised"``: the study's ``ERM_RE`` / "ERMrevised" statistic (:func:`revised_bce`), the
  same BCE with the highest-loss share of validation positives left out as presumably noisy
  (``code/main.py:75-107``).

The losses use ``val_noisy`` when the dataset has it (the study's noisy validation set), else ``val``;
lower is better, so the selection value is the negated loss.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets.graph import held_out_edges, num_users_items, train_edges
from ..utils import InteractionIndex

SELECT_ON = ("val", "val_noisy", "val_loss", "val_loss_revised")


def revised_bce(pos_logits: Tensor, neg_logits: Tensor, drop_share: float = 0.2) -> Tensor:
    r"""The revised validation loss of the RecSys'25 study (``ERM_RE``, ``code/main.py:75-107``).

    With per-sample BCE-with-logits :math:`\ell^+_k` of the positives (label 1) and :math:`\ell^-_k` of
    the negatives (label 0), the ``int(n+ (1 - drop_share))`` smallest positive losses :math:`K` are kept
    (the share with the HIGHEST loss is dropped as presumably noisy; negatives are never dropped) and

    .. math::
        L = \frac{\sum_{k \in K} \ell^+_k + \sum_k \ell^-_k}{|K| + n^-}

    a mean over the pooled kept samples (line 102), not a mean of batch means. ``drop_share=0`` is the
    plain pooled BCE. The study hard-codes 0.2.
    """
    if not 0.0 <= drop_share < 1.0:
        raise ValueError(f"drop_share must lie in [0, 1), got {drop_share}")
    pos_loss = F.binary_cross_entropy_with_logits(pos_logits, torch.ones_like(pos_logits), reduction="none")
    neg_loss = F.binary_cross_entropy_with_logits(neg_logits, torch.zeros_like(neg_logits), reduction="none")
    keep = int(pos_loss.numel() * (1.0 - drop_share))
    kept = torch.topk(pos_loss.reshape(-1), keep, largest=False, sorted=False).values
    return (kept.sum() + neg_loss.sum()) / max(keep + neg_loss.numel(), 1)


def uniform_negatives(index: InteractionIndex, users: Tensor, generator: torch.Generator) -> Tensor:
    r"""One item per user drawn uniformly among the items the user has NOT in ``index`` (exact rejection,
    as the study's ``ng_sample``, ``code/data_utils.py:143-153``: redraw while ``(u, j)`` is a training
    pair; validation and test positives may be drawn)."""
    free = (index.num_items - index.counts[users]).clamp(min=1)
    rank = (torch.rand(users.numel(), generator=generator, device=users.device) * free).long()
    return index.nth_absent(users, torch.minimum(rank, free - 1))


@torch.no_grad()
def validation_loss(model, data, split: str = "val", drop_share: float = 0.0, seed: int = 0,
                    batch_size: int = 65536, index: Optional[InteractionIndex] = None) -> Dict[str, float]:
    r"""BCE of ``model`` on the positives of ``split`` and one uniform negative each (seeded), the
    highest-loss ``drop_share`` of positives left out (:func:`revised_bce`).

    Returns ``{"loss", "kept_positives"}``. The model is scored in eval mode (no drop-out / corruption).

    Args:
        model (Recommender): The backbone; its :meth:`forward` gives the logits.
        data (HeteroData): The dataset.
        split (str, optional): Held-out split of the positives. (default: ``"val"``)
        drop_share (float, optional): Share of the highest-loss positives left out; the study's
            ``ERM_RE`` uses 0.2. (default: :obj:`0.0`)
        seed (int, optional): Seed of the negatives (the study re-samples them at every evaluation:
            pass a different seed per evaluation). (default: :obj:`0`)
        batch_size (int, optional): Pairs scored at once. (default: :obj:`65536`)
        index (InteractionIndex, optional): The training pairs (built when :obj:`None`).
    """
    device = next(model.parameters()).device
    edges = held_out_edges(data, split).to(device)
    if edges.size(1) == 0:
        raise ValueError(f"the {split!r} split is empty: no validation loss")
    index = index or InteractionIndex(train_edges(data), *num_users_items(data))
    generator = torch.Generator(device=device).manual_seed(int(seed))
    negatives = uniform_negatives(index.to(device), edges[0], generator)
    was_training = model.training
    model.eval()
    pos, neg = [], []
    for start in range(0, edges.size(1), batch_size):
        users, items = edges[0, start:start + batch_size], edges[1, start:start + batch_size]
        pos.append(model(users, items))
        neg.append(model(users, negatives[start:start + batch_size]))
    model.train(was_training)
    loss = revised_bce(torch.cat(pos).double(), torch.cat(neg).double(), drop_share)
    return {"loss": float(loss), "kept_positives": int(edges.size(1) * (1.0 - drop_share))}


def check_selection(select_on: str, evaluator) -> None:
    r"""Raises a :class:`ValueError` when the selection rule ``select_on`` (one of :data:`SELECT_ON`, as
    :class:`~graphdenoise.train.TrainerConfig` checks) needs a split that the evaluator's dataset lacks."""
    if select_on == "val_noisy" and "val_noisy" not in evaluator.indices:
        raise ValueError("select_on='val_noisy' needs a noisy validation split (val_noisy_edge_label_index): "
                         "use a natural-noise dataset (ml-100k-natural, modcloth) or NaturalNoiseSplit")


def selection_label(config) -> str:
    r"""What :func:`selection_value` reports under ``config.select_on``, for progress lines."""
    if config.select_on in ("val", "val_noisy"):
        return f"{config.select_on} {config.monitor}"
    return f"-{config.select_on}"


def selection_value(trainer, metrics: Dict[str, float], record: Dict[str, float]) -> float:
    r"""The value (higher is better) by which ``trainer`` selects its state at this evaluation, under
    ``trainer.config.select_on`` (see the module docstring); what it computes beyond ``metrics`` (the
    clean validation metrics) is added to ``record`` (``val_noisy/recall@20``, ``val/loss_revised``...).

    The loss negatives are re-drawn at every evaluation, as in the study, from a seed fixed by the run's
    seed and the epoch (so a resumed run draws the same ones).
    """
    cfg = trainer.config
    if cfg.select_on == "val":
        return metrics[cfg.monitor]
    if cfg.select_on == "val_noisy":
        noisy = trainer.evaluator.evaluate(trainer.model, "val_noisy", world=trainer.world)
        record.update({f"val_noisy/{k}": v for k, v in noisy.items()})
        return noisy[cfg.monitor]
    split = "val_noisy" if "val_noisy" in trainer.evaluator.indices else "val"
    share = cfg.revised_drop_share if cfg.select_on == "val_loss_revised" else 0.0
    out = validation_loss(trainer.model, trainer.data, split, share, seed=cfg.seed * 1_000_003 + trainer.epoch)
    record[f"{split}/{cfg.select_on[4:]}"] = out["loss"]
    return -out["loss"]
