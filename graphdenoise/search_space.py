r"""Declarative hyper-parameter search spaces, declared beside each typed config.

A config class (a method's, a model's) lists the options worth tuning as a class attribute
``search_space``, a mapping from field name to a :class:`Float`, :class:`Int` or :class:`Choice`::

    @dataclass
    class TCEConfig(MethodConfig):
        search_space: ClassVar[SearchSpace] = {"drop_rate": Float(0.05, 0.5)}
        drop_rate: float = 0.2

The trainer's options (learning rate and L2) come from :data:`TRAINER_SEARCH_SPACE`, the range of
the TIL paper's grid (Section 5.4). :func:`search_space` joins the three for one (model, method)
pair; :mod:`graphdenoise.tune` samples it with Optuna. This module does not import Optuna.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple, Union


@dataclass(frozen=True)
class _Range:
    low: float
    high: float
    log: bool = False
    kinds = (int, float)

    def __post_init__(self):
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"{type(self).__name__}({self.low}, {self.high}, log={self.log}) is an empty or "
                             f"invalid range")

    def __contains__(self, value) -> bool:
        return isinstance(value, self.kinds) and not isinstance(value, bool) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"[{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


@dataclass(frozen=True)
class Float(_Range):
    """A real option in ``[low, high]``, sampled on a log scale when ``log`` (default: :obj:`False`)."""

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Int(_Range):
    """An integer option in ``[low, high]``, sampled on a log scale when ``log`` (default: :obj:`False`)."""

    kinds = (int,)

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Choice:
    """An option taking one of ``choices``."""

    choices: Tuple[Any, ...]

    def __post_init__(self):
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ValueError("Choice needs at least one value")

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, self.choices)

    def __contains__(self, value) -> bool:
        return value in self.choices

    def describe(self) -> str:
        return "{" + ", ".join(map(str, self.choices)) + "}"


Param = Union[Float, Int, Choice]
SearchSpace = Mapping[str, Param]

#: The trainer's options searched for every method: the range of the TIL paper's grid
#: (Section 5.4: lr in {1e-4, 1e-3, 1e-2}, L2 in {1e-6, ..., 1e-2}), on a log scale.
TRAINER_SEARCH_SPACE: Dict[str, Param] = {"lr": Float(1e-4, 1e-1, log=True), "l2": Float(1e-6, 1e-2, log=True)}


def declared_space(config_cls: type) -> Dict[str, Param]:
    """The ``search_space`` a config class declares (``{}`` if none), checked against its fields."""
    space = dict(getattr(config_cls, "search_space", None) or {})
    fields = {f.name for f in dataclasses.fields(config_cls)} if dataclasses.is_dataclass(config_cls) else set()
    unknown = sorted(set(space) - fields)
    if unknown:
        raise ValueError(f"{config_cls.__name__}.search_space names {unknown}, which are not fields of the config")
    return space


def search_space(model: str, method: str, include: Optional[Tuple[str, ...]] = None,
                 exclude: Tuple[str, ...] = ()) -> Dict[str, Param]:
    r"""The search space of one (model, method) pair: the trainer's lr and L2, then the model's and
    the method's declared options, keyed by option name (the keyword names of :func:`graphdenoise.fit`).
    A method class may drop options of a shared config it does not use (``search_exclude``).

    Args:
        model (str): A registered backbone.
        method (str): A registered method.
        include (tuple, optional): Keep only these options (default: all).
        exclude (tuple): Drop these options (e.g. options fixed by the user). (default: ``()``)
    """
    from .methods import METHODS
    from .models import MODELS
    space: Dict[str, Param] = dict(TRAINER_SEARCH_SPACE)
    space.update(declared_space(MODELS.get(model).Config))
    method_cls = METHODS.get(method)
    space.update(declared_space(method_cls.Config))
    exclude = tuple(exclude) + tuple(getattr(method_cls, "search_exclude", ()))
    if include is not None:
        missing = sorted(set(include) - set(space))
        if missing:
            raise ValueError(f"cannot search {missing} for {model} / {method}; searchable: {sorted(space)}")
        space = {name: space[name] for name in include}
    return {name: param for name, param in space.items() if name not in set(exclude)}


def parse_param(text: str) -> Tuple[str, Param]:
    r"""``"lr=1e-4:1e-1:log"``, ``"num_layers=1:3"`` or ``"outer=same-batch,holdout"`` as ``(name, Param)``.

    ``low:high`` is an :class:`Int` when both ends are integers, else a :class:`Float`; a trailing
    ``:log`` samples on a log scale; a comma-separated list is a :class:`Choice`.
    """
    import ast
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise ValueError(f"--space expects NAME=LOW:HIGH[:log] or NAME=A,B,..., got {text!r}")

    def literal(token):
        try:
            return ast.literal_eval(token)
        except (ValueError, SyntaxError):
            return token

    if ":" not in spec:
        return name.replace("-", "_"), Choice(tuple(literal(t) for t in spec.split(",")))
    parts = spec.split(":")
    log = parts[-1] == "log"
    ends = [literal(t) for t in (parts[:-1] if log else parts)]
    if len(ends) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in ends):
        raise ValueError(f"--space {text!r}: the range must be two finite numbers LOW:HIGH")
    if all(isinstance(v, int) for v in ends):
        return name.replace("-", "_"), Int(ends[0], ends[1], log=log)
    return name.replace("-", "_"), Float(float(ends[0]), float(ends[1]), log=log)
