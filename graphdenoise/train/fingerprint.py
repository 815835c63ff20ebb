r"""Run fingerprints: a checkpoint is resumed only by the run that wrote it.

A fingerprint records everything that determines a run's result: the library and torch versions,
a sha256 digest of the data (every tensor of the :class:`~torch_geometric.data.HeteroData`, so the
dataset, its options, the split seed and injected noise are all covered), the names the user gave
(dataset, dataset options, noise ratios), the model and method with their configs, and the trainer
config without the options that cannot change the trained model (:data:`NOT_FINGERPRINTED`).
A resume whose fingerprint differs from the checkpoint's is a :class:`ResumeMismatchError` listing
every differing field with both values; :func:`fingerprint_hash` names default checkpoint folders.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

NOT_FINGERPRINTED = ("epochs", "show_progress", "checkpoint_dir", "resume", "device", "ks", "eval_memory_mb",
                     "eval_batch_size")
r"""Trainer options left out of the fingerprint: the epoch budget (a resume may extend it), where and
how progress is shown and stored, the device, and evaluation cut-offs and memory budgets."""


class ResumeMismatchError(ValueError):
    r"""A checkpoint that another run wrote (or whose run cannot be verified)."""


def _plain(value: Any) -> Any:
    """Tuples to lists, unknown objects to their repr: what survives a JSON round trip."""
    return json.loads(json.dumps(value, default=repr))


def _config_dict(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return _plain(dataclasses.asdict(config))
    return repr(config)


def _update_digest(digest, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"tensor {value.dtype} {tuple(value.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy() if flat.numel() else b"")
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            digest.update(f"{key!r}:".encode())
            _update_digest(digest, value[key])
    else:
        digest.update(f"{value!r};".encode())


def data_digest(data) -> str:
    r"""The sha256 of every tensor and attribute of ``data`` (a :class:`~torch_geometric.data.HeteroData`)."""
    digest = hashlib.sha256()
    if hasattr(data, "to_dict"):  # PyG data
        data = data.to_dict()
    elif hasattr(data, "__dict__"):  # e.g. a SequenceData: its tensors and options
        data = {key: value for key, value in vars(data).items()
                if isinstance(value, (torch.Tensor, int, float, str, tuple)) or dataclasses.is_dataclass(value)}
    _update_digest(digest, data)
    return digest.hexdigest()


def run_fingerprint(model, method, data, config, **described) -> Dict[str, Any]:
    r"""The fingerprint of training ``model`` with ``method`` on ``data`` under ``config``.

    Args:
        model: The backbone (its class and ``config`` are recorded).
        method: The training method (its class and ``config`` are recorded).
        data: The dataset; its content is digested.
        config: The trainer config (a dataclass); fields in :data:`NOT_FINGERPRINTED` are left out.
        **described: What the user named (``dataset``, ``dataset_options``, noise ratios...), recorded
            so that a mismatch can be reported in the user's terms.
    """
    from .. import __version__
    trainer = _config_dict(config)
    if isinstance(trainer, dict):
        trainer = {k: v for k, v in trainer.items() if k not in NOT_FINGERPRINTED}
    return _plain({"graphdenoise": __version__, "torch": torch.__version__, **described,
                   "data": data_digest(data)[:16],
                   "model": type(model).__name__, "model_config": _config_dict(getattr(model, "config", None)),
                   "method": type(method).__name__, "method_config": _config_dict(getattr(method, "config", None)),
                   "trainer": trainer})


def fingerprint_hash(fingerprint: Dict[str, Any], length: int = 8) -> str:
    r"""A short hex hash of ``fingerprint`` (names default checkpoint folders)."""
    text = json.dumps(fingerprint, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(value, dict) and value:
        out: Dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


_MISSING = "<absent>"


def fingerprint_differences(saved: Dict[str, Any], current: Dict[str, Any]) -> List[Tuple[str, Any, Any]]:
    r"""``(field, checkpoint value, this run's value)`` for every field that differs (dotted names)."""
    old, new = _flatten(saved), _flatten(current)
    return [(key, old.get(key, _MISSING), new.get(key, _MISSING)) for key in sorted(set(old) | set(new))
            if old.get(key, _MISSING) != new.get(key, _MISSING)]


def check_fingerprint(saved: Optional[Dict[str, Any]], current: Dict[str, Any], path: Union[str, Path]) -> None:
    r"""Raises :class:`ResumeMismatchError` unless the checkpoint at ``path`` was written by this run."""
    if saved is None:
        raise ResumeMismatchError(
            f"checkpoint {path} has no run fingerprint (written by an older graphdenoise), so it cannot be "
            f"verified to belong to this run; delete it or choose another checkpoint folder")
    differences = fingerprint_differences(saved, current)
    if differences:
        listed = "; ".join(f"{key}: {old!r} in the checkpoint, {new!r} now" for key, old, new in differences)
        raise ResumeMismatchError(
            f"refusing to resume from {path}: it was written by a different run ({listed}). Resuming would "
            f"mix two runs; start a fresh run in another checkpoint folder, or resume with the original "
            f"options")


def default_checkpoint_dir(dataset: str, model: str, method: str, seed: int, fingerprint: Dict[str, Any]) -> str:
    r"""``runs/<dataset>_<model>_<method>_seed<N>_<hash>``: the hash of the run's fingerprint keeps runs
    that differ in any option in separate folders."""
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in str(dataset).lower())
    return str(Path("runs") / f"{safe}_{model.lower()}_{method.lower()}_seed{seed}_{fingerprint_hash(fingerprint)}")
