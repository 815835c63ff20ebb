"""Session-scoped cache of processed real datasets (processed once per session, in a tmp dir)."""
from __future__ import annotations

import warnings

import pytest

from graphdenoise.datasets import DATASETS


@pytest.fixture(scope="session")
def load_real(shared_data_dir, tmp_path_factory):
    """``load_real(name, **options) -> HeteroData``, cached per (name, options)."""
    root = tmp_path_factory.mktemp("processed")
    cache = {}

    def load(name: str, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in cache:
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message="collapsed")  # no duplicates expected
                dataset = DATASETS.get(name)(
                    root=str(root / name), data_dir=str(shared_data_dir), log=False, **options
                )
            cache[key] = dataset[0]
        return cache[key]

    return load

