r"""Progress a person can read: an overall bar (epoch N of max, ETA, best validation metric so far)
with the current epoch's batch bar nested under it.

The training loop talks to it through four calls, ``on_epoch_start``, ``on_batch``,
``on_epoch_end`` and ``close`` (plus ``message`` for a line above the bars). It stays out of the hot
path: the loop reports batches only every :attr:`Progress.every` batches (:meth:`Progress.due`),
and a disabled display does nothing at all. The bars go to stderr through :mod:`tqdm.auto`
(notebook widgets in Jupyter); the ETA of the overall bar assumes the run goes to ``epochs``, so
early stopping can only make it shorter.
"""
from __future__ import annotations

import math
import sys
from typing import Dict, Optional


def in_jupyter() -> bool:
    """Whether the code runs in a Jupyter kernel (an IPython ZMQ shell)."""
    shell = sys.modules.get("IPython")
    if shell is None or not hasattr(shell, "get_ipython"):
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def resolve_show_progress(show: Optional[bool]) -> bool:
    r"""``show`` itself, or for :obj:`None`: on when stderr is a terminal or in Jupyter (an
    interactive session), off in scripts whose output goes to a file or pipe."""
    if show is not None:
        return bool(show)
    try:
        tty = sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or in_jupyter()


class Progress:
    r"""Nested tqdm bars for a training run.

    Args:
        epochs (int): Maximum number of epochs (the overall bar's total).
        batches (int): Batches per epoch (the inner bar's total).
        monitor (str): Validation metric shown as ``best`` (read from ``record['val/<monitor>']``).
        enabled (bool): Show anything at all. (default: :obj:`True`)
        initial_epoch (int): Epochs already done (a resumed run). (default: :obj:`0`)
        best (float, optional): Best validation value so far (a resumed run). (default: :obj:`None`)
        every (int): Batches between two updates of the inner bar. (default: :obj:`20`)
    """

    def __init__(self, epochs: int, batches: int, monitor: str, enabled: bool = True, initial_epoch: int = 0,
                 best: Optional[float] = None, every: int = 20):
        self.enabled, self.monitor, self.every, self.batches = enabled, monitor, max(int(every), 1), batches
        self.best = best if best is not None and math.isfinite(best) else None
        self.best_epoch: Optional[int] = None
        self._pending = 0
        self._outer = self._inner = None
        if enabled:
            from tqdm.auto import tqdm
            self._outer = tqdm(total=epochs, initial=initial_epoch, position=0, desc="training", unit="epoch",
                               dynamic_ncols=True, file=sys.stderr)
            self._inner = tqdm(total=batches, position=1, leave=False, unit="batch", dynamic_ncols=True,
                               file=sys.stderr)

    def due(self, batches_done: int) -> bool:
        """Whether the loop should call :meth:`on_batch` after ``batches_done`` batches of an epoch."""
        return self.enabled and batches_done % self.every == 0

    def on_epoch_start(self, epoch: int) -> None:
        """Epoch ``epoch`` (1-based) begins: the inner bar restarts."""
        if self._inner is not None:
            self._inner.reset(total=self.batches)
            self._inner.set_description(f"epoch {epoch}")
            self._pending = 0

    def on_batch(self, n: int = 1, loss: Optional[float] = None) -> None:
        """``n`` more batches done; ``loss`` the epoch's running mean loss."""
        if self._inner is not None:
            self._inner.update(n)
            self._pending += n
            if loss is not None:
                self._inner.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, record: Dict[str, float]) -> None:
        """The epoch's record (``loss``, ``val/<metric>`` when evaluated) moves the overall bar."""
        if self._outer is None:
            return
        self._inner.update(max(self.batches - self._pending, 0))
        value = record.get(f"val/{self.monitor}")
        if value is not None and (self.best is None or value > self.best):
            self.best, self.best_epoch = value, int(record.get("epoch", 0))
        postfix = {"loss": f"{record.get('loss', float('nan')):.4f}"}
        if self.best is not None:
            at = f" @{self.best_epoch}" if self.best_epoch else ""
            postfix[f"best {self.monitor}"] = f"{self.best:.4f}{at}"
        self._outer.set_postfix(postfix, refresh=False)
        self._outer.update(1)

    def message(self, text: str) -> None:
        """A line above the bars (to stdout); nothing when the display is disabled."""
        if self._outer is not None:
            self._outer.write(text, file=sys.stdout)

    def close(self) -> None:
        """Remove the inner bar and leave the overall bar's last state on screen."""
        for bar in (self._inner, self._outer):
            if bar is not None:
                bar.close()
        self._inner = self._outer = None
