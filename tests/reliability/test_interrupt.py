"""Ctrl-C and SIGTERM stop training cleanly; a SIGKILLed run resumes bit-identically."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import graphdenoise
from graphdenoise.train import Trainer, load_checkpoint
from graphdenoise.train.interrupt import TrainingInterrupted
from tests.conftest import REPO_ROOT
from tests.helpers import synthetic

DATA = ["--dataset", "synthetic", "--model", "mf", "--eval-every", "1", "--batch-size", "64",
        "--dataset-option", "num_users=300", "--dataset-option", "num_items=200", "-o", "embedding_dim=16"]


def _start(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "graphdenoise", "fit", *DATA, *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_epoch(process, epoch: int, timeout: float = 120) -> None:
    """Reads the run's per-evaluation lines until epoch ``epoch`` is evaluated (and checkpointed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("epoch") and int(line.split()[1]) >= epoch:
            return
    process.kill()
    pytest.fail(f"the run never reached epoch {epoch}: {process.stderr.read()[-2000:]}")


@pytest.mark.slow
def test_sigint_mid_training_leaves_a_resumable_checkpoint_and_results(tmp_path):
    ck, out, saved = tmp_path / "ck", tmp_path / "out.json", tmp_path / "model.pt"
    process = _start(tmp_path, "--epochs", "500", "--patience", "0", "--checkpoint-dir", str(ck),
                     "--out", str(out), "--save", str(saved))
    _wait_for_epoch(process, 2)  # epoch 2 is printed after epoch 1's checkpoint is written
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and "interrupted by SIGINT; checkpoint" in lines[0]
    assert "holds epoch" in lines[0] and f"same command with --resume --checkpoint-dir {ck}" in lines[0]
    payload = json.loads(out.read_text())
    assert payload["interrupted"] is True and payload["best_epoch"] >= 1
    assert graphdenoise.load(saved).interrupted
    checkpoint = load_checkpoint(ck / "last.pt")
    assert checkpoint["epoch"] >= 1 and not [p for p in ck.iterdir() if p.name.endswith(".tmp")]
    resumed = _start(tmp_path, "--epochs", str(checkpoint["epoch"] + 1), "--patience", "0",
                     "--checkpoint-dir", str(ck), "--resume", "--quiet", "--out", str(out))
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    payload = json.loads(out.read_text())
    assert payload["interrupted"] is False and len(payload["history"]) == checkpoint["epoch"] + 1


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path):
    reference = _start(tmp_path, "--epochs", "4", "--quiet", "--out", str(tmp_path / "reference.json"))
    assert reference.wait(timeout=120) == 0, reference.stderr.read()
    ck = tmp_path / "ck"
    killed = _start(tmp_path, "--epochs", "4", "--checkpoint-dir", str(ck))
    _wait_for_epoch(killed, 3)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert load_checkpoint(ck / "last.pt")["epoch"] >= 2
    resumed = _start(tmp_path, "--epochs", "4", "--checkpoint-dir", str(ck), "--resume", "--quiet",
                     "--out", str(tmp_path / "resumed.json"))
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    expected, actual = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("reference", "resumed"))
    assert actual["metrics"] == expected["metrics"]
    assert [h["loss"] for h in actual["history"]] == [h["loss"] for h in expected["history"]]


def _signal_in_epoch(monkeypatch, epoch: int, signum: int) -> None:
    """Makes the process send itself ``signum`` as epoch ``epoch`` starts (the handler raises right there)."""
    train_epoch = Trainer.train_epoch

    def signalled(self):
        if self.epoch == epoch - 1:
            os.kill(os.getpid(), signum)
        return train_epoch(self)

    monkeypatch.setattr(Trainer, "train_epoch", signalled)


def test_sigterm_in_python_raises_training_interrupted_with_the_best_state(tmp_path, monkeypatch):
    previous = signal.getsignal(signal.SIGTERM)
    _signal_in_epoch(monkeypatch, 3, signal.SIGTERM)
    with pytest.raises(TrainingInterrupted) as info:
        graphdenoise.fit(synthetic(), model="mf", epochs=50, eval_every=1, batch_size=1024, patience=0,
                         checkpoint_dir=str(tmp_path))
    stop = info.value
    assert isinstance(stop, KeyboardInterrupt) and stop.exit_code == 143
    assert stop.result.interrupted and stop.result.best_epoch in (1, 2)
    assert stop.result.to_json()["interrupted"] is True and set(stop.result.metrics) == {"val", "test"}
    assert "training interrupted by SIGTERM in epoch 3" in str(stop)
    assert f"{tmp_path / 'last.pt'} holds epoch 2" in str(stop)
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is removed after training


def test_interrupt_without_checkpoint_folder_says_it_cannot_resume(monkeypatch):
    _signal_in_epoch(monkeypatch, 2, signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="no checkpoint folder was set") as info:
        graphdenoise.fit(synthetic(), model="mf", epochs=50, eval_every=1, batch_size=1024)
    assert info.value.exit_code == 130 and info.value.result.best_epoch == 1


def test_signal_during_a_checkpoint_write_lets_the_write_complete(tmp_path, monkeypatch):
    import graphdenoise.train.loop as trainer_module
    save = trainer_module.atomic_save

    def interrupted_while_writing(state, path):
        if state["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        save(state, path)

    monkeypatch.setattr(trainer_module, "atomic_save", interrupted_while_writing)
    with pytest.raises(TrainingInterrupted) as info:
        graphdenoise.fit(synthetic(), model="mf", epochs=50, eval_every=1, batch_size=1024, patience=0,
                         checkpoint_dir=str(tmp_path))
    assert info.value.checkpoint_epoch == 2 and load_checkpoint(tmp_path / "last.pt")["epoch"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
