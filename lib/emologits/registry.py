"""Registries: one per extension kind (back-ends, data sets, metrics, emotion sets, prompts, artefacts).

Every extension is one unit registered under a name. Inside the package that is one file plus one
registration line (``REGISTRY.register_lazy(name, "package.module:object", description)``, imported
only when used, so listing never imports torch); from outside, a config names the object directly as
``"package.module:object"``. ``python -m emologits list`` prints every registry.
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from emologits.errors import ConfigError

T = TypeVar("T")


def import_object(target: str, *, what: str = "object") -> Any:
    """``"package.module:object"`` (or ``package.module:Class.attr``) -> the object; a ConfigError
    ("cannot import <target> (<reason>)") when it cannot be imported."""
    if not isinstance(target, str) or ":" not in target:
        raise ConfigError(f"{what} {target!r}: expected 'package.module:object'")
    module_name, _, attr_path = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for attr in attr_path.split("."):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import {target} ({exc})") from None
    return obj


@dataclass
class _Entry:
    target: str | None  # "module:object" for lazy entries
    obj: Any
    description: str


class Registry(Generic[T]):
    """Named units of one kind. ``get(name)`` also accepts ``"package.module:object"``.

    What a unit must be is checked when it is first resolved: ``instance_of`` (a spec class),
    ``subclass_of`` (an interface), and/or ``check(obj, name)`` returning it or raising ConfigError.
    """

    def __init__(self, kind: str, *, check: Callable[[Any, str], T] | None = None,
                 instance_of: type | None = None, subclass_of: type | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, _Entry] = {}
        self._check = check
        self._instance_of = instance_of
        self._subclass_of = subclass_of

    def register(self, name: str, obj: T, *, description: str = "") -> T:
        """Register ``obj`` under ``name`` (description: its ``description`` or first docstring line)."""
        self._add(name, _Entry(None, obj, description or _first_line(obj)))
        return obj

    def register_lazy(self, name: str, target: str, description: str) -> None:
        """Register ``"package.module:object"`` under ``name``, imported on first use."""
        self._add(name, _Entry(target, None, description))

    def _add(self, name: str, entry: _Entry) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def describe(self) -> dict[str, str]:
        """name -> one-line description (nothing is imported)."""
        return {name: entry.description for name, entry in self._entries.items()}

    def get(self, name: str) -> T:
        """The unit registered as ``name``, or the object ``"package.module:object"`` names."""
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            if isinstance(name, str) and ":" in name:
                return self._validated(import_object(name, what=self.kind), name)
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown {self.kind} {name!r}{hint}; known: {', '.join(self.names())} "
                              "(or give your own as 'package.module:object')")
        if entry.obj is None:
            entry.obj = self._validated(import_object(entry.target or "", what=self.kind), name)
        return entry.obj

    def _validated(self, obj: Any, name: str) -> T:
        if self._instance_of is not None and not isinstance(obj, self._instance_of):
            raise ConfigError(f"{self.kind} {name!r}: expected a {self._instance_of.__module__}."
                              f"{self._instance_of.__qualname__}, got {type(obj).__name__}")
        if self._subclass_of is not None and not (isinstance(obj, type) and issubclass(obj, self._subclass_of)):
            raise ConfigError(f"{self.kind} {name!r}: {obj!r} is not a {self._subclass_of.__qualname__} subclass")
        return self._check(obj, name) if self._check else obj


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "description", None) or getattr(obj, "__doc__", None) or ""
    return str(doc).strip().splitlines()[0] if str(doc).strip() else ""


__all__ = ["Registry", "import_object"]
