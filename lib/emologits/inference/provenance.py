"""Provenance: what every run records about itself (``run.json``), and the settings fingerprint that
a restarted run must match before it may add records to a folder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from emologits.atomic import write_text_atomic
from emologits.errors import ConfigError

#: Packages whose versions can change results; recorded with every run and every figures README.
PACKAGES: tuple[str, ...] = ("emologits", "torch", "transformers", "tokenizers", "accelerate", "peft", "numpy",
                             "pandas", "pyarrow", "soundfile", "scipy", "scikit-learn", "matplotlib", "seaborn")
#: run.json keys that must match, for every method, for a restarted run to reuse existing records
#: (each method adds its own: ``Method.fingerprint_keys``).
COMMON_FINGERPRINT_KEYS: tuple[str, ...] = ("method", "prompt", "model", "emotion_set", "batch_size",
                                            "part_size", "too_long")

#: Back-end provenance keys that describe the process, not the records (GPU name, CUDA version):
#: a run resumed on another device may add records to the same folder.
PER_PROCESS_MODEL_KEYS: tuple[str, ...] = ("device", "runtime")


def package_versions() -> dict[str, str | None]:
    """Python and the versions of :data:`PACKAGES` (None when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_commit(root: Path | None = None) -> dict[str, Any]:
    """The commit of the checkout holding this package (``commit``, ``dirty``), None outside git."""
    root = root or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty if commit else None}


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (paths and other objects as strings)."""
    return json.loads(json.dumps(value, default=str))


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def fingerprint(info: dict[str, Any], method_keys: tuple[str, ...]) -> dict[str, Any]:
    """The settings of a run that change its records (the device aside: it is per process)."""
    fp = {k: info.get(k) for k in COMMON_FINGERPRINT_KEYS + tuple(method_keys)}
    fp["emotion_set"] = fp["emotion_set"] or "paper4"  # runs made before emotion sets were recorded
    fp["model"] = {k: v for k, v in (fp["model"] or {}).items() if k not in PER_PROCESS_MODEL_KEYS}
    return jsonable(fp)


def check_or_write_info(path: Path, info: dict[str, Any], method_keys: tuple[str, ...], *,
                        write: bool) -> dict[str, Any]:
    """Refuse a folder made with other settings (naming what differs); write ``info`` when asked.
    Returns the info as written (the first run's ``created`` kept on a resumed one)."""
    if path.exists():
        old = json.loads(path.read_text())
        new_fp, old_fp = fingerprint(info, method_keys), fingerprint(old, method_keys)
        if new_fp != old_fp:
            differs = sorted(k for k in new_fp if new_fp[k] != old_fp.get(k))
            raise ConfigError(
                f"{path}: this folder holds a run made with different settings (differs in: "
                f"{', '.join(differs)}); delete {path.parent} to start over, or use a new run name")
        if write:  # same settings: keep the first creation time, record this invocation's extent
            info = {**info, "created": old.get("created"), "resumed": info.get("created")}
    info = jsonable(info)
    if write:
        write_json(path, info)
    return info


__all__ = ["COMMON_FINGERPRINT_KEYS", "PACKAGES", "check_or_write_info", "fingerprint", "git_commit", "jsonable",
           "package_versions", "write_json"]
