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


@dataclass(repr=False)
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
    user_ids: Optional[torch.Tensor] = None
    """Raw id of every user node (``data['user'].raw_id``), or None when the ids are ``0..n-1``."""
    item_ids: Optional[torch.Tensor] = None
    """Raw id of every item node, or None when the ids are ``0..n-1``."""

    def __repr__(self) -> str:
        cfg = self.config
        test = self.metrics.get("test", {})
        shown = ", ".join(f"{k}={v:.4f}" for k, v in list(test.items())[:2])
        return (f"FitResult(dataset={cfg.get('dataset')!r}, model={cfg.get('model')!r}, "
                f"method={cfg.get('method')!r}, best_epoch={self.best_epoch}, epochs_run={len(self.history)}, "
                f"test: {shown or 'n/a'}, seconds={self.seconds:.1f}"
                f"{', interrupted' if self.interrupted else ''})")

    @property
    def task(self) -> str:
        return self.config.get("task", "interactions")

    def recommend(self, users, k: int = 20, *, raw_ids: bool = True, exclude_train: bool = True) -> torch.Tensor:
        r"""Top-``k`` items for each of ``users``, best first, as a ``[len(users), k]`` tensor.

        Args:
            users (int, sequence or Tensor): User ids, by default as in your data (the raw ids of
                the file or arrays the dataset was built from).
            k (int): Items per user. (default: :obj:`20`)
            raw_ids (bool): Take and return raw ids; :obj:`False` uses the internal ``0..n-1``
                node ids of the model. (default: :obj:`True`)
            exclude_train (bool): Leave out each user's training items. (default: :obj:`True`)

        Raises:
            ValueError: A user id the model does not know (every unknown id is named).
        """
        users = torch.as_tensor(users, dtype=torch.long).view(-1)
        if raw_ids:
            users = raw_to_internal(users, self.user_ids, "user")
        items = self.model.recommend(users, k, **({} if exclude_train else {"exclude_train": False})).cpu()
        if raw_ids and self.item_ids is not None:
            items = self.item_ids[items]
        return items

    def to_json(self) -> dict:
        return {"config": self.config, "metrics": self.metrics, "best_epoch": self.best_epoch,
                "seconds": self.seconds, "interrupted": self.interrupted, "history": self.history}

    def save(self, path: Union[str, Path]) -> None:
        """Save the model (and the method's weights where the task keeps them), metrics, history,
        config and what :func:`load` needs to rebuild the model (atomic)."""
        from .tasks import get_task
        state = get_task(self.task).save_state(self)
        atomic_save({"format": FORMAT, **self.to_json(), **state, "user_ids": self.user_ids,
                     "item_ids": self.item_ids}, path)

    def save_json(self, path: Union[str, Path]) -> None:
        """Metrics, config (with the resolved run) and history as JSON (atomic)."""
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
                     state.get("seconds", 0.0), state.get("interrupted", False), state.get("user_ids"),
                     state.get("item_ids"))


def raw_to_internal(users: torch.Tensor, raw: Optional[torch.Tensor], kind: str = "user") -> torch.Tensor:
    r"""Internal node ids of the raw ids ``users`` (``raw[node]`` is the raw id of each node;
    :obj:`None` means the ids are already ``0..n-1``). Unknown ids raise a :class:`ValueError`
    naming them."""
    if raw is None:
        return users
    raw = raw.cpu()
    if raw.numel() == 0:
        raise ValueError(f"the model knows no {kind}s")
    order = torch.argsort(raw)
    sorted_raw = raw[order]
    position = torch.searchsorted(sorted_raw, users).clamp(max=raw.numel() - 1)
    known = sorted_raw[position] == users
    if not bool(known.all()):
        unknown = users[~known].unique().tolist()
        shown = ", ".join(map(str, unknown[:20])) + (f" ... ({len(unknown)} in all)" if len(unknown) > 20 else "")
        raise ValueError(f"unknown {kind} id(s): {shown}; the model knows {raw.numel()} {kind}s "
                         f"(raw ids {int(sorted_raw[0])}..{int(sorted_raw[-1])})")
    return order[position]


def raw_ids(data, node: str) -> Optional[torch.Tensor]:
    """``data[node].raw_id`` (the ids of the user's file or arrays), or None when there is none."""
    raw = getattr(data[node], "raw_id", None)
    return raw.detach().cpu().long() if isinstance(raw, torch.Tensor) else None
