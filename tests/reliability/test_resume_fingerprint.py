"""Resume continues the same run or refuses, naming every differing field with both values."""
from __future__ import annotations

import re

import pytest

import graphdenoise
from graphdenoise.cli import main
from graphdenoise.files import atomic_save
from graphdenoise.train import load_checkpoint
from graphdenoise.train.fingerprint import ResumeMismatchError, fingerprint_differences
from tests.helpers import synthetic

SMALL = dict(dataset_options={"num_users": 80, "num_items": 60, "num_clusters": 3, "mean_positives": 10})
CLI_SMALL = ["--dataset-option", "num_users=80", "--dataset-option", "num_items=60",
             "--dataset-option", "num_clusters=3", "--dataset-option", "mean_positives=10"]


def _cli(folder, *extra):
    return ["fit", "--dataset", "synthetic", "--model", "mf", "--epochs", "2", "--eval-every", "1", "--quiet",
            "--checkpoint-dir", str(folder), "--resume", *CLI_SMALL, *extra]


def test_seed_1_on_seed_0s_folder_is_refused(tmp_path, capsys):
    assert main(_cli(tmp_path / "ck", "--seed", "0")) == 0
    before = (tmp_path / "ck" / "last.pt").read_bytes()
    capsys.readouterr()
    assert main(_cli(tmp_path / "ck", "--seed", "1")) == 2
    err = capsys.readouterr().err
    assert "refusing to resume from" in err
    assert "trainer.seed: 0 in the checkpoint, 1 now" in err
    assert re.search(r"data: '[0-9a-f]{16}' in the checkpoint, '[0-9a-f]{16}' now", err)  # the split changed
    assert (tmp_path / "ck" / "last.pt").read_bytes() == before  # the checkpoint is left as it was


def test_changed_lr_is_refused_and_more_epochs_are_not(tmp_path):
    folder = str(tmp_path / "ck")
    common = dict(model="mf", batch_size=1024, eval_every=1, checkpoint_dir=folder, resume=True)
    graphdenoise.fit(synthetic(), epochs=1, lr=1e-3, **common)
    with pytest.raises(ResumeMismatchError, match=r"trainer\.lr: 0\.001 in the checkpoint, 0\.5 now"):
        graphdenoise.fit(synthetic(), epochs=2, lr=0.5, **common)
    resumed = graphdenoise.fit(synthetic(), epochs=2, lr=1e-3, **common)  # a larger epoch budget is the same run
    assert [h["epoch"] for h in resumed.history] == [1, 2]


def test_changed_model_config_is_named_not_a_load_state_dict_traceback(tmp_path):
    common = dict(model="mf", epochs=1, batch_size=1024, checkpoint_dir=str(tmp_path), resume=True)
    graphdenoise.fit(synthetic(), embedding_dim=16, **common)
    with pytest.raises(ResumeMismatchError) as info:
        graphdenoise.fit(synthetic(), embedding_dim=32, l2=1e-3, **common)
    message = str(info.value)
    assert "model_config.embedding_dim: 16 in the checkpoint, 32 now" in message
    assert "trainer.l2: 0.0001 in the checkpoint, 0.001 now" in message


def test_changed_data_or_noise_is_refused(tmp_path):
    common = dict(model="mf", epochs=1, batch_size=1024, checkpoint_dir=str(tmp_path), resume=True)
    graphdenoise.fit(synthetic(), **common)
    with pytest.raises(ResumeMismatchError, match="noisy_positives: 0.0 in the checkpoint, 0.2 now"):
        graphdenoise.fit(synthetic(), noisy_positives=0.2, **common)
    with pytest.raises(ResumeMismatchError, match="data: "):
        graphdenoise.fit(synthetic(seed=1), **common)


def test_checkpoint_without_fingerprint_is_refused(tmp_path):
    common = dict(model="mf", epochs=1, batch_size=1024, checkpoint_dir=str(tmp_path), resume=True)
    graphdenoise.fit(synthetic(), **common)
    state = load_checkpoint(tmp_path / "last.pt")
    del state["fingerprint"]
    atomic_save(state, tmp_path / "last.pt")
    with pytest.raises(ResumeMismatchError, match="has no run fingerprint"):
        graphdenoise.fit(synthetic(), **common)


def test_default_folder_names_the_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = dict(model="mf", epochs=1, batch_size=1024, resume=True, **SMALL)
    first = graphdenoise.fit("synthetic", **common)
    other = graphdenoise.fit("synthetic", lr=5e-3, **common)
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(re.fullmatch(r"synthetic_mf_bpr_seed0_[0-9a-f]{8}", f) for f in folders)
    assert first.config["trainer"]["checkpoint_dir"] != other.config["trainer"]["checkpoint_dir"]
    again = graphdenoise.fit("synthetic", epochs=2, **{k: v for k, v in common.items() if k != "epochs"})
    assert again.config["trainer"]["checkpoint_dir"] == first.config["trainer"]["checkpoint_dir"]
    assert [h["epoch"] for h in again.history] == [1, 2]  # resumed epoch 1, trained epoch 2


def test_differences_are_flattened_and_both_sided():
    saved = {"trainer": {"lr": 0.001, "seed": 0}, "model": "MF"}
    current = {"trainer": {"lr": 0.5, "seed": 0}, "model": "MF", "extra": 1}
    assert fingerprint_differences(saved, current) == [("extra", "<absent>", 1), ("trainer.lr", 0.001, 0.5)]
