"""Help generated from the typed configs' attribute docstrings: one source for --help and list --options."""
import dataclasses
import inspect

import pytest

from graphdenoise import METHODS, MODELS
from graphdenoise.cli import build_parser, main, trainer_options
from graphdenoise.config_help import options_from_source, options_of, parse_default
from graphdenoise.sequential import SEQUENCE_METHODS, SEQUENCE_MODELS
from graphdenoise.train import TrainerConfig


def _fit_help() -> str:
    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    return " ".join(fit.format_help().split())


def test_fit_help_shows_every_trainer_field_with_its_doc_and_default():
    text = _fit_help()
    for field in dataclasses.fields(TrainerConfig):
        if field.name == "show_progress":
            assert "--quiet" in text
            continue
        flag = "--" + field.name.replace("_", "-")
        assert flag in text, flag
        option = next(o for o in trainer_options() if o.name == field.name)
        assert f"(default: {option.default})" in text, field.name
        assert parse_default(option) == field.default or tuple(parse_default(option)) == field.default
        assert " ".join(option.doc.split()[:4]) in text


def test_source_reading_matches_the_imported_class():
    """The help is read from the source without importing torch; it must equal the imported truth."""
    from_source = {o.name: o for o in options_from_source(inspect.getsourcefile(TrainerConfig), "TrainerConfig")}
    imported = {o.name: o for o in options_of(TrainerConfig)}
    assert from_source.keys() == imported.keys()
    for name, option in imported.items():
        assert from_source[name].doc == option.doc and from_source[name].type == option.type
        assert parse_default(from_source[name]) == getattr(TrainerConfig(), name)


@pytest.mark.parametrize("registry", [MODELS, METHODS, SEQUENCE_MODELS, SEQUENCE_METHODS])
def test_every_config_field_is_documented(registry):
    for name in registry.names():
        for option in options_of(registry.get(name).Config):
            assert option.doc, f"{name}.{option.name} has no attribute docstring"


def test_list_options_prints_types_defaults_and_docs(capsys):
    assert main(["list", "--options", "til-ui"]) == 0
    out = capsys.readouterr().out
    for option in options_of(METHODS.get("til-ui").Config):
        line = next(line for line in out.splitlines() if line.split()[:1] == [option.name])
        assert option.type in line and option.default in line and option.summary[:30] in line
    assert main(["list", "--options", "lightgcn"]) == 0
    assert "num_layers" in capsys.readouterr().out
    assert main(["list", "--options", "trainer"]) == 0
    assert "eval_every" in capsys.readouterr().out
    assert main(["list", "--options", "til_ui"]) == 2
    assert "til-ui" in capsys.readouterr().err


def test_generated_flags_parse_to_typed_values():
    args = build_parser().parse_args(["fit", "--lr", "0.01", "--ks", "5,10", "--resume", "--batch-size", "64"])
    assert args.lr == 0.01 and args.ks == (5, 10) and args.resume is True and args.batch_size == 64
    assert args.patience is None  # not given: the config's default applies


def test_experiment_help_explains_each_budget():
    experiment = build_parser()._subparsers._group_actions[0].choices["experiment"]
    text = experiment.format_help()
    for budget in ("tiny", "small", "paper"):
        assert f"budget {budget}: at most" in text
