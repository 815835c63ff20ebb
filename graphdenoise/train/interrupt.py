r"""Ctrl-C (SIGINT) and SIGTERM stop training cleanly.

Inside :func:`stop_on_signals` the first SIGINT or SIGTERM raises :class:`TrainingInterrupted` in
the training loop (the previous handlers are restored at once, so a second signal acts as usual).
:func:`graphdenoise.fit` catches it, restores the best validation state so far, and re-raises it
carrying that partial :class:`~graphdenoise.FitResult` (marked ``interrupted``) and a one-line
message saying where the checkpoint is and how to resume; the CLI writes ``--out`` / ``--save``
from it, prints the message and exits with ``128 + signal`` (130 for Ctrl-C).

The checkpoint a run resumes from is the one written at the start of training and at every
evaluation (``checkpoint_dir/last.pt``): the state in the middle of an epoch cannot be resumed
bit-identically, so an interrupt never writes it. A signal that arrives while a checkpoint is being
written (inside :func:`signals_deferred`) takes effect once the write is complete.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_deferral = {"depth": 0, "pending": None}


class TrainingInterrupted(KeyboardInterrupt):
    r"""Training was stopped by a signal. A :class:`KeyboardInterrupt`, so that no ``except Exception``
    (an experiment runner's per-cell error handling, say) swallows a user's Ctrl-C.

    Attributes:
        signum (int): The signal (``signal.SIGINT`` or ``signal.SIGTERM``).
        result: The best state so far (a :class:`~graphdenoise.FitResult` with ``interrupted=True``)
            when :func:`graphdenoise.fit` was interrupted, else :obj:`None`.
        message (str): Where the run stopped and how to resume it.
        checkpoint (str): The checkpoint to resume from (:obj:`None` without a checkpoint folder).
        checkpoint_epoch (int): The epoch that checkpoint holds.
    """

    def __init__(self, signum: int, message: Optional[str] = None, result: Any = None,
                 checkpoint: Optional[str] = None, checkpoint_epoch: Optional[int] = None):
        self.signum, self.result = int(signum), result
        self.checkpoint, self.checkpoint_epoch = checkpoint, checkpoint_epoch
        self.message = message or f"training interrupted by {signal.Signals(signum).name}"
        super().__init__(self.message)

    @property
    def exit_code(self) -> int:
        r"""The shell's convention for a process stopped by this signal: ``128 + signum``."""
        return 128 + self.signum

    def __str__(self) -> str:
        return self.message


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    r"""Turns the first SIGINT or SIGTERM inside the block into :class:`TrainingInterrupted`.

    Outside the main thread (where Python cannot install handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def handler(signum, frame):
        restore()
        if _deferral["depth"]:
            _deferral["pending"] = signum
            return
        raise TrainingInterrupted(signum)

    for signum in SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        restore()


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    r"""Inside :func:`stop_on_signals`, a SIGINT or SIGTERM that arrives in this block (a checkpoint
    write) raises :class:`TrainingInterrupted` only when the block is complete. A second signal acts
    at once, as usual."""
    _deferral["depth"] += 1
    try:
        yield
    finally:
        _deferral["depth"] -= 1
    if not _deferral["depth"] and _deferral["pending"] is not None:
        signum, _deferral["pending"] = _deferral["pending"], None
        raise TrainingInterrupted(signum)
