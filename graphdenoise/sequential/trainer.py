r"""The trainer of the sequence task: CTR samples, a method's plan and objective, Adam,
validation-only selection (the loop itself is :class:`~graphdenoise.train.loop.TrainingLoop`, shared
with the interaction-graph task: the same step protocol, model selection, checkpoints and exact
resume).

Protocol guardrails as in :class:`graphdenoise.train.Trainer`: the validation split is required;
early stopping and the choice of the returned state use validation metrics only (AUC by default);
the test split is evaluated once, for the selected state. Auxiliary models of a method (ATJT's
noise recognition model) are training-only and are not part of the selected state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional

import torch

from ..methods.base import SetupContext, StepContext
from ..train.loop import TrainingLoop
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
    checkpoint_dir: Optional[str] = None
    """Where ``last.pt`` is written at each evaluation (None: no checkpoints)."""
    resume: bool = False
    """Continue from ``checkpoint_dir/last.pt`` when it exists (exact: same results as uninterrupted)."""

    def __post_init__(self):
        check_fields(self, epochs=">= 1", batch_size=">= 2", lr="> 0", weight_decay=">= 0",
                     eval_every=">= 1", patience=">= 0", eval_batch_size=">= 1", monitor=MONITORS)


class SequenceTrainer(TrainingLoop):
    r"""Trains a sequence encoder with a sequential method on a :class:`SequenceData` view.

    Args:
        model (SequenceModel): The recommender f.
        method (SequenceMethod): ``BCE()`` or an ATJT variant.
        data (SequenceData): The view (with validation and test targets).
        config (SequenceTrainerConfig, optional): Options.
        callbacks (list, optional): Called as ``callback(epoch, record)`` after every epoch.
        fingerprint (dict, optional): The run's fingerprint written into checkpoints and checked on
            resume (:func:`~graphdenoise.train.fingerprint.run_fingerprint` of the inputs if :obj:`None`).
    """

    zero_to_none = True
    method_train_mode = False  # ATJT's rounds set g's mode; DNR's frozen g stays in eval mode

    def __init__(self, model: SequenceModel, method: SequenceMethod, data: SequenceData,
                 config: Optional[SequenceTrainerConfig] = None,
                 callbacks: Optional[List[Callable[[int, dict], None]]] = None, fingerprint: Optional[dict] = None):
        self.config = config = config or SequenceTrainerConfig()
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.method = method
        self.data = data
        if data.num_targets("val") == 0:
            raise ValueError("training needs a non-empty validation split: model selection never uses test")
        if data.num_targets("train") == 0:
            raise ValueError("the sequential view has no training targets")
        self.sample_generator = torch.Generator().manual_seed(config.seed)
        self.method.setup(self.model, data, SetupContext(lr=config.lr, epochs=config.epochs,
                                                         seed=config.seed, device=self.device))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                          fused=self.device.type in ("cpu", "cuda"))
        self.fingerprint = fingerprint  # checked on resume (computed from the inputs when None)
        self.init_loop(callbacks)

    def batches(self) -> Iterator:
        """Fresh negatives, the method's plan, one ``(batch, ctx)`` per planned step."""
        cfg, method, data = self.config, self.method, self.data
        samples = data.training_samples(self.sample_generator)
        rounds = method.plan(samples, cfg.batch_size, self.sample_generator)
        for round_ in rounds:
            method.begin_round(round_.index)
            for step in round_.steps:
                batch = data.batch(samples.subset(step.rec)).to(self.device)
                aux = [data.batch(samples.subset(index)).to(self.device) for index in step.aux]
                yield batch, StepContext(step=self.step, epoch=self.epoch, lr=cfg.lr, aux=aux)

    def snapshot(self) -> dict:
        return {"model": self.model.state_dict()}  # the method's models are training-only

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])

    def task_state_dict(self) -> dict:
        return {"sample_generator": self.sample_generator.get_state()}

    def load_task_state_dict(self, state: dict) -> None:
        self.sample_generator.set_state(state["sample_generator"])

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
