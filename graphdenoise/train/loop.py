r"""The one training loop of both tasks: epochs, the optimisation step of the method seam,
validation-only model selection, early stopping, checkpoints, exact resume and progress.

:class:`TrainingLoop` is task-agnostic; a task (:class:`~graphdenoise.train.Trainer` for interaction
graphs, :class:`~graphdenoise.sequential.SequenceTrainer` for sequences) says where an epoch's
batches come from (:meth:`TrainingLoop.batches`), how a split is evaluated and what its data
pipeline must checkpoint. Everything else is here, once.

Where the hooks of neighbouring features belong: checkpoint fingerprints and interrupt handling in
:meth:`TrainingLoop.fit` / :meth:`TrainingLoop.save_checkpoint` / :meth:`TrainingLoop.resume`; a
non-finite-loss check right after ``method.loss`` in :meth:`TrainingLoop.optimisation_step`; a
selection rule in :class:`~graphdenoise.train.selection.ModelSelection`; the progress display in
:meth:`TrainingLoop.report`.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import torch

from ..distributed import SINGLE
from ..methods.base import MethodBase, StepContext
from ..models.base import accumulate_row_gradients
from .checkpoint import atomic_save, load_checkpoint, rng_state, set_rng_state
from .fingerprint import check_fingerprint, run_fingerprint
from .guards import FiniteGuard, training_tensors
from .interrupt import signals_deferred
from .progress import Progress
from .selection import ModelSelection


def _parameters(optimizers: Iterable[torch.optim.Optimizer]) -> List[torch.Tensor]:
    return [p for opt in optimizers for group in opt.param_groups for p in group["params"]]


class TrainingLoop:
    r"""Base of the trainers. A subclass sets ``config`` (with ``epochs``, ``eval_every``, ``patience``,
    ``monitor``, ``lr``, ``checkpoint_dir``, ``resume``, ``show_progress``), ``model``, ``method``,
    ``optimizer``, ``device`` and ``world``, calls :meth:`init_loop`, and implements :meth:`batches`,
    :meth:`evaluate` and (when its data pipeline has state) :meth:`task_state_dict`."""

    zero_to_none: bool = True
    """``zero_grad(set_to_none=...)`` of every optimiser before the backward."""
    method_train_mode: bool = True
    """Put the method in training mode every epoch (False: the method manages its modules' modes,
    e.g. a frozen noise recogniser kept in eval mode)."""

    def init_loop(self, callbacks: Optional[List[Callable[[int, dict], None]]] = None) -> None:
        self.callbacks = list(callbacks or [])
        self.history: List[Dict[str, float]] = []
        self.epoch = 0
        self.step = 0
        self.selection = ModelSelection(self.config.monitor, self.config.patience)
        self.world = getattr(self, "world", SINGLE)
        self.finite = FiniteGuard()
        self.progress = Progress(self.config.epochs, 0, self.config.monitor, enabled=False)
        self.checkpoint_epoch: Optional[int] = None
        """The epoch the checkpoint on disk holds (None: none written or read by this run)."""
        self._base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self._lr_scale: Optional[float] = 1.0
        if getattr(self, "fingerprint", None) is None and self.config.checkpoint_dir is not None:
            self.fingerprint = run_fingerprint(self.model, self.method, self.data, self.config)

    # ------------------------------------------------------------------ to implement
    def batches(self) -> Iterator[Tuple[object, StepContext]]:
        """The epoch's ``(batch, ctx)`` pairs (on the device)."""
        raise NotImplementedError

    def evaluate(self, split: str = "val") -> Dict[str, float]:
        raise NotImplementedError

    def task_state_dict(self) -> dict:
        return {}

    def load_task_state_dict(self, state: dict) -> None:
        pass

    def snapshot(self) -> dict:
        """The state model selection keeps (the model, and the method's parameters)."""
        return {"model": self.model.state_dict(), "method": self.method.state_dict()}

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.method.load_state_dict(state["method"])

    # ------------------------------------------------------------------ one step
    def optimisation_step(self, batch, ctx: StepContext) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The method seam, in order: outer losses, the loss, its backward (row-sparse fast path on),
        ``after_backward``, the optimiser steps, ``after_step``. Returns the detached loss and logs."""
        model, method = self.model, self.method
        self.outer_steps(batch, ctx)
        loss, logs = method.loss(model, batch, ctx)
        self.finite.observe_loss(loss, self.step)
        own = list(method.optimizers().values())
        optimizers = [self.optimizer, *own]
        for opt in optimizers:
            opt.zero_grad(set_to_none=self.zero_to_none)
        with accumulate_row_gradients():
            loss.backward()
        self.world.all_reduce_gradients(model.parameters())
        logs = {**method.after_backward(model, batch, ctx), **logs}
        if own:
            self.world.all_reduce_gradients(p for p in _parameters(own) if p.grad is not None)
        self.apply_lr_scale(method.lr_scale())
        for opt in optimizers:
            opt.step()
        method.after_step(model, batch, ctx)
        return loss.detach(), logs

    def apply_lr_scale(self, scale: float) -> None:
        """The recommender's learning rate times the method's :meth:`~graphdenoise.methods.base.MethodBase.lr_scale`."""
        if scale != self._lr_scale:
            for group, base in zip(self.optimizer.param_groups, self._base_lrs):
                group["lr"] = base * scale
            self._lr_scale = scale

    def outer_steps(self, batch, ctx: StepContext) -> None:
        """One step of the method's outer optimisers per outer loss, its gradient on their parameters only."""
        outer = list(self.method.outer_optimizers().values())
        for loss in self.method.outer_losses(self.model, batch, ctx):
            params = _parameters(outer)
            for opt in outer:
                opt.zero_grad(set_to_none=False)
            loss.backward(inputs=params)
            self.world.all_reduce_gradients(params)
            for opt in outer:
                opt.step()

    # ------------------------------------------------------------------ epochs
    def train_epoch(self) -> Dict[str, float]:
        """One pass over the epoch's batches; the mean loss and logs, and the method's statistics."""
        self.model.train()
        if self.method_train_mode:
            self.method.train()
        start = time.perf_counter()
        total, logs_sum, steps = torch.zeros((), device=self.device), {}, 0
        self.progress.on_epoch_start(self.epoch + 1)
        for batch, ctx in self.batches():
            loss, logs = self.optimisation_step(batch, ctx)
            self.after_batch(ctx)
            self.step += 1
            steps += 1
            total += loss
            for key, value in logs.items():
                logs_sum[key] = logs_sum.get(key, 0.0) + value
            if self.progress.due(steps):  # every few batches: the running loss costs a device sync
                self.progress.on_batch(self.progress.every, loss=float(total) / steps)
        record = {"epoch": self.epoch + 1, "loss": float(total) / max(steps, 1), "steps": steps}
        record.update({k: float(v) / max(steps, 1) for k, v in logs_sum.items()})
        record.update(self.end_epoch())
        record["seconds"] = time.perf_counter() - start
        return record

    def num_batches(self) -> Optional[int]:
        """Batches per epoch, for the progress bar (None: unknown)."""
        return None

    def after_batch(self, ctx: StepContext) -> None:
        """Task bookkeeping after a step (adaptive samplers)."""

    def end_epoch(self) -> Dict[str, float]:
        return self.method.epoch_stats()

    def fit(self) -> List[Dict[str, float]]:
        """Train until ``epochs`` or early stopping, then restore the best validation state."""
        cfg = self.config
        if not (cfg.resume and self.resume()) and self.epoch == 0:
            self.save_checkpoint()  # a resumable checkpoint exists from the start (an interrupt never writes one)
        self.progress = Progress(cfg.epochs, self.num_batches() or 0, cfg.monitor,
                                 enabled=cfg.show_progress and self.world.is_main, initial_epoch=self.epoch,
                                 best=self.selection.best_metric)
        if getattr(self.method, "loss_note", None):
            self.progress.message(f"note: {self.method.loss_note}")
        try:
            self.train_epochs()
        finally:
            self.progress.close()
        if self.selection.best_state is not None:
            self.restore(self.selection.best_state)
        return self.history

    def train_epochs(self) -> None:
        """Epochs until the budget or early stopping, each evaluated every ``eval_every``."""
        cfg = self.config
        while self.epoch < cfg.epochs and not self.selection.stopped_early:
            record = self.train_epoch()
            self.epoch += 1
            self.finite.check_epoch(self.epoch, record["loss"], self.step)
            evaluated = self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs
            if evaluated:
                self.finite.check_state(self.training_tensors(), self.epoch, self.step)
                metrics = self.evaluate("val")
                record.update({f"val/{k}": v for k, v in metrics.items()})
                current = self.selection.update(self.epoch, self.selection_value(metrics, record), self.snapshot,
                                                self.method.may_stop(), self.method.may_select())
                self.report(record, current)
            self.history.append(record)
            self.progress.on_epoch_end(record)
            for callback in self.callbacks:  # before the checkpoint: what a callback adds to the record is kept
                callback(self.epoch, record)
            if evaluated:
                self.save_checkpoint()

    def final_metrics(self) -> Dict[str, Dict[str, float]]:
        """Validation and test metrics of the selected state (test is computed only here)."""
        return {"val": self.evaluate("val"), "test": self.evaluate("test")}

    def selection_value(self, metrics: Dict[str, float], record: dict) -> float:
        """The value model selection compares at this evaluation (higher is better): the validation
        ``monitor`` here; a task may select by another validation rule."""
        return metrics[self.config.monitor]

    def selection_label(self) -> str:
        return f"val {self.config.monitor}"

    def report(self, record: dict, current: float) -> None:
        """The one-line summary of an evaluation (with the method's ``progress_keys``)."""
        sel = self.selection
        extra = "".join(f"  {key} {record[key]:.3f}" for key in getattr(self.method, "progress_keys", ())
                        if key in record)
        self.progress.message(f"epoch {self.epoch:4d}  loss {record['loss']:.4f}  {self.selection_label()} "
                              f"{current:.4f}  best {sel.best_metric:.4f} @ {sel.best_epoch}{extra}  "
                              f"({record['seconds']:.1f}s/epoch)")

    # ------------------------------------------------------------------ selection shortcuts
    @property
    def best_epoch(self) -> int:
        return self.selection.best_epoch

    @property
    def best_metric(self) -> float:
        return self.selection.best_metric

    @property
    def best_state(self) -> Optional[dict]:
        return self.selection.best_state

    @property
    def stopped_early(self) -> bool:
        return self.selection.stopped_early

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything an exact resume needs."""
        method = self.method
        return {
            "model": self.model.state_dict(), "method": method.state_dict(), "method_extra": method.extra_state(),
            "optimizer": self.optimizer.state_dict(), "method_optimizers": _optimizer_states(method),
            "task": self.task_state_dict(), "rng": rng_state(), "epoch": self.epoch, "step": self.step,
            "history": self.history, "selection": self.selection.state_dict(), "config": asdict(self.config),
            "fingerprint": getattr(self, "fingerprint", None),
        }

    def training_tensors(self):
        """``(name, tensor)`` of every parameter and optimiser state (checked for NaN/inf per evaluation)."""
        return training_tensors(self.model, self.method, self.optimizer,
                                {"optimizers": _optimizer_states(self.method), "extra": self.method.extra_state()})

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.method.load_state_dict(state["method"])
        self.method.load_extra_state(state["method_extra"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._lr_scale = None  # the saved groups' lr may be scaled: the next step sets it again
        declared = {**self.method.optimizers(), **self.method.outer_optimizers()}
        for name, opt_state in state["method_optimizers"].items():
            declared[name].load_state_dict(opt_state)
        self.load_task_state_dict(state["task"])
        set_rng_state(state["rng"])
        self.epoch, self.step, self.history = state["epoch"], state["step"], state["history"]
        self.selection.load_state_dict(state["selection"])

    @property
    def checkpoint_path(self) -> Optional[Path]:
        directory = self.config.checkpoint_dir
        return None if directory is None else Path(directory) / "last.pt"

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is not None:
            with signals_deferred():  # Ctrl-C during the write stops training once the checkpoint is complete
                if self.world.is_main:
                    atomic_save(self.state_dict(), self.checkpoint_path)
                self.checkpoint_epoch = self.epoch

    def resume(self) -> bool:
        """Load ``checkpoint_dir/last.pt`` if it exists (only a checkpoint of this same run: its
        fingerprint must match); returns whether it did."""
        path = self.checkpoint_path
        if path is None:
            raise ValueError("resume=True needs checkpoint_dir")
        if not path.exists():
            return False
        state = load_checkpoint(path)
        check_fingerprint(state.get("fingerprint"), self.fingerprint, path)
        try:
            self.load_state_dict(state)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ValueError(f"checkpoint {path} does not fit this run: {type(exc).__name__}: {exc}") from None
        self.checkpoint_epoch = self.epoch
        if self.config.show_progress and self.world.is_main:
            print(f"resumed from {path} at epoch {self.epoch}", flush=True)
        return True


def _optimizer_states(method: MethodBase) -> dict:
    declared = {**method.optimizers(), **method.outer_optimizers()}
    return {name: opt.state_dict() for name, opt in declared.items()}
