r"""Help text generated from the typed config dataclasses: one source for ``--help``, ``graphdenoise
list --options`` and the docs.

Every config field is documented by an *attribute docstring*, the string literal on the line after
it::

    @dataclass
    class TrainerConfig:
        lr: float = 1e-3
        '''Adam learning rate of the recommender.'''

Python keeps no trace of those strings at run time, so they are read from the source with
:mod:`ast` (cached per file). :func:`options_from_source` does it **without importing** the
module, which keeps ``graphdenoise fit --help`` free of the ``torch`` import;
:func:`options_of` does it for an imported class (walking its dataclass bases) and takes the
defaults from :func:`dataclasses.fields`.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

_MISSING = "(required)"


@dataclass(frozen=True)
class OptionDoc:
    """One config field: what ``--help`` and ``list --options`` print."""

    name: str
    """Field name (the keyword of :func:`graphdenoise.fit` and of ``-o NAME=VALUE``)."""
    type: str
    """The annotation as written in the source (``float``, ``Optional[int]``...)."""
    default: str
    """The default as Python source (``0.001``, ``None``, ``(10, 20, 50)``)."""
    doc: str
    """The attribute docstring, whitespace collapsed and reST markup removed."""

    @property
    def summary(self) -> str:
        """The first sentence of :attr:`doc`."""
        match = re.match(r"(.+?[.!?])(?=\s+[A-Z]|$)", self.doc)
        return match.group(1) if match else self.doc


def plain_text(doc: str) -> str:
    r"""Attribute or function docs as one line of plain text: ``:class:`~a.B``` becomes ``B``,
    ````x```` becomes ``x``, whitespace runs become one space."""
    doc = re.sub(r":\w+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0)
                 else m.group(1), doc)
    doc = doc.replace("``", "")
    return " ".join(doc.split())


@functools.lru_cache(maxsize=None)
def _module_classes(path: str) -> Dict[str, ast.ClassDef]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def _own_fields(node: ast.ClassDef) -> List[Tuple[str, str, str, str]]:
    """``(name, annotation, default source, docstring)`` of the annotated fields of one class body."""
    fields = []
    body = node.body
    for position, stmt in enumerate(body):
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        annotation = ast.unparse(stmt.annotation)
        if annotation.startswith("ClassVar"):
            continue
        default = _MISSING if stmt.value is None else _default_source(stmt.value)
        doc = ""
        following = body[position + 1] if position + 1 < len(body) else None
        if (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            doc = plain_text(following.value.value)
        fields.append((stmt.target.id, annotation, default, doc))
    return fields


def _default_source(value: ast.expr) -> str:
    """``field(default=x)`` / ``field(default_factory=f)`` unwrapped; anything else as written."""
    if isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) == "field":
        for keyword in value.keywords:
            if keyword.arg == "default":
                return ast.unparse(keyword.value)
            if keyword.arg == "default_factory":
                return ast.unparse(keyword.value) + "()"
    return ast.unparse(value)


def options_from_source(path: str, class_name: str) -> List[OptionDoc]:
    r"""The fields of dataclass ``class_name`` defined in the file ``path``, read without importing
    it. Base classes defined in the same file contribute their fields first (dataclass order)."""
    classes = _module_classes(str(path))
    if class_name not in classes:
        raise ValueError(f"class {class_name} is not defined in {path}")
    merged: Dict[str, OptionDoc] = {}
    node = classes[class_name]
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            for option in options_from_source(path, base.id):
                merged[option.name] = option
    for name, annotation, default, doc in _own_fields(node):
        inherited = merged.get(name)
        merged[name] = OptionDoc(name, annotation, default, doc or (inherited.doc if inherited else ""))
    return list(merged.values())


def attribute_docs(cls: type) -> Dict[str, Tuple[str, str]]:
    """``{field: (annotation, docstring)}`` of an imported dataclass and its dataclass bases."""
    docs: Dict[str, Tuple[str, str]] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            path = inspect.getsourcefile(klass)
        except TypeError:
            path = None
        if path is None or klass.__name__ not in _module_classes(path):
            continue
        for name, annotation, _, doc in _own_fields(_module_classes(path)[klass.__name__]):
            docs[name] = (annotation, doc or docs.get(name, ("", ""))[1])
    return docs


def options_of(cls: type) -> List[OptionDoc]:
    r"""The fields of the imported dataclass ``cls`` with their types, defaults and docs."""
    docs = attribute_docs(cls)
    options = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = repr(f.default_factory())  # type: ignore[misc]
        else:
            default = _MISSING
        annotation, doc = docs.get(f.name, (getattr(f.type, "__name__", str(f.type)), ""))
        options.append(OptionDoc(f.name, annotation, default, doc))
    return options


def format_options(options: List[OptionDoc], title: Optional[str] = None, width: int = 100) -> str:
    r"""A table of ``name  type  default  summary`` rows (``graphdenoise list --options``)."""
    rows = [(o.name, o.type, o.default, o.summary) for o in options]
    if not rows:
        return (title + "\n" if title else "") + "  (no options)"
    widths = [max(len(r[i]) for r in rows + [("name", "type", "default", "")]) for i in range(3)]
    lines = [title] if title else []
    lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(("name", "type", "default"), widths)) + "  description")
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return "\n".join(lines)


def parse_default(option: OptionDoc) -> Any:
    """The default of an :class:`OptionDoc` as a Python value (literals only, else the source text)."""
    try:
        return ast.literal_eval(option.default)
    except (ValueError, SyntaxError):
        return option.default
