r"""Typed configs: one way to combine a config dataclass with keyword overrides, exact coercion of
option values by the dataclass field types, and declarative range checks.

Options often arrive as text (``-o num_layers=2``, ``lr="0.01"`` from a config file). Every value
is coerced **exactly** by its field's type or refused with an error that names the option and
the expected type:

* ``int``: ints, integral floats (``2.0``) and their text (``"2"``, ``"2.0"``); never a bool;
* ``float``: ints, floats and their text (``"0.01"`` -> ``0.01``); never a bool;
* ``bool``: bools, ``0``/``1`` and ``"true"``/``"false"``/``"yes"``/``"no"``/``"1"``/``"0"``;
* ``str``: strings only;
* ``Optional[X]``: :obj:`None` (or the text ``"none"``/``"null"``) or an ``X``;
* ``Tuple[X, ...]``, ``Sequence[X]``: a list or tuple (or its literal text ``"(10, 20)"``) whose
  entries are coerced to ``X``.

Other field types are passed through. :func:`check_fields`, called from a config's
``__post_init__``, coerces every field and then checks declarative range rules::

    def __post_init__(self):
        check_fields(self, drop_rate="[0, 1)", num_gradual=">= 0", scope=("batch", "positives"))

An out-of-range value is a :class:`ValueError` such as
``TCEConfig.drop_rate=1.5 is out of range: must lie in [0, 1)``.
"""
from __future__ import annotations

import ast
import collections.abc
import dataclasses
import math
import numbers
import re
import typing
from typing import Any, Dict, Optional, Tuple, Union

_NONE_TEXT = ("none", "null")
_TRUE_TEXT = ("true", "yes", "1")
_FALSE_TEXT = ("false", "no", "0")
_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^,\s\])]+)\s*([\])])\s*$")
_COMPARISON = re.compile(r"^\s*(>=|<=|>|<)\s*(\S+)\s*$")


class _Refused(Exception):
    """Internal: the value cannot be coerced (message: the expected type)."""


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    if typing.get_origin(annotation) is Union:
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    return str(annotation).replace("typing.", "")


def _coerce_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Real)):
        raise _Refused
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise _Refused from None
    if isinstance(value, numbers.Integral):
        return int(value)
    if math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise _Refused


def _coerce_float(value: Any) -> Union[int, float]:
    if isinstance(value, bool):
        raise _Refused
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Refused from None
    if isinstance(value, numbers.Integral):
        return int(value)  # an int is a valid float option; kept as given
    if isinstance(value, numbers.Real):
        return float(value)
    raise _Refused


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_TEXT + _FALSE_TEXT:
        return value.strip().lower() in _TRUE_TEXT
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    if type(value).__name__ == "bool_":  # numpy.bool_
        return bool(value)
    raise _Refused


def _coerce_sequence(value: Any, args: Tuple[Any, ...], origin: Any) -> Any:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise _Refused from None
    if not isinstance(value, (list, tuple)):
        raise _Refused
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise _Refused
        items = [_coerce(v, a) for v, a in zip(value, args)]
    else:
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type) for v in value]
    return type(value)(items)


def coerce_value(value: Any, annotation: Any) -> Any:
    r"""``value`` coerced exactly to ``annotation`` (see the module docstring); raises
    :class:`TypeError` (message: the expected type) when it cannot be."""
    try:
        return _coerce(value, annotation)
    except _Refused:
        raise TypeError(_type_name(annotation)) from None


def _coerce(value: Any, annotation: Any) -> Any:
    if annotation is Any or annotation is None or isinstance(annotation, (str, typing.TypeVar)):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Union:
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_TEXT):
            if type(None) in args:
                return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg)
            except _Refused:
                continue
        raise _Refused
    if origin in (tuple, list, collections.abc.Sequence):
        return _coerce_sequence(value, args, origin)
    if annotation is bool:
        return _coerce_bool(value)
    if annotation is int:
        return _coerce_int(value)
    if annotation is float:
        return _coerce_float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise _Refused
        return value
    return value  # other types: not coerced


def _field_types(cls: type) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved: fall back to no coercion
        return {f.name: Any for f in dataclasses.fields(cls)}


def coerce_option(cls: type, name: str, value: Any) -> Any:
    r"""Option ``name`` of the config class ``cls`` coerced by its field type; a
    :class:`TypeError` naming ``Class.name``, the value and the expected type otherwise."""
    annotation = _field_types(cls).get(name, Any)
    try:
        return coerce_value(value, annotation)
    except TypeError as error:
        raise TypeError(
            f"{cls.__name__}.{name}={value!r} must be {_article(str(error))} {error} "
            f"(got {type(value).__name__})"
        ) from None


def _article(type_name: str) -> str:
    return "an" if type_name[:1].lower() in "aeiou" else "a"


def _describe_rule(rule: Any) -> str:
    if isinstance(rule, (tuple, list, frozenset, set)):
        return f"must be one of {tuple(rule)!r}"
    interval = _INTERVAL.match(rule)
    if interval:
        return f"must lie in {rule.strip()}"
    comparison = _COMPARISON.match(rule)
    if comparison:
        return f"must be {comparison.group(1)} {comparison.group(2)}"
    raise ValueError(f"unknown range rule {rule!r} (use '[a, b)', '> x', '>= x' or a tuple)")


def in_range(value: Any, rule: Any) -> bool:
    r"""Whether ``value`` satisfies ``rule``: an interval ``"[a, b)"`` / ``"(a, b]"`` (``inf``
    allowed), a comparison ``"> x"`` / ``">= x"`` / ``"< x"`` / ``"<= x"``, or a tuple of allowed
    values. NaN satisfies no numeric rule."""
    if isinstance(rule, (tuple, list, frozenset, set)):
        return value in rule
    interval = _INTERVAL.match(rule)
    if interval:
        low_bracket, low, high, high_bracket = interval.groups()
        low_ok = value >= float(low) if low_bracket == "[" else value > float(low)
        high_ok = value <= float(high) if high_bracket == "]" else value < float(high)
        return bool(low_ok and high_ok)
    comparison = _COMPARISON.match(rule)
    if comparison is None:
        _describe_rule(rule)  # raises for an unknown rule
    operator, bound = comparison.group(1), float(comparison.group(2))
    return bool({">=": value >= bound, ">": value > bound, "<=": value <= bound,
                 "<": value < bound}[operator])


def check_range(label: str, value: Any, rule: Any) -> None:
    r"""Raises ``ValueError("<label>=<value> is out of range: must ...")`` (``is not a valid
    choice: must be one of ...`` for a tuple of choices) unless ``value`` satisfies ``rule`` (see
    :func:`in_range`)."""
    if not in_range(value, rule):
        problem = "is not a valid choice" if isinstance(rule, (tuple, list, frozenset, set)) \
            else "is out of range"
        raise ValueError(f"{label}={value!r} {problem}: {_describe_rule(rule)}")


def check_fields(config: Any, **rules: Any) -> None:
    r"""Coerces every field of the dataclass instance ``config`` by its type (see the module
    docstring), then checks ``rules`` (field name -> range rule of :func:`in_range`); a field
    that is :obj:`None` skips its rule. Call it first in ``__post_init__``."""
    cls = type(config)
    for field in dataclasses.fields(config):
        if field.init:
            setattr(config, field.name, coerce_option(cls, field.name, getattr(config, field.name)))
    for name, rule in rules.items():
        value = getattr(config, name)
        if value is not None:
            check_range(f"{cls.__name__}.{name}", value, rule)


def resolve_config(owner: type, config: Optional[Any], overrides: Dict[str, Any]):
    r"""``owner.Config()`` (or ``config``) with ``overrides`` applied, checked field by field.

    A config of the wrong type is a :class:`TypeError`; an override that names no field is a
    :class:`ValueError` listing the valid fields; an override that its field's type cannot hold
    exactly is a :class:`TypeError` naming the option and the expected type (see
    :func:`coerce_option`). The dataclass's own ``__post_init__`` validates values.
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
        coerced = {name: coerce_option(type(config), name, value) for name, value in overrides.items()}
        config = dataclasses.replace(config, **coerced)
    return config
