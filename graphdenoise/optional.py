r"""Optional dependencies, checked before any work starts.

A feature that needs a package outside the core install calls :func:`require` first, so that a
missing package stops the run at once with the ``pip install`` line to type, never after hours of
training (the experiment harness used to train every cell and only then fail on matplotlib).
"""
from __future__ import annotations

import importlib.util

#: The extra of ``setup.cfg`` that installs each optional module.
EXTRAS = {"matplotlib": "plots"}


class MissingDependency(ImportError):
    """An optional package is not installed; the message says which extra installs it."""


def require(module: str, purpose: str, extra: str = "") -> None:
    r"""Raise :class:`MissingDependency` unless ``module`` can be imported.

    Args:
        module (str): The importable name (``"matplotlib"``).
        purpose (str): What needs it, for the message (``"the experiment's figures"``).
        extra (str, optional): The extra that installs it. (default: looked up in :data:`EXTRAS`)
    """
    if importlib.util.find_spec(module) is None:
        extra = extra or EXTRAS.get(module, "all")
        raise MissingDependency(f"{purpose} needs the package {module!r}, which is not installed: "
                                f"pip install 'graphdenoise[{extra}]'")
