"""Model selection on validation, shared by the graph and the sequence trainers."""
from __future__ import annotations

import copy
from typing import Callable


def record_validation(trainer, current: float, snapshot: Callable[[], dict]) -> None:
    r"""Keep the best validation state and count evaluations without improvement.

    Updates ``trainer.best_metric``, ``best_epoch``, ``best_state`` (a deep copy of ``snapshot()``),
    ``bad_evaluations`` and ``stopped_early`` (after ``trainer.config.patience`` evaluations without
    improvement; 0 disables early stopping). Only validation metrics ever reach this function.
    """
    if current > trainer.best_metric:
        trainer.best_metric, trainer.best_epoch, trainer.bad_evaluations = current, trainer.epoch, 0
        trainer.best_state = copy.deepcopy(snapshot())
    else:
        trainer.bad_evaluations += 1
        patience = trainer.config.patience
        if patience and trainer.bad_evaluations >= patience:
            trainer.stopped_early = True
