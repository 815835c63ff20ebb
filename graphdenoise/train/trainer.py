r"""The generic trainer: triplet batches, a method's objective, Adam, validation-only model selection.

Protocol guardrails are built in: the validation split is required; early stopping and the choice of
the returned state use validation metrics only; the test split is evaluated once, for the selected
state. Checkpoints (written atomically at each evaluation) hold everything an exact resume needs:
model, optimisers, method state, sampler generator, RNG states, epoch and history.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch_geometric.data import HeteroData

from ..methods.base import Method, StepContext
from ..metrics import RankingEvaluator
from ..models.base import Recommender
from ..sampling import TripletSampler
from ..datasets.graph import num_users_items, train_edges
from ..distributed import SINGLE, current_world
from ..utils import InteractionIndex, resolve_device
from .checkpoint import atomic_save, load_checkpoint, rng_state, set_rng_state
from .selection import record_validation
from ..config import check_fields


@dataclass
class TrainerConfig:
    """Options of :class:`Trainer` (the TIL paper's settings where it gives them)."""

    epochs: int = 300
    """Maximum number of epochs."""
    batch_size: int = 5000
    """Triplets per batch (TIL paper: 5000)."""
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
    """A tqdm bar per epoch and a one-line summary per evaluation."""
    num_negatives: int = 1
    """Negatives per positive."""
    eval_memory_mb: float = 512
    """Score-buffer budget of the full-ranking evaluation."""
    distributed: bool = False
    """Data-parallel over the initialised ``torch.distributed`` process group (see
    :mod:`graphdenoise.distributed`); ``batch_size`` stays the global batch."""

    def __post_init__(self):
        check_fields(self, epochs=">= 1", batch_size=">= 1", lr="> 0", l2=">= 0", eval_every=">= 1",
                     patience=">= 0", num_negatives=">= 1")
        self.ks = tuple(self.ks)
        metric, _, k = self.monitor.partition("@")
        if not k.isdigit() or int(k) not in self.ks:
            raise ValueError(f"monitor={self.monitor!r} must be '<metric>@k' with k in ks={self.ks}")


class Trainer:
    r"""Trains ``model`` with ``method`` on ``data``.

    Args:
        model (Recommender): The backbone.
        method (Method): The training method (``BPR()`` for plain BPR).
        data (HeteroData): The dataset with ``val`` and ``test`` splits.
        config (TrainerConfig, optional): Options.
        callbacks (list, optional): Called as ``callback(epoch, record)`` after every epoch.
    """

    def __init__(self, model: Recommender, method: Method, data: HeteroData, config: Optional[TrainerConfig] = None,
                 callbacks: Optional[List[Callable[[int, dict], None]]] = None):
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
        index = InteractionIndex(train_edges(data), *num_users_items(data))
        self.sampler = TripletSampler(data, batch_size=config.batch_size, index=index,
                                      negative_sampler=method.negative_sampler(data, index),
                                      num_negatives=config.num_negatives, seed=config.seed,
                                      rank=self.world.rank, world_size=self.world.world_size)
        self.method.recommender_lr = config.lr
        self.method.setup(self.model, data, self.sampler)
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=fused)
        for param in self.model.parameters():  # dense .grad kept across steps: row-sparse lookups add into it
            param.grad = torch.zeros_like(param)
        self.callbacks = list(callbacks or [])
        self.history: List[Dict[str, float]] = []
        self.epoch = 0
        self.step = 0
        self.best_metric = -math.inf
        self.best_epoch = 0
        self.best_state: Optional[dict] = None
        self.bad_evaluations = 0
        self.stopped_early = False

    # ------------------------------------------------------------------ training
    def train_epoch(self) -> Dict[str, float]:
        """One pass over the training edges; returns the epoch's mean loss and method statistics."""
        cfg, model, method = self.config, self.model, self.method
        model.train()
        method.train()
        total, logs_sum, batches = torch.zeros((), device=self.device), {}, 0
        start = time.perf_counter()
        iterator = self.sampler
        if cfg.show_progress and self.world.is_main:
            from tqdm.auto import tqdm
            iterator = tqdm(self.sampler, total=len(self.sampler), leave=False, desc=f"epoch {self.epoch + 1}")
        for batch in iterator:
            batch = batch.to(self.device)
            ctx = StepContext(step=self.step, epoch=self.epoch, lr=cfg.lr, l2=cfg.l2, sampler=self.sampler,
                              world=self.world)
            outer_logs = method.outer_step(model, batch, ctx)
            loss, logs = method.loss(model, batch, ctx)
            self.optimizer.zero_grad(set_to_none=False)
            loss.backward()
            self.world.all_reduce_gradients(model.parameters())
            outer_logs.update(method.before_optimizer_step(model, batch, ctx))
            self.optimizer.step()
            method.after_step(model, batch, ctx)
            self.sampler.negative_sampler.update(model, self.step)
            self.step += 1
            batches += 1
            total += loss.detach()
            for key, value in {**outer_logs, **logs}.items():
                logs_sum[key] = logs_sum.get(key, 0.0) + value
            if cfg.show_progress and self.world.is_main and batches % 20 == 0:
                iterator.set_postfix(loss=f"{float(total) / batches:.4f}")
        record = {"epoch": self.epoch + 1, "loss": float(total) / max(batches, 1),
                  "seconds": time.perf_counter() - start}
        record.update({k: float(v) / max(batches, 1) for k, v in logs_sum.items()})
        record.update(method.epoch_stats())
        return record

    def evaluate(self, split: str = "val") -> Dict[str, float]:
        """Full-ranking metrics of the current model on ``split``."""
        return self.evaluator.evaluate(self.model, split, world=self.world)

    def fit(self) -> List[Dict[str, float]]:
        """Train until ``epochs`` or early stopping, then restore the best validation state."""
        cfg = self.config
        if cfg.resume:
            self._maybe_resume()
        while self.epoch < cfg.epochs and not self.stopped_early:
            record = self.train_epoch()
            self.epoch += 1
            if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
                metrics = self.evaluate("val")
                record.update({f"val/{k}": v for k, v in metrics.items()})
                current = metrics[cfg.monitor]
                record_validation(self, current, self.state_for_selection)
                if cfg.show_progress and self.world.is_main:
                    print(f"epoch {self.epoch:4d}  loss {record['loss']:.4f}  val {cfg.monitor} {current:.4f}  "
                          f"best {self.best_metric:.4f} @ {self.best_epoch}  ({record['seconds']:.1f}s/epoch)",
                          flush=True)
                self.history.append(record)
                self._checkpoint()
            else:
                self.history.append(record)
            for callback in self.callbacks:
                callback(self.epoch, record)
        if self.best_state is not None:
            self.load_selection_state(self.best_state)
        return self.history

    def final_metrics(self) -> Dict[str, Dict[str, float]]:
        """Validation and test metrics of the selected state (test is computed only here)."""
        return {"val": self.evaluate("val"), "test": self.evaluate("test")}

    # ------------------------------------------------------------------ state
    def state_for_selection(self) -> dict:
        return {"model": self.model.state_dict(), "method": self.method.state_dict()}

    def load_selection_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.method.load_state_dict(state["method"])

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(), "method": self.method.state_dict(),
            "method_extra": self.method.extra_state(), "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(), "rng": rng_state(), "epoch": self.epoch, "step": self.step,
            "history": self.history, "best_metric": self.best_metric, "best_epoch": self.best_epoch,
            "best_state": self.best_state, "bad_evaluations": self.bad_evaluations,
            "stopped_early": self.stopped_early, "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.method.load_state_dict(state["method"])
        self.method.load_extra_state(state["method_extra"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        set_rng_state(state["rng"])
        for key in ("epoch", "step", "history", "best_metric", "best_epoch", "best_state", "bad_evaluations",
                    "stopped_early"):
            setattr(self, key, state[key])

    @property
    def checkpoint_path(self) -> Optional[Path]:
        return None if self.config.checkpoint_dir is None else Path(self.config.checkpoint_dir) / "last.pt"

    def _checkpoint(self) -> None:
        if self.checkpoint_path is not None and self.world.is_main:
            atomic_save(self.state_dict(), self.checkpoint_path)

    def _maybe_resume(self) -> None:
        path = self.checkpoint_path
        if path is None:
            raise ValueError("resume=True needs checkpoint_dir")
        if path.exists():
            self.load_state_dict(load_checkpoint(path))
            if self.config.show_progress and self.world.is_main:
                print(f"resumed from {path} at epoch {self.epoch}", flush=True)
