r""":class:`FitResult`: what :func:`graphdenoise.fit` returns, for either task, and its file format."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from torch import nn

from .train.checkpoint import atomic_save, atomic_write_text, load_checkpoint

FORMAT = "graphdenoise-result-1"


@dataclass
class FitResult:
    """The trained model, its metrics per split, the history and the config of a :func:`~graphdenoise.fit` run.

    ``config["task"]`` names the task (``"interactions"`` or ``"sequential"``) whose
    :class:`~graphdenoise.tasks.Task` saves and rebuilds the model.
    """

    model: nn.Module
    method: nn.Module
    metrics: Dict[str, Dict[str, float]]
    history: List[Dict[str, float]]
    config: Dict[str, Any]
    best_epoch: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    """True for the best state so far of a run stopped by Ctrl-C or SIGTERM (see
    :class:`~graphdenoise.train.TrainingInterrupted`)."""

    @property
    def task(self) -> str:
        return self.config.get("task", "interactions")

    def recommend(self, users, k: int = 20) -> torch.Tensor:
        return self.model.recommend(users, k)

    def to_json(self) -> dict:
        return {"config": self.config, "metrics": self.metrics, "best_epoch": self.best_epoch,
                "seconds": self.seconds, "interrupted": self.interrupted, "history": self.history}

    def save(self, path: Union[str, Path]) -> None:
        """Save the model (and the method's weights where the task keeps them), metrics, history,
        config and what :func:`load` needs to rebuild the model (atomic)."""
        from .tasks import get_task
        state = get_task(self.task).save_state(self)
        atomic_save({"format": FORMAT, **self.to_json(), **state}, path)

    def save_json(self, path: Union[str, Path]) -> None:
        """Metrics, config and history as JSON (atomic)."""
        atomic_write_text(json.dumps(self.to_json(), indent=2, default=str), path)


def load(path: Union[str, Path], device: Optional[str] = None) -> FitResult:
    """Restore a :class:`FitResult` written by :meth:`FitResult.save`."""
    from .tasks import get_task
    state = load_checkpoint(path, "result file")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a graphdenoise result file (format {found!r})")
    config = state["config"]
    model, method = get_task(config.get("task", "interactions")).rebuild(state)
    if device is not None:
        model.to(device)
    return FitResult(model, method, state["metrics"], state["history"], config, state.get("best_epoch", 0),
                     state.get("seconds", 0.0), state.get("interrupted", False))
