"""``qwen2-audio`` back-end: Qwen2-Audio-7B-Instruct (or any local/hub checkpoint of the same class)
through transformers' ``Qwen2AudioForConditionalGeneration`` + ``AutoProcessor``: the Qwen2-Audio
family of the generic ``hf-audio`` back-end (:mod:`emologits.sfm.hf_audio`).

The user turn is the model's own chat template with one audio placeholder before the prompt
(``Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>`` then the prompt text); the processor expands
``<|AUDIO|>`` to one placeholder per pooled audio frame (30 s Whisper window). Batches are
left-padded; the likelihood uses the batched cached-prefix scoring.
"""
from __future__ import annotations

from typing import Any

from emologits.sfm.hf_audio import HfAudioBackend, HfAudioOptions, audio_prompt_turn, resolve_name_or_path

DEFAULT_MODEL = "Qwen/Qwen2-Audio-7B-Instruct"

__all__ = ["DEFAULT_MODEL", "Qwen2AudioBackend", "Qwen2AudioOptions", "chat_text", "resolve_name_or_path"]


def chat_text(processor: Any, prompt: str) -> str:
    """The processor's chat template: one user turn (audio placeholder, then the prompt), plus the
    assistant answer prefix (``<|im_start|>assistant\n``)."""
    return processor.apply_chat_template(audio_prompt_turn(prompt), add_generation_prompt=True, tokenize=False)


class Qwen2AudioOptions(HfAudioOptions):
    """``model.options`` of qwen2-audio: passed to ``from_pretrained`` (None: its default)."""


class Qwen2AudioBackend(HfAudioBackend):
    """Qwen2-Audio through transformers; see module docstring."""

    name = "qwen2-audio"
    family = "Qwen2-Audio"
    model_types = ("qwen2_audio",)
    default_model = DEFAULT_MODEL
    options_model = Qwen2AudioOptions
