"""Tracking callbacks: the CSV log and TensorBoard event files hold the recorded scalars."""
from __future__ import annotations

import csv
import sys

import pytest

from graphdenoise import fit
from graphdenoise.cli import main as cli_main
from graphdenoise.datasets import load_dataset
from graphdenoise.train.tracking import CSVLogger, TensorBoardLogger, require, tracking_callbacks

SMALL = {"num_users": 120, "num_items": 80, "num_clusters": 4, "mean_positives": 12}
FAST = {"epochs": 4, "eval_every": 2, "batch_size": 1024}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_dataset("synthetic", root=str(tmp_path_factory.mktemp("synthetic")), **SMALL)


def read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_log_of_a_checkpointed_run_and_its_resume(data, tmp_path):
    result = fit(data, "mf", "tce", checkpoint_dir=str(tmp_path / "run"), **FAST)
    rows = read(tmp_path / "run" / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["loss"]) for r in rows] == pytest.approx([h["loss"] for h in result.history])
    assert rows[0]["val/recall@20"] == "" and float(rows[1]["val/recall@20"]) == pytest.approx(
        result.history[1]["val/recall@20"])
    assert "weight_mean" in rows[0]  # the method's statistics too
    # Resuming with a larger budget continues the log without repeating epochs.
    fit(data, "mf", "tce", checkpoint_dir=str(tmp_path / "run"), resume=True, **{**FAST, "epochs": 6})
    assert [int(r["epoch"]) for r in read(tmp_path / "run" / "log.csv")] == [1, 2, 3, 4, 5, 6]


def test_csv_logger_drops_rows_past_a_resumed_epoch(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    for epoch in (1, 2, 3):
        logger(epoch, {"epoch": epoch, "loss": 1.0 / epoch})
    resumed = CSVLogger(path)  # e.g. resumed from the checkpoint of epoch 2
    resumed(3, {"epoch": 3, "loss": 0.25, "val/recall@20": 0.5})
    rows = read(path)
    assert [(r["epoch"], r["loss"]) for r in rows] == [("1", "1.0"), ("2", "0.5"), ("3", "0.25")]
    assert rows[-1]["val/recall@20"] == "0.5"


def test_tensorboard_event_file_holds_the_scalars(data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    result = fit(data, "mf", "bpr", callbacks=[TensorBoardLogger(tmp_path / "tb")], **FAST)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss", "seconds", "val/recall@20", "val/ndcg@20"} <= tags
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3, 4]
    assert [e.value for e in events.Scalars("loss")] == pytest.approx([h["loss"] for h in result.history])
    assert [e.step for e in events.Scalars("val/recall@20")] == [2, 4]
    weights = sorted(t for t in tags if t.startswith("weights/model/"))
    assert weights and all(len(events.Scalars(t)) == 2 for t in weights)
    (text,) = events.Tensors("config/text_summary")
    config = text.tensor_proto.string_val[0].decode()
    assert '"method": "bpr"' in config and '"lr": 0.001' in config


def test_cli_fit_log_dir_writes_events_and_csv(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    argv = ["fit", "--dataset", "synthetic", "--model", "mf", "--method", "bpr", "--epochs", "2", "--eval-every", "1",
            "--log-dir", str(tmp_path / "logs"), "--quiet"]
    argv += [f"--dataset-option={k}={v}" for k, v in SMALL.items()] + [f"--dataset-option=root={tmp_path / 'd'}"]
    assert cli_main(argv) == 0
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))
    assert [r["epoch"] for r in read(tmp_path / "logs" / "log.csv")] == ["1", "2"]


def test_missing_optional_packages_name_their_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r"pip install 'graphdenoise\[mlflow\]'"):
        tracking_callbacks(mlflow=True)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install 'graphdenoise\[track\]'"):
        require("tensorboard", "TensorBoard logging", "track")
