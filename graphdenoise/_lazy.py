r"""Lazy package attributes: ``import graphdenoise`` and ``graphdenoise --help`` must not import torch.

A package lists its public names and the submodule that defines each; the submodule is imported on
first access (PEP 562 module ``__getattr__``), and any submodule of the package is reachable as an
attribute. Usage, in a package's ``__init__.py``::

    from ._lazy import lazy_attributes

    __getattr__, __dir__ = lazy_attributes(__name__, {"fit": ".api", "MODELS": ".models"})

Rule for modules on the start-up path (``graphdenoise/__init__.py``, ``cli.py``, ``catalog.py``,
``experiments/__init__.py``, ``experiments/cli.py``, ``experiments/spec.py``): import only the standard
library at module level; import torch, PyG and graphdenoise's heavy modules inside the functions
that need them. ``tests/test_startup.py`` checks that help, ``list`` and argument errors import no torch.
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, List, Tuple


def lazy_attributes(package: str, exports: Dict[str, str]) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    r"""``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a public name to the (relative)
    module that defines it, ``".module"``, or to ``".module:attribute"`` when it is exported under
    another name; other names are tried as submodules of ``package``."""

    def __getattr__(name: str):
        target = exports.get(name)
        if target is not None:
            module_name, _, attribute = target.partition(":")
            value = getattr(importlib.import_module(module_name, package), attribute or name)
        else:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        globals_of(package)[name] = value  # later accesses skip __getattr__
        return value

    def __dir__() -> List[str]:
        return sorted(set(globals_of(package)) | set(exports))

    return __getattr__, __dir__


def globals_of(package: str) -> dict:
    import sys
    return vars(sys.modules[package])
