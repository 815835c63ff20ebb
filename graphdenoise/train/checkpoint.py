r"""Checkpoint files and the RNG state that exact resume needs.

Everything in a checkpoint is a tensor or a plain container (dict, list, tuple, str, number, None),
so it loads with ``torch.load(weights_only=True)`` (:func:`graphdenoise.files.safe_torch_load`):
a checkpoint never runs code. The RNG states of Python's :mod:`random` and of NumPy are stored as
integer tensors for that reason.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Union

import numpy as np
import torch

from ..files import CorruptFileError, UnsafeFileError, atomic_save, atomic_write_text, safe_torch_load

__all__ = ["atomic_save", "atomic_write_text", "load_checkpoint", "rng_state", "set_rng_state",
           "CorruptFileError", "UnsafeFileError"]


def rng_state() -> dict:
    r"""The states of torch's, NumPy's, Python's (and CUDA's) global generators, as tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    r"""Restores the generators from :func:`rng_state`'s output."""
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"].tolist()), python["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: Union[str, Path], what: str = "checkpoint") -> dict:
    r"""Reads a checkpoint or result file without running code.

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: The file needs code to load (:class:`~graphdenoise.files.UnsafeFileError`), is
            empty, truncated or unreadable (:class:`~graphdenoise.files.CorruptFileError`), or does not
            hold a dictionary.
    """
    state = safe_torch_load(path, what)
    if not isinstance(state, dict):
        raise CorruptFileError(f"{what} {path} holds a {type(state).__name__}, not a graphdenoise {what}")
    return state
