"""Device and dtype from a config's ``model`` section, shared by every back-end."""
from __future__ import annotations

import torch

from emologits.errors import ConfigError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _torch_build() -> str:
    """``torch 2.4.0, built with CUDA 12.1`` (or ROCm, or without CUDA), for error messages."""
    if torch.version.cuda:
        built = f"built with CUDA {torch.version.cuda}"
    elif getattr(torch.version, "hip", None):
        built = f"built with ROCm {torch.version.hip}"
    else:
        built = "built without CUDA"
    return f"torch {torch.__version__}, {built}"


def resolve_device(device: str | None) -> str:
    """``auto`` (or None) -> ``cuda`` when available, else ``cpu``; anything else as given, once
    checked: a CUDA device (``cuda``, ``cuda:i``) or ``mps`` this machine lacks is a ConfigError."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    name = str(device)
    try:
        parsed = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"model.device {name!r} is not a device: use auto, cpu, cuda, cuda:<i> or mps") from None
    fix = "set model.device: cpu or auto"
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"model.device is {name!r} but this machine has no CUDA GPU ({_torch_build()}): {fix}")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise ConfigError(f"model.device is {name!r} but this machine has {count} CUDA "
                              f"GPU{'s' if count > 1 else ''} ({have}): use one of those, or {fix}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"model.device is {name!r} but this machine has no MPS (Apple GPU) device "
                          f"(torch {torch.__version__}): {fix}")
    return name


def resolve_dtype(dtype: str | None, device: str, *, gpu_default: torch.dtype = torch.bfloat16) -> torch.dtype:
    """``auto`` (or None) -> ``gpu_default`` on a GPU, float32 on CPU; else one of :data:`DTYPES`."""
    if dtype in (None, "auto"):
        return gpu_default if device.startswith("cuda") else torch.float32
    if dtype not in DTYPES:
        raise ConfigError(f"model.dtype {dtype!r}: expected one of {['auto', *DTYPES]}")
    return DTYPES[dtype]
