"""Raw files: checksums, local data folders, downloads (mocked), processed-file naming."""
from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest

import graphdenoise.datasets.base as base
from graphdenoise.datasets import (
    DATA_ENV,
    AmazonCD,
    Gowalla,
    LastFM,
    MovieLens100K,
    Synthetic,
    default_root,
    describe,
    sha256sum,
)


@pytest.fixture(autouse=True)
def no_env_data(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)


def flipped_copy(source: Path, target: Path, position: int = 100) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    data = bytearray(source.read_bytes())
    data[position] ^= 0x01
    target.write_bytes(bytes(data))


def test_shared_files_match_their_checksums(shared_data_dir):
    for cls in (Gowalla, LastFM, MovieLens100K):
        for name in cls.raw_file_names:
            assert sha256sum(shared_data_dir / cls.name / name) == cls.sha256[name]


def test_corrupted_file_in_data_dir(shared_data_dir, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "gowalla").mkdir(parents=True)
    for name in ("train.txt", "test.txt"):
        shutil.copy(shared_data_dir / "gowalla" / name, data_dir / "gowalla" / name)
    flipped_copy(shared_data_dir / "gowalla" / "valid.txt", data_dir / "gowalla" / "valid.txt")
    actual = hashlib.sha256((data_dir / "gowalla" / "valid.txt").read_bytes()).hexdigest()
    with pytest.raises(ValueError) as info:
        Gowalla(root=str(tmp_path / "root"), data_dir=str(data_dir), log=False)
    message = str(info.value)
    assert "valid.txt" in message and Gowalla.sha256["valid.txt"] in message and actual in message
    assert not (tmp_path / "root" / "raw" / "valid.txt").exists()  # nothing unchecked is copied


def test_corrupted_file_already_in_raw_dir(shared_data_dir, tmp_path):
    raw = tmp_path / "root" / "raw" / "u.data"
    flipped_copy(shared_data_dir / "ml-100k" / "u.data", raw, position=5000)
    actual = sha256sum(raw)
    with pytest.raises(ValueError, match="u.data") as info:
        MovieLens100K(root=str(tmp_path / "root"), data_dir=str(shared_data_dir), log=False)
    assert MovieLens100K.sha256["u.data"] in str(info.value) and actual in str(info.value)


def test_missing_file_in_data_dir(tmp_path):
    (tmp_path / "data" / "lastfm").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="user_artists.dat"):
        LastFM(root=str(tmp_path / "root"), data_dir=str(tmp_path / "data"), log=False)


def test_environment_variable_names_the_data_folder(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(shared_data_dir))
    monkeypatch.setattr(base, "download_url", lambda *a, **k: pytest.fail("must not download"))
    dataset = MovieLens100K(root=str(tmp_path / "root"), log=False)
    assert describe(dataset[0])["interactions"] == 55_375
    assert (tmp_path / "root" / "raw" / "u.data").is_file()


def fake_downloads(monkeypatch, shared_data_dir, folder="gowalla", corrupt=False):
    """Replaces download_url: plain files come from the shared folder, zips are built from it."""
    calls = []

    def download_url(url, target_folder, log=True, filename=None):
        calls.append(url)
        name = filename or url.rpartition("/")[2]
        target = Path(target_folder) / name
        if name == "ml-100k.zip":
            with zipfile.ZipFile(target, "w") as archive:
                archive.write(shared_data_dir / "ml-100k" / "u.data", "ml-100k/u.data")
                archive.write(shared_data_dir / "ml-100k" / "u.item", "ml-100k/u.item")
        elif corrupt:
            flipped_copy(shared_data_dir / folder / name, target)
        else:
            shutil.copy(shared_data_dir / folder / name, target)
        return str(target)

    monkeypatch.setattr(base, "download_url", download_url)
    return calls


def test_download_plain_files_once(shared_data_dir, tmp_path, monkeypatch):
    calls = fake_downloads(monkeypatch, shared_data_dir, folder="amazon-cd")
    root = str(tmp_path / "root")
    AmazonCD(root=root, log=False)
    names = ["test.pkl", "train.pkl", "user_item_list.pkl"]
    assert sorted(url.rpartition("/")[2] for url in calls) == names
    assert all(url.startswith("https://raw.githubusercontent.com/marlin-codes/") for url in calls)
    AmazonCD(root=root, seed=1, force_reload=True, log=False)  # raw files present: no download
    assert len(calls) == 3
    assert sorted(os.listdir(Path(root) / "raw")) == names


def test_download_extracts_zip_members(shared_data_dir, tmp_path, monkeypatch):
    calls = fake_downloads(monkeypatch, shared_data_dir)
    dataset = MovieLens100K(root=str(tmp_path / "root"), log=False)
    assert calls == [MovieLens100K.urls["u.data"]]
    assert os.listdir(tmp_path / "root" / "raw") == ["u.data"]  # only the needed member, no zip
    assert describe(dataset[0])["interactions"] == 55_375


def test_corrupted_download_is_an_error_not_a_retry(shared_data_dir, tmp_path, monkeypatch):
    calls = fake_downloads(monkeypatch, shared_data_dir, corrupt=True)
    with pytest.raises(ValueError, match="sha256 mismatch") as info:
        Gowalla(root=str(tmp_path / "root"), log=False)
    assert "https://raw.githubusercontent.com" in str(info.value)
    assert len(calls) == 1
    assert os.listdir(tmp_path / "root" / "raw") == []


def test_download_failure_points_at_data_dir(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(base, "download_url", offline)
    with pytest.raises(RuntimeError, match="GRAPHDENOISE_DATA"):
        LastFM(root=str(tmp_path / "root"), log=False)


def test_processed_names_encode_options(tmp_path):
    root = str(tmp_path / "synthetic")
    names = set()
    for options in ({}, {"seed": 1}, {"ratios": (0.6, 0.2, 0.2)}, {"min_interactions": 5},
                    {"noise_ratio": 0.1}, {"num_users": 200}):
        dataset = Synthetic(root=root, log=False, **options)
        names.add(dataset.processed_file_names[0])
        assert os.path.exists(dataset.processed_paths[0])
    assert len(names) == 6
    processed = os.listdir(Path(root) / "processed")
    assert not [name for name in processed if name.startswith(".tmp")]  # atomic writes


def test_processed_names_of_loaders():
    dataset = object.__new__(MovieLens100K)
    dataset.split, dataset.ratios, dataset.seed, dataset.min_interactions = (
        "ratio", (0.8, 0.1, 0.1), 0, 10)
    dataset.rating_threshold = 4.0
    expected = "data_v2_ratio_ratios0.8-0.1-0.1_seed0_core10_rating4.pt"
    assert dataset.processed_file_names == [expected]
    dataset.rating_threshold = None
    assert dataset.processed_file_names[0].endswith("_ratingall.pt")


def test_force_reload_reprocesses(tmp_path):
    root = str(tmp_path / "synthetic")
    path = Synthetic(root=root, log=False).processed_paths[0]
    before = os.stat(path).st_mtime_ns
    Synthetic(root=root, log=False)
    assert os.stat(path).st_mtime_ns == before
    Synthetic(root=root, force_reload=True, log=False)
    assert os.stat(path).st_mtime_ns != before


def test_unsupported_split(tmp_path):
    with pytest.raises(ValueError, match="given"):
        LastFM(root=str(tmp_path), split="given", log=False)


def test_default_root():
    root = default_root("gowalla")
    checkout = Path(base.__file__).resolve().parents[2]
    if (checkout / "datasets").is_dir() and (checkout / ".git").exists():
        assert root == str(checkout / "datasets" / "gowalla")
    else:
        assert root.endswith(os.path.join(".cache", "graphdenoise", "gowalla"))
