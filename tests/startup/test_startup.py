"""Start-up: ``import graphdenoise``, the CLI's help, ``list`` and argument errors import no torch, and the
static name catalog equals the registries."""
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from graphdenoise import catalog

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import sys, io, contextlib
import graphdenoise
from graphdenoise.cli import main
out = io.StringIO()
codes = []
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    for argv in (["--help"], ["list"], ["fit", "--epochs", "x"], ["fit", "--model", "nosuch"], ["experiment", "-h"]):
        try:
            codes.append(main(argv))
        except SystemExit as exc:
            codes.append(exc.code)
print(codes, sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.") or m == "numpy"))
print(out.getvalue())
"""


def test_help_list_and_argument_errors_import_no_torch():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    assert first == "[0, 0, 2, 2, 0] []", first
    assert "datasets: amazon-cd, gowalla" in rest and "sasrec" in rest
    assert "unknown model 'nosuch'; valid models: cdae, gmf, lightgcn, mf, mgccf, neumf, din, sasrec" in rest
    assert "invalid int value: 'x'" in rest


@pytest.mark.parametrize("name", sorted(catalog.REGISTRIES))
def test_catalog_names_equal_the_registries(name):
    module, attribute = catalog.REGISTRIES[name]
    registry = getattr(importlib.import_module(module), attribute)
    names = registry.names() if hasattr(registry, "names") else list(registry)
    assert sorted(getattr(catalog, name)) == sorted(names)


def test_lazy_attributes_resolve_and_unknown_names_fail():
    import graphdenoise
    from graphdenoise.api import fit
    assert graphdenoise.fit is fit
    assert graphdenoise.sequential.SEQUENCE_MODELS.names() == list(catalog.SEQUENCE_MODELS)
    assert "fit" in dir(graphdenoise)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        graphdenoise.nosuch
    from graphdenoise.experiments import PAPER_TABLE1
    from graphdenoise.experiments.paper import TABLE1
    assert PAPER_TABLE1 is TABLE1
