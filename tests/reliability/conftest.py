"""Shared pieces of the reliability tests: a file whose unpickling would run code."""
from __future__ import annotations

import os
import pickle

import pytest
import torch


class TouchesMarker:
    """Unpickling this calls ``os.system("touch <marker>")``: a file that runs code when loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "a loader ran code from a file"


def write_malicious(path, marker, kind: str = "torch") -> None:
    """A ``torch.save`` (zip) or a raw pickle file whose payload touches ``marker`` when unpickled."""
    payload = {"format": "graphdenoise-result-1", "model_state": TouchesMarker(marker)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
