"""Optional packages are checked before any work starts, with the extra that installs them."""
import sys

import pytest

from graphdenoise.experiments import make_spec, run
from graphdenoise.optional import MissingDependency, require


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(MissingDependency, match=r"pip install 'graphdenoise\[plots\]'"):
        require("matplotlib", "the figures")


def test_drawing_a_figure_names_the_extra(monkeypatch, tmp_path):
    from graphdenoise.experiments import figures
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependency, match=r"pip install 'graphdenoise\[plots\]'"):
        figures.grouped_bars({"panel": {"bpr": {"val": (1.0, 0.1)}}}, tmp_path / "f.png", ylabel="y", title="t")
    assert not (tmp_path / "f.png").exists()


def test_experiment_refuses_before_training_any_cell(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    spec = make_spec("robustness", datasets=["synthetic"], backbones=["mf"], methods=["bpr"],
                     budget="tiny")
    with pytest.raises(MissingDependency, match="matplotlib"):
        run(spec, tmp_path / "out", log=None)
    assert not any((tmp_path / "out").rglob("*.json")), "no cell may run before the check"
