r"""One training run of either task: its fingerprint and default checkpoint folder, its callbacks, and
``fit`` under Ctrl-C / SIGTERM handling (what :mod:`graphdenoise.tasks` does around a trainer)."""
from __future__ import annotations

import dataclasses
import signal
import time
from pathlib import Path
from typing import Optional

from ..distributed import current_world
from ..result import FitResult
from .fingerprint import default_checkpoint_dir, run_fingerprint
from .interrupt import TrainingInterrupted, stop_on_signals
from .tracking import CSVLogger


def fingerprinted(net, algo, data, trainer_config, model: str, method: str, seed: int,
                  described: Optional[dict]):
    """The run's fingerprint, and ``trainer_config`` with the default checkpoint folder
    ``runs/<dataset>_<model>_<method>_seed<N>_<hash>`` when it resumes without one. A run that neither
    checkpoints nor resumes gets None: the fingerprint (a digest of the whole dataset) only guards
    checkpoints, so it is not computed for every cell of an experiment."""
    if not (trainer_config.resume or trainer_config.checkpoint_dir is not None):
        return trainer_config, None
    described = dict(described or {})
    fingerprint = run_fingerprint(net, algo, data, trainer_config, **described)
    if trainer_config.resume and trainer_config.checkpoint_dir is None:
        folder = default_checkpoint_dir(described.get("dataset", "<data>"), model, method, seed, fingerprint)
        trainer_config = dataclasses.replace(trainer_config, checkpoint_dir=folder)
    return trainer_config, fingerprint


def run_callbacks(callbacks, trainer_config, modules: dict, config: dict) -> list:
    """The user's callbacks, attached to the run (``attach(modules, config)`` where they have it), plus
    the CSV log of a run with a checkpoint folder."""
    callbacks = list(callbacks or [])
    is_main = not getattr(trainer_config, "distributed", False) or current_world().is_main  # one writer per run
    if trainer_config.checkpoint_dir is not None and is_main and not any(isinstance(c, CSVLogger) for c in callbacks):
        callbacks.append(CSVLogger(Path(trainer_config.checkpoint_dir) / "log.csv"))
    for callback in callbacks:
        if hasattr(callback, "attach"):
            callback.attach(modules, config)
    return callbacks


def train_and_evaluate(trainer, config: dict) -> FitResult:
    """``trainer.fit()`` under Ctrl-C / SIGTERM handling (the callbacks closed in every case), then the
    selected state's metrics.

    Raises:
        TrainingInterrupted: carrying the best state so far as a :class:`FitResult` (``interrupted=True``)
            and where the last checkpoint is.
    """
    start = time.perf_counter()
    try:
        with stop_on_signals():
            trainer.fit()
    except TrainingInterrupted as stop:
        raise _interrupted(stop, trainer, config, start) from None
    finally:
        for callback in trainer.callbacks:
            if hasattr(callback, "close"):
                callback.close()
    metrics = trainer.final_metrics()
    return FitResult(trainer.model, trainer.method, metrics, trainer.history, config, trainer.best_epoch,
                     time.perf_counter() - start)


def _interrupted(stop, trainer, config: dict, start: float):
    """The interrupt, carrying the best state so far as a :class:`FitResult` and how to resume."""
    result = None
    if not trainer.world.is_distributed:  # evaluating would need every rank
        if trainer.best_state is not None:
            trainer.restore(trainer.best_state)
        result = FitResult(trainer.model, trainer.method, trainer.final_metrics(), trainer.history, config,
                           trainer.best_epoch, time.perf_counter() - start, interrupted=True)
    path = trainer.checkpoint_path
    if path is None or trainer.checkpoint_epoch is None:
        path, how = None, "no checkpoint folder was set, so it cannot be resumed (set checkpoint_dir or resume=True)"
    else:
        how = (f"{path} holds epoch {trainer.checkpoint_epoch}; continue with the same options and resume=True, "
               f"checkpoint_dir={str(path.parent)!r}")
    signame = signal.Signals(stop.signum).name
    return TrainingInterrupted(stop.signum, f"training interrupted by {signame} in epoch {trainer.epoch + 1}: {how}",
                               result, None if path is None else str(path), trainer.checkpoint_epoch)
