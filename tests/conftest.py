"""Shared test configuration: where the real raw data lives, and markers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_data() -> Optional[Path]:
    """The folder of real raw files: ``$GRAPHDENOISE_DATA`` if set, else
    ``<repo>/../shared/datasets`` if it exists, else ``None`` (real-data tests skip)."""
    env = os.environ.get("GRAPHDENOISE_DATA")
    if env:
        return Path(env).expanduser()
    candidate = REPO_ROOT.parent / "shared" / "datasets"
    return candidate if candidate.is_dir() else None


SHARED_DATA = find_shared_data()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds")


@pytest.fixture(autouse=True)
def single_thread():
    """Tests use tiny tensors: one torch thread is as fast, and never oversubscribes a shared machine."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared raw-data folder (read-only); skips the test when there is none."""
    if SHARED_DATA is None or not SHARED_DATA.is_dir():
        pytest.skip(
            "real-data test: no raw data folder (set GRAPHDENOISE_DATA to a folder laid out like "
            "shared/datasets, or provide <repo>/../shared/datasets)"
        )
    return SHARED_DATA
