r"""The sequential trainer: CTR samples, a method's plan and objective, Adam, validation-only selection.

Protocol guardrails as in :class:`graphdenoise.train.Trainer`: the validation split is required;
early stopping and the choice of the returned state use validation metrics only (AUC by default);
the test split is evaluated once, for the selected state. Auxiliary models of a method (ATJT's
noise recognition model) are training-only and are not part of the selected state.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch

from ..train.selection import record_validation
from ..utils import resolve_device
from .data import SequenceData
from .methods import SequenceMethod
from .metrics import candidate_metrics
from .models.base import SequenceModel
from ..config import check_fields

MONITORS = ("auc", "hr@5", "ndcg@5")


@dataclass
class SequenceTrainerConfig:
    """Options of :class:`SequenceTrainer`."""

    epochs: int = 20
    """Maximum number of epochs."""
    batch_size: int = 256
    """Samples per recommender batch ``M`` (ATJT's noise batches have the same size)."""
    lr: float = 1e-3
    """Adam learning rate of the recommender."""
    weight_decay: float = 0.0
    """Adam weight decay of the recommender."""
    eval_every: int = 1
    """Evaluate on validation every this many epochs (and after the last)."""
    patience: int = 3
    """Stop after this many evaluations without improvement of ``monitor`` (0 disables)."""
    monitor: str = "auc"
    """Validation metric of early stopping and model selection (``auc``, ``hr@5`` or ``ndcg@5``)."""
    seed: int = 0
    """Seed of initialisation, negatives, batching, partition and replacement."""
    device: Optional[str] = None
    """``"cpu"``, ``"cuda"``...; None picks CUDA when available."""
    show_progress: bool = True
    """A one-line summary per evaluation."""
    eval_batch_size: int = 256
    """Histories scored at once in evaluation (each with ``1 + eval_negatives`` candidates)."""

    def __post_init__(self):
        check_fields(self, epochs=">= 1", batch_size=">= 2", lr="> 0", weight_decay=">= 0",
                     eval_every=">= 1", patience=">= 0", eval_batch_size=">= 1", monitor=MONITORS)


class SequenceTrainer:
    r"""Trains a sequence encoder with a sequential method on a :class:`SequenceData` view.

    Args:
        model (SequenceModel): The recommender f.
        method (SequenceMethod): ``BCE()`` or an ATJT variant.
        data (SequenceData): The view (with validation and test targets).
        config (SequenceTrainerConfig, optional): Options.
        callbacks (list, optional): Called as ``callback(epoch, record)`` after every epoch.
    """

    def __init__(self, model: SequenceModel, method: SequenceMethod, data: SequenceData,
                 config: Optional[SequenceTrainerConfig] = None,
                 callbacks: Optional[List[Callable[[int, dict], None]]] = None):
        self.config = config = config or SequenceTrainerConfig()
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.method = method
        self.data = data
        if data.num_targets("val") == 0:
            raise ValueError("training needs a non-empty validation split: model selection never uses test")
        if data.num_targets("train") == 0:
            raise ValueError("the sequential view has no training targets")
        self.generator = torch.Generator().manual_seed(config.seed)
        self.method.setup(self.model, data, config.seed, self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.callbacks = list(callbacks or [])
        self.history: List[Dict[str, float]] = []
        self.epoch = 0
        self.best_metric = -math.inf
        self.best_epoch = 0
        self.best_state: Optional[dict] = None
        self.bad_evaluations = 0
        self.stopped_early = False

    def train_epoch(self) -> Dict[str, float]:
        """One epoch: fresh negatives, the method's plan, one optimisation step per planned step."""
        cfg, model, method, data = self.config, self.model, self.method, self.data
        start = time.perf_counter()
        model.train()
        samples = data.training_samples(self.generator)
        rounds = method.plan(samples, cfg.batch_size, self.generator)
        total, logs_sum, steps = torch.zeros((), device=self.device), {}, 0
        for round_ in rounds:
            method.begin_round(round_.index)
            for step in round_.steps:
                batch = data.batch(samples.subset(step.rec)).to(self.device)
                aux = [data.batch(samples.subset(index)).to(self.device) for index in step.aux]
                loss, logs = method.loss(model, batch, aux)
                optimizers = [self.optimizer, *method.optimizers()]
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in optimizers:
                    opt.step()
                total += loss.detach()
                steps += 1
                for key, value in logs.items():
                    logs_sum[key] = logs_sum.get(key, 0.0) + value
        record = {"epoch": self.epoch + 1, "loss": float(total) / max(steps, 1), "steps": steps}
        record.update({k: float(v) / max(steps, 1) for k, v in logs_sum.items()})
        record.update(method.end_epoch(data, samples, self.device))
        record["seconds"] = time.perf_counter() - start
        return record

    @torch.no_grad()
    def scores(self, split: str) -> torch.Tensor:
        r"""``[S, 1 + K]`` logits of every target of ``split`` (column 0) and its sampled candidates."""
        position, candidates = self.data.eval_candidates(split)
        was_training = self.model.training
        self.model.eval()
        out = []
        for part, cand in zip(position.split(self.config.eval_batch_size),
                              candidates.split(self.config.eval_batch_size)):
            user = self.data.user[part].to(self.device)
            history = self.data.history(part).to(self.device)
            out.append(self.model(user, history, cand.to(self.device)).float().cpu())
        self.model.train(was_training)
        return torch.cat(out)

    def evaluate(self, split: str = "val") -> Dict[str, float]:
        """AUC, HR@5 and NDCG@5 of the current model on ``split``."""
        return candidate_metrics(self.scores(split), ks=(5,))

    def fit(self) -> List[Dict[str, float]]:
        """Train until ``epochs`` or early stopping, then restore the best validation state."""
        cfg = self.config
        while self.epoch < cfg.epochs and not self.stopped_early:
            record = self.train_epoch()
            self.epoch += 1
            if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
                metrics = self.evaluate("val")
                record.update({f"val/{k}": v for k, v in metrics.items()})
                current = metrics[cfg.monitor]
                record_validation(self, current, self.model.state_dict)
                if cfg.show_progress:
                    extra = ""
                    if "w_clean" in record:
                        extra = f"  w clean/noisy {record['w_clean']:.3f}/{record['w_noisy']:.3f}"
                    print(f"epoch {self.epoch:3d}  loss {record['loss']:.4f}  val {cfg.monitor} {current:.4f}  "
                          f"best {self.best_metric:.4f} @ {self.best_epoch}{extra}  ({record['seconds']:.1f}s)",
                          flush=True)
            self.history.append(record)
            for callback in self.callbacks:
                callback(self.epoch, record)
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return self.history

    def final_metrics(self) -> Dict[str, Dict[str, float]]:
        """Validation and test metrics of the selected state (test is computed only here)."""
        return {"val": self.evaluate("val"), "test": self.evaluate("test")}
