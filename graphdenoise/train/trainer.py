r"""The trainer of the interaction-graph task: triplet batches from the method's sampling spec, the
method's objective, Adam, validation-only model selection (the loop itself is
:class:`~graphdenoise.train.loop.TrainingLoop`, shared with the sequence task).

Protocol guardrails are built in: the validation split is required; early stopping and the choice of
the returned state use validation metrics only; the test split is evaluated once, for the selected
state. Checkpoints (written atomically at each evaluation) hold everything an exact resume needs:
model, optimisers (the recommender's and the method's declared ones), method state, sampler
generators, RNG states, epoch and history.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch_geometric.data import HeteroData

from ..datasets.graph import num_users_items, train_edges
from ..distributed import SINGLE, current_world
from ..methods.base import BatchSource, Method, SetupContext, StepContext
from ..metrics import RankingEvaluator
from ..metrics.validation import SELECT_ON, check_selection, selection_label, selection_value
from ..models.base import Recommender
from ..sampling import TripletBatch, TripletSampler, UserBatchSampler
from ..utils import InteractionIndex, resolve_device
from ..config import check_fields
from .loop import TrainingLoop


@dataclass
class TrainerConfig:
    """Options of :class:`Trainer` (the TIL paper's settings where it gives them)."""

    epochs: int = 300
    """Maximum number of epochs."""
    batch_size: int = 5000
    """Triplets per batch (TIL paper: 5000); USERS per batch where the method trains an auto-encoder
    on users' rows (``SamplingSpec.batches``: DeCA and UDT on CDAE, as their authors)."""
    lr: float = 1e-3
    """Adam learning rate of the recommender."""
    l2: float = 1e-4
    """Weight of the L2 penalty on the embeddings used in a batch."""
    eval_every: int = 5
    """Evaluate on validation every this many epochs (and after the last)."""
    patience: int = 5
    """Stop after this many evaluations without improvement of ``monitor`` (0 disables)."""
    monitor: str = "recall@20"
    """Validation metric for early stopping and model selection."""
    select_on: str = "val"
    """Model-selection rule: ``val`` (``monitor`` on the clean validation split), ``val_noisy`` (``monitor``
    on every validation interaction of natural-noise data), ``val_loss`` (BCE with one sampled negative
    per validation positive) or ``val_loss_revised`` (the RecSys'25 study's ERM_RE: the same, without
    the ``revised_drop_share`` highest-loss positives); see :mod:`graphdenoise.metrics.validation`."""
    revised_drop_share: float = 0.2
    """Share of the highest-loss validation positives that ``val_loss_revised`` leaves out (the study: 0.2)."""
    ks: Sequence[int] = (10, 20, 50)
    """Cut-offs of the reported metrics."""
    seed: int = 0
    """Seed of initialisation, sampling and every random choice of the run."""
    device: Optional[str] = None
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``...; None picks CUDA when available."""
    checkpoint_dir: Optional[str] = None
    """Where ``last.pt`` is written at each evaluation (None: no checkpoints)."""
    resume: bool = False
    """Continue from ``checkpoint_dir/last.pt`` when it exists."""
    show_progress: bool = True
    """An overall bar (epoch N of max, ETA, best validation metric) over a per-batch bar, and a
    one-line summary per evaluation (:mod:`graphdenoise.train.progress`)."""
    num_negatives: int = 1
    """Negatives per positive."""
    eval_memory_mb: float = 512
    """Score-buffer budget of the full-ranking evaluation."""
    distributed: bool = False
    """Data-parallel over the initialised ``torch.distributed`` process group (see
    :mod:`graphdenoise.distributed`); ``batch_size`` stays the global batch."""

    def __post_init__(self):
        check_fields(self, epochs=">= 1", batch_size=">= 1", lr="> 0", l2=">= 0", eval_every=">= 1",
                     patience=">= 0", num_negatives=">= 1", revised_drop_share="[0, 1)", select_on=SELECT_ON)
        self.ks = tuple(self.ks)
        metric, _, k = self.monitor.partition("@")
        if not k.isdigit() or int(k) not in self.ks:
            raise ValueError(f"monitor={self.monitor!r} must be '<metric>@k' with k in ks={self.ks}")


class _DeviceBatches(BatchSource):
    """The sampler's extra batches, moved to the training device (what :class:`StepContext` offers)."""

    def __init__(self, sampler: TripletSampler, device: torch.device):
        self.sampler, self.device = sampler, device

    def random_batch(self, size: int, holdout: bool = False) -> TripletBatch:
        return self.sampler.random_batch(size, holdout=holdout).to(self.device)


class Trainer(TrainingLoop):
    r"""Trains ``model`` with ``method`` on ``data``.

    Args:
        model (Recommender): The backbone.
        method (Method): The training method (``BPR()`` for plain BPR).
        data (HeteroData): The dataset with ``val`` and ``test`` splits.
        config (TrainerConfig, optional): Options.
        callbacks (list, optional): Called as ``callback(epoch, record)`` after every epoch.
        fingerprint (dict, optional): The run's fingerprint written into checkpoints and checked on
            resume (:func:`~graphdenoise.train.fingerprint.run_fingerprint` of the inputs if :obj:`None`).
    """

    zero_to_none = False  # dense .grad kept across steps: row-sparse lookups add into it

    def __init__(self, model: Recommender, method: Method, data: HeteroData, config: Optional[TrainerConfig] = None,
                 callbacks: Optional[List[Callable[[int, dict], None]]] = None, fingerprint: Optional[dict] = None):
        self.config = config = config or TrainerConfig()
        self.world = current_world() if config.distributed else SINGLE
        if config.distributed and not self.world.is_distributed and not dist.is_initialized():
            raise ValueError("distributed=True needs an initialised torch.distributed process group "
                             "(launch with torchrun and pass --distributed, or call init_process_group)")
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.method = method.to(self.device)
        self.data = data
        self.evaluator = RankingEvaluator(data, ks=config.ks, memory_budget_mb=config.eval_memory_mb)
        if "val" not in self.evaluator.indices or self.evaluator.indices["val"].num_pairs == 0:
            raise ValueError("training needs a non-empty validation split: model selection never uses test")
        check_selection(config.select_on, self.evaluator)
        self.sampler = self.build_sampler(method, data)
        self.method.setup(self.model, data, SetupContext(
            lr=config.lr, num_negatives=self.sampler.num_negatives, batches_per_epoch=len(self.sampler),
            epochs=config.epochs, negatives=self.sampler.negative_sampler, world=self.world, seed=config.seed,
            device=self.device, batches=self.batches_kind))
        if self.sampler.negative_sampler is not None:
            self.sampler.negative_sampler.bind(self.model, len(self.sampler))
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=fused)
        for param in self.model.parameters():  # dense .grad kept across steps: row-sparse lookups add into it
            param.grad = torch.zeros_like(param)
        self.source = _DeviceBatches(self.sampler, self.device)
        self.fingerprint = fingerprint  # checked on resume (computed from the inputs when None)
        self.init_loop(callbacks)

    def build_sampler(self, method: Method, data: HeteroData):
        """The sampler of ``method``'s :meth:`~Method.sampling` spec: triplets, or (``batches='users'``
        on a backbone trained on users' rows) a :class:`~graphdenoise.sampling.UserBatchSampler` whose
        batches hold ``batch_size`` users."""
        cfg, spec, name = self.config, method.sampling(), type(method).__name__
        index = InteractionIndex(train_edges(data), *num_users_items(data))
        self.batches_kind = spec.resolve_batches(self.model, name)
        if self.batches_kind == "users":
            return UserBatchSampler(data, batch_size=cfg.batch_size, negatives=spec.user_negatives, index=index,
                                    num_negatives=spec.resolve_num_negatives(cfg.num_negatives, name),
                                    seed=cfg.seed, rank=self.world.rank, world_size=self.world.world_size)
        return TripletSampler(data, batch_size=cfg.batch_size, index=index, negative_sampler=spec.build_negatives(index),
                              num_negatives=spec.resolve_num_negatives(cfg.num_negatives, name),
                              seed=cfg.seed, rank=self.world.rank, world_size=self.world.world_size,
                              holdout_fraction=spec.holdout_fraction, draw_negatives=spec.draw_negatives)

    # ------------------------------------------------------------------ the task
    def batches(self) -> Iterator:
        cfg, batches_per_epoch = self.config, len(self.sampler)
        for batch in self.sampler:
            ctx = StepContext(step=self.step, epoch=self.epoch, lr=cfg.lr, l2=cfg.l2,
                              batches_per_epoch=batches_per_epoch, world=self.world, source=self.source)
            yield batch.to(self.device), ctx

    def num_batches(self) -> int:
        return len(self.sampler)

    def after_batch(self, ctx: StepContext) -> None:
        if self.sampler.negative_sampler is not None:
            self.sampler.negative_sampler.update(self.model, ctx.step)

    def evaluate(self, split: str = "val") -> Dict[str, float]:
        """Full-ranking metrics of the current model on ``split``."""
        return self.evaluator.evaluate(self.model, split, world=self.world)

    def task_state_dict(self) -> dict:
        return {"sampler": self.sampler.state_dict()}

    def selection_value(self, metrics: Dict[str, float], record: dict) -> float:
        return selection_value(self, metrics, record)  # the rule of ``config.select_on``

    def selection_label(self) -> str:
        return selection_label(self.config)

    def load_task_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
