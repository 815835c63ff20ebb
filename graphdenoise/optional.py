r"""Optional dependencies, checked before any work starts.

A feature that needs a package outside the core install calls :func:`require` first, so that a
missing package stops the run at once with the ``pip install`` line to type, never after hours of
training (the experiment harness used to train every cell and only then fail on matplotlib).
"""
from __future__ import annotations

import importlib

#: The extra of ``setup.cfg`` that installs each optional module.
EXTRAS = {"matplotlib": "plots", "optuna": "tune", "tensorboard": "track", "mlflow": "mlflow"}


class MissingDependency(ImportError):
    """An optional package is not installed; the message says which extra installs it."""


def require(module: str, purpose: str, extra: str = ""):
    r"""Import and return the optional ``module``, or raise :class:`MissingDependency` naming the extra.

    Args:
        module (str): The importable name (``"matplotlib"``, ``"torch.utils.tensorboard"``).
        purpose (str): What needs it, for the message (``"the experiment's figures"``).
        extra (str, optional): The extra that installs it. (default: looked up in :data:`EXTRAS`)
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = extra or EXTRAS.get(top, "all")
        raise MissingDependency(f"{purpose} needs the optional package {top!r}, which is not installed: "
                                f"pip install 'graphdenoise[{extra}]'") from None
