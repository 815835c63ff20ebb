"""Issue 12, section 5: typed options given as text are coerced exactly by the field's type or
refused naming the option and its type; range errors name the option and the valid range; a
raw-data folder that does not exist is an error even when the dataset is cached."""
from __future__ import annotations

import dataclasses
import typing

import pytest

from graphdenoise import cli
from graphdenoise.config import check_range, coerce_option, resolve_config
from graphdenoise.datasets import MovieLens100K, load_dataset
from graphdenoise.methods import METHODS
from graphdenoise.methods.reweighting import LinearDropRate
from graphdenoise.methods.tce import TCEConfig
from graphdenoise.models import MODELS
from graphdenoise.sequential import SEQUENCE_METHODS, SequenceTrainerConfig
from graphdenoise.sequential.data import SequenceDataConfig
from graphdenoise.sequential.models import SEQUENCE_MODELS
from graphdenoise.train import TrainerConfig


def config_classes():
    owners = [MODELS.get(n) for n in MODELS.names()] + [METHODS.get(n) for n in METHODS.names()]
    owners += [SEQUENCE_MODELS.get(n) for n in SEQUENCE_MODELS.names()]
    owners += [SEQUENCE_METHODS.get(n) for n in SEQUENCE_METHODS.names()]
    classes = {owner.Config for owner in owners}
    return sorted(classes | {TrainerConfig, SequenceTrainerConfig, SequenceDataConfig},
                  key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", config_classes(), ids=lambda c: c.__name__)
def test_every_numeric_option_is_coerced_exactly_from_text(cls):
    hints = typing.get_type_hints(cls)
    default = cls()
    for field in dataclasses.fields(cls):
        value = getattr(default, field.name)
        if hints[field.name] in (int, float) and not isinstance(value, bool):
            text = repr(value)
            coerced = coerce_option(cls, field.name, text)
            assert coerced == value and type(coerced) is hints[field.name], (field.name, coerced)
            assert dataclasses.replace(default, **{field.name: text}) == default
            with pytest.raises(TypeError, match=rf"{cls.__name__}\.{field.name}='two' must be an? "
                                                rf"{hints[field.name].__name__}"):
                coerce_option(cls, field.name, "two")


def test_text_options_through_resolve_config():
    lightgcn = MODELS.get("lightgcn")
    config = resolve_config(lightgcn, None, {"num_layers": "2", "embedding_dim": 32.0})
    assert config.num_layers == 2 and type(config.num_layers) is int and config.embedding_dim == 32
    with pytest.raises(TypeError, match=r"LightGCNConfig\.num_layers='two' must be an int \(got str\)"):
        resolve_config(lightgcn, None, {"num_layers": "two"})
    with pytest.raises(TypeError, match=r"LightGCNConfig\.num_layers=2\.5 must be an int"):
        resolve_config(lightgcn, None, {"num_layers": 2.5})
    with pytest.raises(TypeError, match=r"LightGCNConfig\.num_layers=True must be an int"):
        resolve_config(lightgcn, None, {"num_layers": True})


def test_trainer_config_from_text():
    config = TrainerConfig(lr="0.01", batch_size="256", resume="false", ks="(5, 10)",
                           monitor="ndcg@10", device="None")
    assert config.lr == 0.01 and config.batch_size == 256 and config.resume is False
    assert config.ks == (5, 10) and config.device is None
    with pytest.raises(TypeError, match=r"TrainerConfig\.lr='fast' must be a float"):
        TrainerConfig(lr="fast")
    with pytest.raises(TypeError, match=r"TrainerConfig\.resume='maybe' must be a bool"):
        TrainerConfig(resume="maybe")
    with pytest.raises(TypeError, match=r"TrainerConfig\.ks=\[10, 'x'\] must be a Sequence\[int\]"):
        TrainerConfig(ks=[10, "x"])


@pytest.mark.parametrize("make,message", [
    (lambda: TCEConfig(drop_rate=1.5), r"TCEConfig\.drop_rate=1\.5 is out of range: must lie in \[0, 1\)"),
    (lambda: TCEConfig(drop_rate="1.5"), r"TCEConfig\.drop_rate=1\.5 is out of range: must lie in \[0, 1\)"),
    (lambda: TCEConfig(drop_scope="all"), r"TCEConfig\.drop_scope='all' is not a valid choice: must be one of \('batch', 'positives'\)"),
    (lambda: LinearDropRate(1.5), r"LinearDropRate\.max_rate=1\.5 is out of range: must lie in \[0, 1\)"),
    (lambda: TrainerConfig(lr=0), r"TrainerConfig\.lr=0 is out of range: must be > 0"),
    (lambda: TrainerConfig(epochs=0), r"TrainerConfig\.epochs=0 is out of range: must be >= 1"),
    (lambda: TrainerConfig(l2=float("nan")), r"TrainerConfig\.l2=nan is out of range: must be >= 0"),
    (lambda: SequenceTrainerConfig(batch_size=1), r"SequenceTrainerConfig\.batch_size=1 is out of range: must be >= 2"),
])
def test_range_errors_name_option_and_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_range_rules():
    check_range("x", 0.0, "[0, 1)")
    check_range("x", 1.0, "(0, 1]")
    check_range("x", 5, ">= 5")
    for value, rule in ((1.0, "[0, 1)"), (0.0, "(0, 1]"), (4, ">= 5"), (float("nan"), "> 0"),
                        ("c", ("a", "b"))):
        with pytest.raises(ValueError, match="is out of range|is not a valid choice"):
            check_range("x", value, rule)


def test_cli_option_given_as_bad_text_fails_cleanly(capsys):
    code = cli.main(["fit", "--dataset", "synthetic", "--model", "lightgcn", "--epochs", "1",
                     "-o", "num_layers=two"])
    assert code != 0
    assert "LightGCNConfig.num_layers='two' must be an int" in capsys.readouterr().err


def test_missing_data_dir_is_an_error_even_when_cached(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHDENOISE_DATA", raising=False)
    root = str(tmp_path / "ml")
    MovieLens100K(root=root, data_dir=str(shared_data_dir), log=False)  # cached now
    with pytest.raises(FileNotFoundError, match=r"raw-data folder '.*nope' \(from data_dir\) does "
                                                r"not exist"):
        MovieLens100K(root=root, data_dir=str(tmp_path / "nope"), log=False)
    monkeypatch.setenv("GRAPHDENOISE_DATA", str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match=r"from \$GRAPHDENOISE_DATA\) does not exist"):
        load_dataset("ml-100k", root=root)
    load_dataset("synthetic", root=str(tmp_path / "syn"))  # no raw files: the folder is not used
