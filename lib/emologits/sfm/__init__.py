"""SFM back-ends: one file per model, one registry (this module, :data:`BACKENDS`).

Adding a back-end inside the package: one file with an :class:`SFMBackend` subclass, plus one
``BACKENDS.register_lazy`` line below. From outside: ``model.backend: "package.module:Class"``.
"""
from __future__ import annotations

from typing import Any

from emologits.errors import ConfigError
from emologits.registry import Registry
from emologits.sfm.base import GenerationRecord, GenerationSettings, SFMBackend


#: Registered back-ends (``model.backend``); imported only when used.
BACKENDS: Registry[type[SFMBackend]] = Registry("back-end", subclass_of=SFMBackend)
BACKENDS.register_lazy("qwen2-audio", "emologits.sfm.qwen2_audio:Qwen2AudioBackend",
                       "Qwen2-Audio-7B-Instruct (transformers; hub id or local copy) through hf-audio")
BACKENDS.register_lazy("hf-audio", "emologits.sfm.hf_audio:HfAudioBackend",
                       "any audio LLM in transformers: the family is read from the checkpoint's model_type")
BACKENDS.register_lazy("qwen2.5-omni", "emologits.sfm.families.qwen2_5_omni:Qwen25OmniBackend",
                       "Qwen2.5-Omni (thinker; text only) through hf-audio")
BACKENDS.register_lazy("qwen3-omni", "emologits.sfm.families.qwen3_omni:Qwen3OmniBackend",
                       "Qwen3-Omni (thinker; text only) through hf-audio")
BACKENDS.register_lazy("audio-flamingo-3", "emologits.sfm.families.audio_flamingo3:AudioFlamingo3Backend",
                       "Audio Flamingo 3 through hf-audio (seq2seq auto class)")
BACKENDS.register_lazy("voxtral", "emologits.sfm.families.voxtral:VoxtralBackend",
                       "Voxtral through hf-audio (mistral-common tokenizer, audio via apply_chat_template)")
BACKENDS.register_lazy("gemma-3n", "emologits.sfm.families.gemma3n:Gemma3nBackend",
                       "Gemma 3n through hf-audio (every clip padded to the window; token type ids passed in scoring)")
BACKENDS.register_lazy("phi-4-multimodal", "emologits.sfm.families.phi4_multimodal:Phi4MultimodalBackend",
                       "Phi-4-multimodal through hf-audio (speech LoRA on; one clip per model call)")
BACKENDS.register_lazy("granite-speech", "emologits.sfm.families.granite_speech:GraniteSpeechBackend",
                       "Granite Speech through hf-audio (LoRA on for generation and scoring; one clip per model call)")
BACKENDS.register_lazy("kimi-audio", "emologits.sfm.families.remote_code:KimiAudioBackend",
                       "Kimi-Audio: needs remote code (not in transformers); model.trust_remote_code: true")
BACKENDS.register_lazy("step-audio", "emologits.sfm.families.remote_code:StepAudioBackend",
                       "Step-Audio: needs remote code (not in transformers); model.trust_remote_code: true")
BACKENDS.register_lazy("minicpm-o", "emologits.sfm.families.remote_code:MiniCPMOBackend",
                       "MiniCPM-o: needs remote code (not in transformers); model.trust_remote_code: true")
BACKENDS.register_lazy("tiny-floor", "emologits.sfm.families.tiny_floor:TinyFloorBackend",
                       "a tiny UNTRAINED instance of an hf-audio family (model.options.family): a floor, offline")
BACKENDS.register_lazy("tiny-demo", "emologits.sfm.tiny_demo:TinyDemoBackend",
                       "the Qwen2-Audio architecture at a tiny size, trained locally (offline demo)")
BACKENDS.register_lazy("ltu-as", "emologits.sfm.ltu_as:LtuAsBackend",
                       "LTU-AS (the paper's model), rebuilt on transformers + peft from the released files")


def backend_problem(name: Any) -> tuple[type[SFMBackend] | None, str | None]:
    """The class registered under ``name`` (or a user back-end ``"package.module:Class"``), or
    what is wrong with ``name`` (worded for the ``model.backend`` key)."""
    if not isinstance(name, str):
        return None, f"must be a back-end name (got {name!r})"
    try:
        return BACKENDS.get(name), None
    except ConfigError as exc:
        return None, str(exc).removeprefix(f"model.backend {name!r}: ")


def backend_class(name: str) -> type[SFMBackend]:
    """The class registered under ``name``, or a user back-end given as ``"package.module:Class"``."""
    found, problem = backend_problem(name)
    if problem:
        raise ConfigError(f"model.backend: {problem}")
    return found  # type: ignore[return-value]


def load_backend(model: dict[str, Any], *, project_root: Any = None) -> SFMBackend:
    """Instantiate the back-end a config's ``model`` section names."""
    return backend_class(model.get("backend")).from_config(model, project_root=project_root)


__all__ = ["BACKENDS", "GenerationRecord", "GenerationSettings", "SFMBackend", "backend_class",
           "backend_problem", "load_backend"]
