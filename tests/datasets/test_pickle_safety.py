"""Amazon-CD pickles are read with a restricted unpickler that never runs code."""
from __future__ import annotations

import os
import pickle
import shutil

import pytest

from graphdenoise.datasets import DATA_ENV, AmazonCD, safe_load_pickle
from graphdenoise.datasets.amazon_cd import adjacency_to_arrays


class RunsShellCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_malicious_pickle_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "train.pkl"
    path.write_bytes(pickle.dumps({0: [1, 2], 1: RunsShellCommand(f"touch {sentinel}")}))
    refused = r"refusing to load global '(posix|os|nt)\.system'"
    with pytest.raises(ValueError, match=refused) as info:
        safe_load_pickle(path)
    assert "train.pkl" in str(info.value)
    assert not sentinel.exists()


@pytest.mark.parametrize("payload", [
    pickle.dumps(RunsShellCommand("true"), protocol=0),  # GLOBAL + REDUCE
    pickle.dumps(RunsShellCommand("true"), protocol=5),  # STACK_GLOBAL + REDUCE
    pickle.dumps(slice(1, 2)),
])
def test_any_global_is_refused(tmp_path, payload):
    path = tmp_path / "x.pkl"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="refusing to load global"):
        safe_load_pickle(path)


def test_plain_data_loads_and_is_type_checked(tmp_path):
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps({0: [3, 1], 2: []}))
    users, items, listed = adjacency_to_arrays(safe_load_pickle(path), "ok.pkl")
    assert users.tolist() == [0, 0] and items.tolist() == [3, 1] and listed.tolist() == [0, 2]
    with pytest.raises(ValueError, match="expected integer item ids"):
        adjacency_to_arrays({0: ["3"]}, "bad.pkl")
    with pytest.raises(ValueError, match="expected lists"):
        adjacency_to_arrays({0: {3}}, "bad.pkl")
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps({0: [1]})[:-3])
    with pytest.raises(ValueError, match="invalid pickle"):
        safe_load_pickle(truncated)


def test_real_pickles_load_safely(shared_data_dir):
    train = safe_load_pickle(shared_data_dir / "amazon-cd" / "train.pkl")
    assert isinstance(train, dict) and len(train) == 22_947


def test_tampered_raw_pickle_never_reaches_the_unpickler(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    sentinel = tmp_path / "pwned"
    data_dir = tmp_path / "data" / "amazon-cd"
    data_dir.mkdir(parents=True)
    for name in ("test.pkl", "user_item_list.pkl"):
        shutil.copy(shared_data_dir / "amazon-cd" / name, data_dir / name)
    (data_dir / "train.pkl").write_bytes(pickle.dumps(RunsShellCommand(f"touch {sentinel}")))
    with pytest.raises(ValueError, match="sha256 mismatch"):
        AmazonCD(root=str(tmp_path / "root"), data_dir=str(tmp_path / "data"), log=False)
    assert not sentinel.exists()
