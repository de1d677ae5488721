"""SFM back-ends: one file per model, one registry (this module)."""
from __future__ import annotations

import importlib
from typing import Any

from emologits.errors import ConfigError
from emologits.schema import closest_key
from emologits.sfm.base import GenerationRecord, GenerationSettings, SFMBackend

#: backend name -> "module:Class"
BACKENDS: dict[str, str] = {
    "qwen2-audio": "emologits.sfm.qwen2_audio:Qwen2AudioBackend",
    "tiny-demo": "emologits.sfm.tiny_demo:TinyDemoBackend",
    "ltu-as": "emologits.sfm.ltu_as:LtuAsBackend",
}


def backend_problem(name: Any) -> tuple[type[SFMBackend] | None, str | None]:
    """The class registered under ``name`` (or a user back-end ``"package.module:Class"``), or
    what is wrong with ``name`` (worded for the ``model.backend`` key)."""
    if not isinstance(name, str):
        return None, f"must be a back-end name (got {name!r})"
    target = BACKENDS.get(name) or (name if ":" in name else None)
    if target is None:
        near = closest_key(name, BACKENDS)
        return None, (f"unknown back-end {name!r}" + (f" (did you mean {near!r}?)" if near else "")
                      + f"; known: {sorted(BACKENDS)}, or give your own as 'package.module:Class'")
    module, _, cls = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        return None, f"cannot import {target} ({exc})"
    if not (isinstance(found, type) and issubclass(found, SFMBackend)):
        return None, f"{target} is not an SFMBackend subclass"
    return found, None


def backend_class(name: str) -> type[SFMBackend]:
    """The class registered under ``name``, or a user back-end given as ``"package.module:Class"``."""
    found, problem = backend_problem(name)
    if problem:
        raise ConfigError(f"model.backend: {problem}")
    return found


def load_backend(model: dict[str, Any], *, project_root: Any = None) -> SFMBackend:
    """Instantiate the back-end a config's ``model`` section names."""
    return backend_class(model.get("backend")).from_config(model, project_root=project_root)


__all__ = ["BACKENDS", "GenerationRecord", "GenerationSettings", "SFMBackend", "backend_class",
           "backend_problem", "load_backend"]
