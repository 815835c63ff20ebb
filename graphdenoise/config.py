"""Typed configs: one way to combine a config dataclass with keyword overrides."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional


def resolve_config(owner: type, config: Optional[Any], overrides: Dict[str, Any]):
    r"""``owner.Config()`` (or ``config``) with ``overrides`` applied, checked field by field.

    A config of the wrong type is a :class:`TypeError`; an override that names no field is a
    :class:`ValueError` listing the valid fields. The dataclass's own ``__post_init__`` validates values.
    """
    config_cls = owner.Config
    config = config if config is not None else config_cls()
    if not isinstance(config, config_cls):
        raise TypeError(f"{owner.__name__} expects a {config_cls.__name__}, got {type(config).__name__}")
    if overrides:
        names = {f.name for f in dataclasses.fields(config)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for {owner.__name__}; valid: {sorted(names)}")
        config = dataclasses.replace(config, **overrides)
    return config
