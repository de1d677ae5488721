"""Device and dtype from a config's ``model`` section, shared by every back-end."""
from __future__ import annotations

import torch

from emologits.errors import ConfigError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str | None) -> str:
    """``auto`` (or None) -> ``cuda`` when available, else ``cpu``; anything else as given."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def resolve_dtype(dtype: str | None, device: str, *, gpu_default: torch.dtype = torch.bfloat16) -> torch.dtype:
    """``auto`` (or None) -> ``gpu_default`` on a GPU, float32 on CPU; else one of :data:`DTYPES`."""
    if dtype in (None, "auto"):
        return gpu_default if device.startswith("cuda") else torch.float32
    if dtype not in DTYPES:
        raise ConfigError(f"model.dtype {dtype!r}: expected one of {['auto', *DTYPES]}")
    return DTYPES[dtype]
