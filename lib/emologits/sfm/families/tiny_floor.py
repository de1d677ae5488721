"""``tiny-floor``: a tiny **untrained** (random-weight) instance of an ``hf-audio`` family, usable
from a config offline. It is a floor for a model comparison (what a model of that family's
architecture scores by chance on the data), never a model's result: every run of it is a PIPELINE
CHECK (its provenance says ``untrained_floor: true``).

The family's own file provides the tiny instance: ``build_tiny(out_dir, seed=...)`` (a checkpoint
with its real processor, written into ``model.name_or_path`` once and then loaded through the
family's loader like any local checkpoint: AutoProcessor, the auto-class fallbacks) or, where the
processor cannot be saved offline, ``tiny_parts(seed=...)`` (model + processor in memory). Every
call after loading is the family back-end's own code (chat template, single-pass capture of
sec. 3.4.2, label likelihood).
"""
from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator

from emologits.atomic import atomic_directory
from emologits.config import resolve_path
from emologits.errors import ConfigError
from emologits.sfm.base import BackendOptions, GenerationRecord, GenerationSettings, SFMBackend, parse_options

#: Where the tiny checkpoint goes when ``model.name_or_path`` is unset (under the project root).
DEFAULT_DIR = ".cache/tiny-floor"
#: The file in the checkpoint folder recording what was built (rebuilt when it differs).
STAMP_FILE = "tiny_floor.json"


def _family_module(family: str) -> Any:
    """The module of the registered family back-end ``family`` (ConfigError when unknown)."""
    from emologits.sfm import backend_class

    return importlib.import_module(backend_class(family).__module__)


def _builds_tiny(module: Any) -> bool:
    return callable(getattr(module, "build_tiny", None)) or callable(getattr(module, "tiny_parts", None))


class TinyFloorOptions(BackendOptions):
    """``model.options`` of ``tiny-floor``."""

    #: The registered ``hf-audio`` family whose file builds the tiny instance (``build_tiny`` or ``tiny_parts``).
    family: str = "audio-flamingo-3"
    #: Seed of the random weights.
    init_seed: Annotated[int, Field(ge=0)] = 0

    @field_validator("family")
    @classmethod
    def _family(cls, value: str) -> str:
        try:
            module = _family_module(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("model.backend: ")) from None
        if not _builds_tiny(module):
            raise ValueError(f"the {value!r} family's file ({module.__name__}) defines neither build_tiny nor "
                             "tiny_parts: no tiny instance to build offline")
        return value


class TinyFloorBackend(SFMBackend):
    """A family back-end on a tiny random instance (see the module doc); calls pass through to it."""

    name = "tiny-floor"
    options_model = TinyFloorOptions
    #: ``model.name_or_path`` is written here when absent (``./run_all.sh`` does not ask for it).
    builds_checkpoint = True

    def __init__(self, inner: SFMBackend, *, family: str, init_seed: int) -> None:
        self.inner = inner
        self.family_backend, self.init_seed = family, init_seed
        self.tokenizer = inner.tokenizer
        self.max_audio_seconds = inner.max_audio_seconds
        self.sampling_rate = inner.sampling_rate

    def __getattr__(self, name: str) -> Any:  # model, processor, model_inputs, eos_token_ids …
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @classmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> TinyFloorBackend:
        """``model`` section: options (:class:`TinyFloorOptions`: family, init_seed), name_or_path
        (the checkpoint folder, built when absent or stale; default ``.cache/tiny-floor/<family>-<seed>``
        under the project root), dtype (default float32), device (default cpu)."""
        opts = parse_options(cls.options_model, model.get("options"))
        family, seed = opts["family"], int(opts["init_seed"])
        from emologits.sfm import backend_class

        family_cls = backend_class(family)
        module = importlib.import_module(family_cls.__module__)
        dtype = model.get("dtype")
        dtype = "float32" if dtype in (None, "auto") else dtype
        device = model.get("device") or "cpu"
        device = "cpu" if device == "auto" else device
        if callable(getattr(module, "build_tiny", None)):
            path = resolve_path(model.get("name_or_path") or f"{DEFAULT_DIR}/{family}-{seed}", project_root)
            ensure_tiny_checkpoint(module, path, family=family, seed=seed)
            inner = family_cls.load(str(path), dtype=dtype, device=device, logits_dtype=model.get("logits_dtype"))
        else:
            from emologits.sfm.device import resolve_device, resolve_dtype

            net, processor = module.tiny_parts(seed=seed)
            dev = resolve_device(device)
            net = net.to(device=dev, dtype=resolve_dtype(dtype, dev))
            inner = family_cls(net, processor, name_or_path=f"tiny-floor:{family}-{seed}", revision=None,
                               device=dev, logits_dtype=model.get("logits_dtype"))
        return cls(inner, family=family, init_seed=seed)

    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings) -> list[GenerationRecord]:
        return self.inner.generate(audios, prompt, tracked_ids, settings)

    def score(self, audio: np.ndarray, prompt: str, continuations: Sequence[str]) -> list[np.ndarray]:
        return self.inner.score(audio, prompt, continuations)

    def score_batch(self, audios: Sequence[np.ndarray], prompt: str,
                    continuations: Sequence[str]) -> list[list[np.ndarray]]:
        return self.inner.score_batch(audios, prompt, continuations)

    def manifest_inputs(self) -> dict[str, str]:
        return self.inner.manifest_inputs()

    def provenance(self) -> dict[str, Any]:
        return {**self.inner.provenance(), "backend": self.name, "family_backend": self.family_backend,
                "init_seed": self.init_seed, "pipeline_check": True, "untrained_floor": True}


def ensure_tiny_checkpoint(module: Any, path: Path, *, family: str, seed: int) -> Path:
    """``module.build_tiny`` written to ``path`` unless its stamp already matches (family, seed,
    transformers version); built in a temporary sibling folder and renamed (:func:`atomic_directory`),
    so a kill leaves no half checkpoint."""
    import transformers

    stamp = {"family": family, "init_seed": seed, "transformers": transformers.__version__}
    stamp_path = Path(path) / STAMP_FILE
    if stamp_path.is_file():
        try:
            if json.loads(stamp_path.read_text()) == stamp:
                return Path(path)
        except ValueError:
            pass
    shutil.rmtree(path, ignore_errors=True)  # a stale build (its stamp does not match)
    with atomic_directory(path) as tmp:
        module.build_tiny(tmp, seed=seed)
        (tmp / STAMP_FILE).write_text(json.dumps(stamp))
    return Path(path)
