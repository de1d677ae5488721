"""Strict, typed schemas for the run configuration (pydantic v2), shared by every section.

Each config section, each back-end's ``model.options`` and each data set's ``data.options`` is a
:class:`StrictModel`: typed fields with their defaults and allowed values, unknown keys refused
(``extra="forbid"``), no silent type coercion (``strict=True``: ``"8"`` is not an integer, ``1`` is
not a boolean). :func:`validate` turns pydantic's errors into one line per problem,
``<dotted.path>: <problem>``, with the closest known key for a typo. docs/configuration.md lists
every key.
"""
from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)

#: A path inside the config: keys (str) and list positions (int).
Loc = tuple[Any, ...]


class StrictModel(BaseModel):
    """Base of every config schema: unknown keys and silent type coercions are refused.

    ``refused_keys`` maps a key that is deliberately not supported to the reason given when a config
    names it (instead of "unknown key")."""

    model_config = ConfigDict(extra="forbid", strict=True)
    refused_keys: ClassVar[dict[str, str]] = {}


def dotted(loc: Loc) -> str:
    """``("model", "options", "seed")`` -> ``model.options.seed``; list positions as ``ids[1]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def closest_key(key: str, known: typing.Iterable[str]) -> str | None:
    """The known key closest to ``key`` (difflib), or None when nothing is close."""
    known = sorted(known)
    match = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if match:
        return match[0]
    longer = [k for k in known if len(str(key)) >= 3 and str(key).lower() in k.lower()]
    return longer[0] if len(longer) == 1 else None


def unknown_key_problem(key: str, known: typing.Iterable[str], refused: Mapping[str, str] | None = None) -> str:
    """The wording for a key the schema does not know (or deliberately refuses)."""
    if refused and key in refused:
        return refused[key]
    known = sorted(known)
    if not known:
        return "unknown key: nothing is accepted here"
    near = closest_key(key, known)
    return f"unknown key (did you mean {near!r}?)" if near else f"unknown key; known keys: {known}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside a field annotation (``X``, ``X | None``, ``Annotated[X, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _walk(model: type[BaseModel], loc: Loc) -> tuple[Loc, type[BaseModel] | None]:
    """The user-facing part of a pydantic error location (config keys and list positions; union
    member tags dropped) and the model holding its last key."""
    path: list[Any] = []
    current: type[BaseModel] | None = model
    parent: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):  # a list position: the list's item model (if any) holds the next key
            path.append(part)
        elif current is not None and part in current.model_fields:
            path.append(part)
            parent = current
            current = _model_of(current.model_fields[part].annotation)
        elif current is not None:  # a key the model does not have (extra_forbidden)
            path.append(part)
            parent = current
            current = None
        # else: a union-member or validator tag pydantic adds below a plain field: not a config key
    return tuple(path), parent


def _describe(error: Mapping[str, Any], parent: type[BaseModel] | None, key: Any) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden" and parent is not None:
        return unknown_key_problem(str(key), parent.model_fields, parent.refused_keys if
                                   issubclass(parent, StrictModel) else None)
    if kind == "missing":
        return "required"
    if kind == "too_short":
        return f"must hold at least {error.get('ctx', {}).get('min_length', 1)} item(s) (got {error.get('input')!r})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (got {error.get('input')!r})"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    else:
        msg = msg.replace("Input should be", "must be", 1)
    return f"{msg} (got {error.get('input')!r})"


def problems_of(exc: ValidationError, model: type[BaseModel], prefix: Loc = ()) -> list[tuple[Loc, str]]:
    """One ``(location, problem)`` per error of ``exc`` (raised validating ``model``), de-duplicated;
    ``prefix`` is where ``model`` sits in the config (e.g. ``("model", "options")``)."""
    found: dict[Loc, list[str]] = {}
    for error in exc.errors():
        path, parent = _walk(model, tuple(error["loc"]))
        text = _describe(error, parent, path[-1] if path else None)
        if text not in found.setdefault(prefix + path, []):
            found[prefix + path].append(text)
    return [(loc, _join_alternatives(texts)) for loc, texts in found.items()]


def _join_alternatives(texts: list[str]) -> str:
    """Several problems at one location (each member of a union failed): one line,
    ``must be a valid string or must be a mapping (got 3)``."""
    if len(texts) == 1:
        return texts[0]
    tails = {t[t.rfind(" (got "):] for t in texts if " (got " in t}
    if len(tails) == 1 and all(" (got " in t for t in texts):
        tail = tails.pop()
        return " or ".join(t[: -len(tail)] for t in texts) + tail
    return "; ".join(texts)


def validate(model: type[M], raw: Any, prefix: Loc = ()) -> tuple[M | None, list[tuple[Loc, str]]]:
    """``model`` validated from ``raw`` (None counts as an empty mapping) and the problems found
    (empty when valid; the instance is None when not)."""
    try:
        return model.model_validate({} if raw is None else raw), []
    except ValidationError as exc:
        return None, problems_of(exc, model, prefix)


def format_problems(problems: typing.Sequence[tuple[Loc, str]],
                    where: str | typing.Callable[[Loc], str] | None = None) -> str:
    """``[where: ]dotted.path: problem`` lines (one problem: one line; more: a count, then one line
    each). ``where`` names the source (a file), or maps a location to its source."""
    def source(loc: Loc) -> str | None:
        return where(loc) if callable(where) else where

    lines = [(f"{source(loc)}: " if source(loc) else "") + (f"{dotted(loc)}: " if loc else "") + text
             for loc, text in problems]
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problems in the configuration:\n  - " + "\n  - ".join(lines)
