"""Audio-LLM families of the ``hf-audio`` back-end: one file per family with its hooks (a
:class:`~emologits.sfm.hf_audio.HfAudioBackend` subclass), one ``BACKENDS`` line each in
``emologits.sfm``. :data:`MODEL_TYPES` lets the generic ``hf-audio`` name pick the family from a
checkpoint's ``config.model_type``."""
from __future__ import annotations

from typing import Any

from emologits.errors import ConfigError

#: ``config.model_type`` -> the family's back-end name (``emologits.sfm.BACKENDS``).
MODEL_TYPES: dict[str, str] = {
    "qwen2_audio": "qwen2-audio",
    "qwen2_5_omni": "qwen2.5-omni",
    "qwen3_omni_moe": "qwen3-omni",
    "audioflamingo3": "audio-flamingo-3",
    "voxtral": "voxtral",
    "gemma3n": "gemma-3n",
    "phi4_multimodal": "phi-4-multimodal",
    "granite_speech": "granite-speech",
}


def family_for_model_type(model_type: str, path: str) -> Any:
    """The family back-end class serving ``model_type``; ConfigError naming the known ones."""
    from emologits.sfm import backend_class
    if model_type not in MODEL_TYPES:
        raise ConfigError(f"model.name_or_path {path!r}: model_type {model_type!r} is not an audio-LLM family "
                          f"of hf-audio (known: {', '.join(sorted(MODEL_TYPES))}); name a family back-end or "
                          "write one (docs/architecture.md, 'add a back-end')")
    return backend_class(MODEL_TYPES[model_type])
