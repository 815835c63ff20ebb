import json
import subprocess
import sys

import pytest
import torch

import graphdenoise
from graphdenoise.cli import main
from tests.helpers import synthetic


def test_fit_returns_metrics_history_config_and_round_trips(tmp_path):
    result = graphdenoise.fit(synthetic(), model="mf", epochs=3, eval_every=1, batch_size=512)
    assert set(result.metrics) == {"val", "test"}
    assert 0 <= result.metrics["test"]["recall@20"] <= 1
    assert len(result.history) == 3 and result.config["model"] == "mf"
    path = tmp_path / "model.pt"
    result.save(path)
    loaded = graphdenoise.load(path)
    users = torch.arange(10)
    assert torch.equal(loaded.model.recommend(users, 5), result.model.recommend(users, 5))
    assert loaded.metrics == result.metrics


def test_unknown_names_and_options_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'gcn'.*lightgcn.*mf"):
        graphdenoise.fit(synthetic(), model="gcn")
    with pytest.raises(ValueError, match="unknown method 'bpr2'.*bpr"):
        graphdenoise.fit(synthetic(), method="bpr2")
    with pytest.raises(ValueError, match="unknown dataset 'netflix'.*gowalla"):
        graphdenoise.fit("netflix")
    with pytest.raises(ValueError, match="unknown option 'learning_rate'.*lr"):
        graphdenoise.fit(synthetic(), learning_rate=1.0)


def test_fit_by_name_on_real_lastfm(shared_data_dir, tmp_path):
    result = graphdenoise.fit("lastfm", model="mf", epochs=1, data_dir=str(shared_data_dir),
                              dataset_options={"root": str(tmp_path / "lastfm")})
    assert result.model.num_users == 1892
    assert result.metrics["test"]["recall@20"] > 0


def test_cli_fit_writes_json_and_prints_table(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(["fit", "--dataset", "synthetic", "--model", "mf", "--epochs", "2", "--eval-every", "1",
                 "--out", str(out), "--quiet", "-o", "embedding_dim=16"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "recall@20" in printed and "test" in printed
    payload = json.loads(out.read_text())
    assert payload["config"]["model_config"]["embedding_dim"] == 16
    assert "recall@20" in payload["metrics"]["val"]


def test_cli_resume_continues_from_checkpoint(tmp_path, capsys):
    args = ["fit", "--model", "mf", "--epochs", "2", "--eval-every", "1", "--quiet",
            "--checkpoint-dir", str(tmp_path / "ck"), "--resume"]
    assert main(args) == 0
    assert main(args[:3] + ["--epochs", "3"] + args[5:]) == 0
    assert "resumed from" in capsys.readouterr().out or (tmp_path / "ck" / "last.pt").exists()


def test_cli_errors_are_clear(capsys):
    assert main(["fit", "--model", "nope", "--quiet"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_python_dash_m_lists_names():
    out = subprocess.run([sys.executable, "-m", "graphdenoise", "list"], capture_output=True, text=True,
                         check=True).stdout
    assert "lightgcn" in out and "til-mi" in out and "synthetic" in out


def test_cli_dispatches_sequence_models_to_the_sequential_trainer(shared_data_dir, tmp_path, capsys):
    out = tmp_path / "seq.json"
    code = main(["fit", "--dataset", "ml-100k", "--model", "widedeep", "--method", "atjt", "--epochs", "1",
                 "--data-dir", str(shared_data_dir), "--quiet", "--out", str(out),
                 "--dataset-option", f"root={str(tmp_path / 'ml')!r}", "-o", "max_len=5"])
    assert code == 0, capsys.readouterr().err
    payload = json.loads(out.read_text())
    assert {"auc", "hr@5", "ndcg@5"} <= set(payload["metrics"]["test"])
    with pytest.raises(ValueError, match="unknown sequence method 'bpr'.*atjt"):
        graphdenoise.fit("ml-100k", model="din", method="bpr", data_dir=str(shared_data_dir),
                         dataset_options={"root": str(tmp_path / "ml")})
