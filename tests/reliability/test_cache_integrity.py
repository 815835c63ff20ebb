"""The processed dataset cache is checksummed: a changed, truncated or empty cache is rebuilt, with a warning."""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import pytest
import torch

from graphdenoise.datasets import MovieLens100K, Synthetic
from graphdenoise.files import checksum_path, safe_torch_load


def _dataset(root, **kwargs):
    return Synthetic(root=str(root), num_users=60, num_items=40, num_clusters=3, mean_positives=8, log=False,
                     **kwargs)


def _edges(dataset):
    return dataset[0]["user", "interacts", "item"].edge_index


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _drop_checksum(path: Path) -> None:
    checksum_path(path).unlink()


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _empty, _drop_checksum])
def test_damaged_cache_is_detected_and_rebuilt(tmp_path, damage):
    expected = _edges(_dataset(tmp_path)).clone()
    path = Path(_dataset(tmp_path).processed_paths[0])
    damage(path)
    with pytest.warns(UserWarning, match=r"processed cache .*data_v2.* is not intact: .*rebuilding it from the "
                                         r"checksummed raw files"):
        rebuilt = _dataset(tmp_path)
    assert torch.equal(_edges(rebuilt), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an intact cache loads without a word
        assert torch.equal(_edges(_dataset(tmp_path)), expected)


def test_cache_holds_plain_containers_with_normal_permissions(tmp_path):
    path = Path(_dataset(tmp_path).processed_paths[0])
    payload = safe_torch_load(path)  # weights_only=True: no class is pickled
    assert payload["format"] == "graphdenoise-dataset-2" and isinstance(payload["data"], dict)
    mask = os.umask(0)
    os.umask(mask)
    for file in (path, checksum_path(path), path.parent / "pre_transform.pt"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~mask


def test_flipped_byte_in_a_real_dataset_cache_is_rebuilt(tmp_path, shared_data_dir):
    dataset = MovieLens100K(root=str(tmp_path), data_dir=str(shared_data_dir), log=False)
    expected = _edges(dataset).clone()
    _flip_byte(Path(dataset.processed_paths[0]))
    with pytest.warns(UserWarning, match="not intact"):
        assert torch.equal(_edges(MovieLens100K(root=str(tmp_path), data_dir=str(shared_data_dir), log=False)),
                           expected)


def test_other_pre_transform_is_reported_from_the_safely_read_record(tmp_path):
    from graphdenoise.datasets import AddNoisyPositives
    _dataset(tmp_path)
    assert safe_torch_load(Path(tmp_path) / "processed" / "pre_transform.pt") == "None"
    with pytest.warns(UserWarning, match="`pre_transform` argument differs"):
        _dataset(tmp_path, pre_transform=AddNoisyPositives(0.1, seed=0))
