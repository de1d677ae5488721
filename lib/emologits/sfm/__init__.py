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
    """The class registered under ``name``."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown model.backend {name!r}; known: {sorted(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def load_backend(model: dict[str, Any], *, project_root: Any = None) -> SFMBackend:
    """Instantiate the back-end a config's ``model`` section names."""
    return backend_class(model.get("backend")).from_config(model, project_root=project_root)


__all__ = ["BACKENDS", "GenerationRecord", "GenerationSettings", "SFMBackend", "backend_class", "load_backend"]
