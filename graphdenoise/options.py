r"""One router of keyword options to the typed configs that own them (trainer, data, model, method)."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Iterable, Mapping


def config_fields(cls) -> set:
    """The field names of a config dataclass."""
    return {f.name for f in dataclasses.fields(cls)}


def route_options(owners: Mapping[str, Iterable[str]], options: Mapping[str, Any], context: str = "",
                  reserved: Iterable[str] = ()) -> Dict[str, Dict[str, Any]]:
    r"""Route ``options`` to their owners by field name: ``{owner: {name: value}}``.

    Never silently: a name no owner has is a :class:`ValueError` listing every valid name; a name two
    owners share is a :class:`ValueError` naming both (pass it through that owner's config object
    instead); a ``reserved`` name (an explicit keyword argument of the caller) is an error too.

    Args:
        owners (Mapping[str, Iterable[str]]): Owner name (``"trainer"``, ``"model"``...) to its field names.
        options (Mapping[str, Any]): The keyword options.
        context (str): What the options are for, in error messages (e.g. ``"model mf and method bpr"``).
        reserved (Iterable[str]): Names that must be passed as keyword arguments of the caller.
    """
    owners = {key: set(names) - set(reserved) for key, names in owners.items()}
    routed: Dict[str, Dict[str, Any]] = {key: {} for key in owners}
    suffix = f" for {context}" if context else ""
    for name, value in options.items():
        if name in reserved:
            raise ValueError(f"{name!r} is a keyword argument of its own, pass it directly (not among the options)")
        matches = [key for key, names in owners.items() if name in names]
        if not matches:
            valid = sorted(set().union(*owners.values()))
            raise ValueError(f"unknown option {name!r}{suffix}; valid options: {', '.join(valid)}")
        if len(matches) > 1:
            raise ValueError(f"option {name!r} is ambiguous{suffix}: it belongs to the {' and '.join(matches)} "
                             f"configs")
        routed[matches[0]][name] = value
    return routed
