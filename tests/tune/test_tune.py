"""The Optuna tuner: declared search spaces, resume through SQLite, pruning, better-than-default, CLI."""
from __future__ import annotations

import json
import sys

import pytest

optuna = pytest.importorskip("optuna")

from graphdenoise import fit  # noqa: E402
from graphdenoise.cli import main as cli_main  # noqa: E402
from graphdenoise.datasets import load_dataset  # noqa: E402
from graphdenoise.methods import METHODS  # noqa: E402
from graphdenoise.models import MODELS  # noqa: E402
from graphdenoise.search_space import Choice, Float, Int, declared_space, parse_param, search_space  # noqa: E402
from graphdenoise.tune import PruningCallback, require_optuna, tune  # noqa: E402

SMALL = {"num_users": 150, "num_items": 100, "num_clusters": 4, "mean_positives": 12}
FAST = {"epochs": 3, "eval_every": 1, "batch_size": 1024}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_dataset("synthetic", root=str(tmp_path_factory.mktemp("synthetic")), **SMALL)


def test_every_method_declares_a_valid_space():
    for name in METHODS.names():
        space = search_space("mf", name)
        assert {"lr", "l2"} <= set(space)
        method = METHODS.get(name)
        assert set(declared_space(method.Config)) - set(getattr(method, "search_exclude", ())) <= set(space)
    assert set(search_space("mf", "tce")) == {"lr", "l2", "drop_rate", "num_gradual"}
    assert "alpha" not in search_space("mf", "til-ui") and "alpha" in search_space("mf", "til-mi")
    assert set(search_space("mf", "tce", exclude=("lr",))) == {"l2", "drop_rate", "num_gradual"}
    with pytest.raises(ValueError, match="cannot search"):
        search_space("mf", "bpr", include=("drop_rate",))
    for name in MODELS.names():
        declared_space(MODELS.get(name).Config)


def test_parse_param():
    assert parse_param("lr=1e-4:1e-1:log") == ("lr", Float(1e-4, 1e-1, log=True))
    assert parse_param("num-layers=1:3") == ("num_layers", Int(1, 3))
    assert parse_param("outer=same-batch,holdout") == ("outer", Choice(("same-batch", "holdout")))
    for bad in ("lr", "lr=1:x", "lr=2:1", "lr=0:1:log"):
        with pytest.raises(ValueError):
            parse_param(bad)


def test_resume_continues_the_trial_count(data, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = tune(data, "mf", "bpr", trials=1, storage=storage, study_name="s", **FAST)
    assert first.ran == 1 and first.study.trials[0].params == {"lr": 1e-3, "l2": 1e-4}  # the defaults first
    second = tune(data, "mf", "bpr", trials=3, storage=storage, study_name="s", **FAST)  # a new process would too
    assert second.ran == 2
    assert [t.number for t in second.study.trials] == [0, 1, 2]
    assert second.study.trials[0].params == {"lr": 1e-3, "l2": 1e-4}
    assert tune(data, "mf", "bpr", trials=3, storage=storage, study_name="s", **FAST).ran == 0
    with pytest.raises(ValueError, match="created for other settings.*method"):
        tune(data, "mf", "tce", trials=5, storage=storage, study_name="s", **FAST)


def test_finds_a_better_lr_than_a_bad_default(data):
    bad_lr = 1e-5
    bad = fit(data, "mf", "bpr", lr=bad_lr, **FAST).metrics["val"]["recall@20"]
    result = tune(data, "mf", "bpr", trials=6, space={"lr": Float(1e-5, 0.5, log=True)}, prune=False,
                  start_from_defaults=False, **FAST)
    assert result.best_params["lr"] > 10 * bad_lr
    assert result.best_value > bad + 0.04  # bad is a random ranking here (recall@20 ~ 20 / 100 items)
    assert all(t.value <= result.best_value for t in result.study.trials)


def test_pruning_callback_stops_a_trial_below_the_median():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    good = study.ask()
    callback = PruningCallback(good)
    for epoch in (1, 2, 3):
        callback(epoch, {"loss": 0.5, "val/recall@20": 0.3 + 0.1 * epoch})
    study.tell(good, 0.6)
    bad = study.ask()
    callback = PruningCallback(bad)
    callback(1, {"loss": 0.5})  # no evaluation this epoch: nothing reported
    assert bad.storage.get_trial(bad._trial_id).intermediate_values == {}
    with pytest.raises(optuna.TrialPruned):
        callback(1, {"val/recall@20": 0.05})


def test_cli_tune_writes_best_options(tmp_path, capsys):
    out = tmp_path / "best.json"
    argv = ["tune", "--dataset", "synthetic", "--model", "mf", "--method", "tce", "--trials", "2", "--epochs", "2",
            "-o", "eval_every=1", "-o", "batch_size=1024", "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--out", str(out), "--space", "lr=1e-3:1e-1:log", "--space", "drop_rate=0.1:0.3"]
    argv += [f"--dataset-option={k}={v}" for k, v in SMALL.items()] + [f"--dataset-option=root={tmp_path / 'd'}"]
    assert cli_main(argv) == 0
    text = capsys.readouterr().out
    assert "train it with: graphdenoise fit" in text and "-o drop_rate=" in text
    saved = json.loads(out.read_text())
    assert set(saved["best_params"]) == {"lr", "drop_rate"} and len(saved["trials"]) == 2
    assert saved["identity"]["method"] == "tce" and "test" not in json.dumps(saved["trials"])


def test_missing_optuna_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install 'graphdenoise\[tune\]'"):
        require_optuna()


def test_the_tune_command_names_the_extra_when_optuna_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert cli_main(["tune", "--dataset", "synthetic", "--model", "mf", "--method", "bpr", "--trials", "1"]) == 2
    assert "pip install 'graphdenoise[tune]'" in capsys.readouterr().err
