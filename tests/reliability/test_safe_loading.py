"""No code runs from an untrusted file: every loader refuses a file whose unpickling would run code."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import graphdenoise
from graphdenoise.cli import main
from graphdenoise.files import UnsafeFileError, safe_torch_load, write_checksum
from graphdenoise.methods import METHODS
from graphdenoise.models import MF
from graphdenoise.train import Trainer, TrainerConfig, load_checkpoint
from graphdenoise.datasets import Synthetic
from tests.helpers import synthetic
from tests.reliability.conftest import write_malicious

KINDS = ["torch", "pickle"]


@pytest.mark.parametrize("kind", KINDS)
def test_load_refuses_a_result_file_that_runs_code(tmp_path, marker, kind):
    path = tmp_path / "result.pt"
    write_malicious(path, marker, kind)
    with pytest.raises(UnsafeFileError, match="refusing to load result file .*result.pt"):
        graphdenoise.load(path)
    assert isinstance(UnsafeFileError("x"), ValueError)


@pytest.mark.parametrize("kind", KINDS)
def test_fit_resume_refuses_a_checkpoint_that_runs_code(tmp_path, marker, kind):
    write_malicious(tmp_path / "ck" / "last.pt", marker, kind)
    with pytest.raises(ValueError, match="refusing to load checkpoint .*last.pt"):
        graphdenoise.fit(synthetic(), model="mf", epochs=1, batch_size=1024, resume=True,
                         checkpoint_dir=str(tmp_path / "ck"))


def test_cli_resume_refuses_a_checkpoint_that_runs_code(tmp_path, marker, capsys):
    write_malicious(tmp_path / "ck" / "last.pt", marker)
    code = main(["fit", "--model", "mf", "--epochs", "1", "--quiet", "--resume", "--checkpoint-dir",
                 str(tmp_path / "ck")])
    assert code == 2
    assert "refusing to load checkpoint" in capsys.readouterr().err


def _synthetic_dataset(root, **kwargs):
    return Synthetic(root=str(root), num_users=60, num_items=40, num_clusters=3, mean_positives=8, log=False,
                     **kwargs)


def test_processed_cache_that_runs_code_is_never_unpickled(tmp_path, marker):
    dataset = _synthetic_dataset(tmp_path)
    expected = dataset[0]["user", "interacts", "item"].edge_index.clone()
    path = dataset.processed_paths[0]
    write_malicious(Path(path), marker)
    with pytest.warns(UserWarning, match="not intact"):  # the checksum no longer matches: rebuilt, never read
        rebuilt = _synthetic_dataset(tmp_path)
    assert torch.equal(rebuilt[0]["user", "interacts", "item"].edge_index, expected)
    write_malicious(Path(path), marker)
    write_checksum(path)  # a forged checksum: the safe reader still refuses it
    with pytest.raises(UnsafeFileError, match="refusing to load processed dataset .*data_v2"):
        _synthetic_dataset(tmp_path)


@pytest.mark.parametrize("name", ["pre_transform.pt", "pre_filter.pt"])
def test_processed_pre_transform_records_that_run_code_are_refused(tmp_path, marker, name):
    dataset = _synthetic_dataset(tmp_path)
    path = Path(dataset.processed_dir) / name
    write_malicious(path, marker)
    write_checksum(path)
    with pytest.raises(UnsafeFileError, match=f"refusing to load processed .* record .*{name}"):
        _synthetic_dataset(tmp_path)


@pytest.mark.parametrize("method", METHODS.names())
def test_every_methods_checkpoint_loads_without_code(tmp_path, method):
    """Checkpoints hold tensors and plain containers only (RNG states included), whatever the method."""
    data = synthetic()
    trainer = Trainer(MF(data), METHODS.get(method)(), data,
                      TrainerConfig(epochs=1, batch_size=1024, show_progress=False, checkpoint_dir=str(tmp_path)))
    trainer.fit()
    state = safe_torch_load(tmp_path / "last.pt")
    assert state["epoch"] == 1 and state["fingerprint"]["method"] == type(trainer.method).__name__
    assert isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)
    assert load_checkpoint(tmp_path / "last.pt")["step"] == trainer.step
