"""Non-finite numbers stop training with an error naming epoch, step and tensor; the last good checkpoint stays."""
from __future__ import annotations

import math

import pytest
import torch

import graphdenoise
from graphdenoise.cli import main
from graphdenoise.sequential import fit_sequence
from graphdenoise.sequential.trainer import SequenceTrainer
from graphdenoise.train import Trainer, load_checkpoint
from graphdenoise.train.guards import FiniteGuard, NonFiniteError
from tests.helpers import synthetic
from tests.sequential.conftest import clustered_sequences

COMMON = dict(model="mf", epochs=5, eval_every=1, batch_size=1024, patience=0)


def test_nan_embedding_stops_training_at_its_first_step_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    train_epoch, first_step = Trainer.train_epoch, {}

    def poisoned_in_epoch_3(self):
        if self.epoch == 2:
            first_step["step"] = self.step
            with torch.no_grad():
                self.model.user_embedding.weight.fill_(float("nan"))
        return train_epoch(self)

    monkeypatch.setattr(Trainer, "train_epoch", poisoned_in_epoch_3)
    with pytest.raises(NonFiniteError) as info:
        graphdenoise.fit(synthetic(), checkpoint_dir=str(tmp_path), **COMMON)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.epoch, error.step, error.tensor) == (3, first_step["step"], "loss")
    assert f"at epoch 3, step {first_step['step']} (tensor 'loss')" in str(error)
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    assert checkpoint["epoch"] == 2  # the good state before the NaN, never overwritten
    assert all(torch.isfinite(t).all() for t in checkpoint["model"].values() if t.is_floating_point())


def test_huge_l2_infinite_adam_state_is_caught(tmp_path):
    with pytest.raises(NonFiniteError, match=r"optimizer\[user_embedding\.weight\]\.exp_avg_sq .* at epoch 1, "
                                             r"step \d+") as info:
        graphdenoise.fit(synthetic(), checkpoint_dir=str(tmp_path), l2=1e30, **COMMON)
    assert info.value.epoch == 1
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 0


def test_cli_reports_non_finite_training_as_an_error(capsys):
    code = main(["fit", "--model", "mf", "--epochs", "3", "--eval-every", "1", "--l2", "1e30", "--quiet",
                 "--dataset-option", "num_users=80", "--dataset-option", "num_items=60"])
    assert code == 2
    err = capsys.readouterr().err
    assert "non-finite values in optimizer[" in err and "Traceback" not in err


def test_sequence_trainer_stops_on_a_nan_parameter(monkeypatch):
    train_epoch = SequenceTrainer.train_epoch

    def poisoned(self):
        record = train_epoch(self)
        with torch.no_grad():
            next(self.model.parameters()).view(-1)[0] = float("inf")
        return record

    monkeypatch.setattr(SequenceTrainer, "train_epoch", poisoned)
    with pytest.raises(NonFiniteError, match="non-finite values in model.* at epoch 1"):
        fit_sequence(clustered_sequences(), "widedeep", "bce", epochs=2, seed=0, max_len=5, eval_negatives=10,
                     batch_size=32, embedding_dim=8)


def test_guard_names_the_first_bad_step_without_a_sync_per_step():
    guard = FiniteGuard()
    for step, value in enumerate([1.0, 2.0, math.nan, math.inf, 3.0]):
        guard.observe_loss(torch.tensor(value), step + 10)
    with pytest.raises(NonFiniteError, match="step 12") as info:
        guard.check_epoch(4, math.nan, 15)
    assert (info.value.epoch, info.value.step) == (4, 12)
    guard.check_epoch(5, 1.0, 20)  # a finite epoch passes and the tracker was reset
    good, bad = torch.ones(3), torch.tensor([0.0, -math.inf])
    FiniteGuard.check_state([("a", good)], 1, 1)
    with pytest.raises(NonFiniteError, match=r"non-finite values in b \(1 of 2 entries\)"):
        FiniteGuard.check_state([("a", good), ("b", bad)], 1, 1)
