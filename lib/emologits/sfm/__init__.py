"""SFM back-ends: one file per model, one registry (this module)."""
from __future__ import annotations

import importlib
from typing import Any

from emologits.errors import ConfigError
from emologits.sfm.base import GenerationRecord, GenerationSettings, SFMBackend

#: backend name -> "module:Class"
BACKENDS: dict[str, str] = {
    "qwen2-audio": "emologits.sfm.qwen2_audio:Qwen2AudioBackend",
    "tiny-demo": "emologits.sfm.tiny_demo:TinyDemoBackend",
    "ltu-as": "emologits.sfm.ltu_as:LtuAsBackend",
}


def backend_class(name: str) -> type[SFMBackend]:
    """The class registered under ``name``, or a user back-end given as ``"package.module:Class"``."""
    target = BACKENDS.get(name) if name in BACKENDS else (name if isinstance(name, str) and ":" in name else None)
    if target is None:
        raise ConfigError(f"unknown model.backend {name!r}; known: {sorted(BACKENDS)} "
                          "(or give your own as 'package.module:Class')")
    module, cls = target.split(":")
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"model.backend {name!r}: cannot import {target} ({exc})") from None
    if not (isinstance(found, type) and issubclass(found, SFMBackend)):
        raise ConfigError(f"model.backend {name!r}: {target} is not an SFMBackend subclass")
    return found


def load_backend(model: dict[str, Any], *, project_root: Any = None) -> SFMBackend:
    """Instantiate the back-end a config's ``model`` section names."""
    return backend_class(model.get("backend")).from_config(model, project_root=project_root)


__all__ = ["BACKENDS", "GenerationRecord", "GenerationSettings", "SFMBackend", "backend_class", "load_backend"]
