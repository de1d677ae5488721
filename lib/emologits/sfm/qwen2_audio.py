"""``qwen2-audio`` back-end: Qwen2-Audio-7B-Instruct (or any local/hub checkpoint of the same class)
through transformers' ``Qwen2AudioForConditionalGeneration`` + ``AutoProcessor``.

The user turn is the model's own chat template with one audio placeholder before the prompt
(``Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>`` then the prompt text); the processor expands
``<|AUDIO|>`` to one placeholder per pooled audio frame. Batches are left-padded.
"""
from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from emologits.config import resolve_path
from emologits.errors import ConfigError
from emologits.sfm.base import BackendOptions, GenerationRecord, GenerationSettings, SFMBackend, parse_options
from emologits.sfm.capture import (
    generate_with_capture,
    reset_generation_defaults,
    score_continuations_batch,
)
from emologits.sfm.device import resolve_device, resolve_dtype
from emologits.sfm.hub import check_hub_reachable

DEFAULT_MODEL = "Qwen/Qwen2-Audio-7B-Instruct"
def resolve_name_or_path(name_or_path: str | None, project_root: Any, default: str) -> str:
    """A local directory (absolute, or relative to the project root / working dir) or a hub id."""
    name = str(name_or_path or default)
    for path in dict.fromkeys([resolve_path(name, project_root), resolve_path(name)]):
        if path.is_dir():
            return str(path.resolve())
    return name


def chat_text(processor: Any, prompt: str) -> str:
    """The processor's chat template: one user turn (audio placeholder, then the prompt), plus the
    assistant answer prefix (``<|im_start|>assistant\n``)."""
    conversation = [{"role": "user", "content": [{"type": "audio", "audio_url": "input.wav"},
                                                 {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


class Qwen2AudioOptions(BackendOptions):
    """``model.options`` of qwen2-audio: passed to ``from_pretrained`` (None: its default)."""

    device_map: str | dict[str, str | int] | None = None  # e.g. "auto" to spread over several GPUs
    attn_implementation: str | None = None  # e.g. "sdpa", "eager", "flash_attention_2"


class Qwen2AudioBackend(SFMBackend):
    """Qwen2-Audio through transformers; see module docstring."""

    name = "qwen2-audio"
    sampling_rate = 16000
    options_model = Qwen2AudioOptions

    def __init__(self, model: Any, processor: Any, *, name_or_path: str, revision: str | None,
                 device: str) -> None:
        self.model = model.eval()
        #: Decoding defaults the checkpoint shipped, dropped so the run's settings alone apply.
        self.ignored_generation_defaults = reset_generation_defaults(model)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.name_or_path = name_or_path
        self.revision = revision
        self.device = device
        fe = processor.feature_extractor
        if fe.sampling_rate != self.sampling_rate:
            raise ConfigError(f"{name_or_path}: feature extractor expects {fe.sampling_rate} Hz, "
                              f"this back-end feeds {self.sampling_rate} Hz")
        self.max_audio_seconds = float(fe.n_samples) / fe.sampling_rate
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_token_ids = sorted(set(eos))
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = (self.tokenizer.pad_token_id
                                                    if self.tokenizer.pad_token_id is not None else self.eos_token_ids[0])

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> Qwen2AudioBackend:
        """``model`` section: name_or_path (hub id or local dir; default Qwen2-Audio-7B-Instruct),
        revision, dtype (auto|float32|float16|bfloat16), device (auto|cpu|cuda[:i]),
        options: {device_map, attn_implementation} passed to ``from_pretrained``."""
        path = resolve_name_or_path(model.get("name_or_path"), project_root, DEFAULT_MODEL)
        return cls.load(path, revision=model.get("revision"), dtype=model.get("dtype", "auto"),
                        device=model.get("device", "auto"), options=model.get("options") or {})

    @classmethod
    def load(cls, path: str, *, revision: str | None = None, dtype: str | None = "auto",
             device: str | None = "auto", options: dict[str, Any] | None = None) -> Qwen2AudioBackend:
        """Load processor + model from a hub id or local directory."""
        from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration
        options = parse_options(Qwen2AudioOptions, options)
        device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        check_hub_reachable(path, revision)  # a hub id without network fails now, not after retries
        device_map = options["device_map"]
        load_kw = {k: v for k, v in options.items() if k != "device_map" and v is not None}
        try:
            processor = AutoProcessor.from_pretrained(path, revision=revision)
            net = Qwen2AudioForConditionalGeneration.from_pretrained(
                path, revision=revision, dtype=torch_dtype, device_map=device_map, **load_kw)
        except OSError as exc:
            raise ConfigError(f"model.name_or_path {path!r}: cannot load a Qwen2-Audio checkpoint "
                              f"(a local directory or a hub id; weights download from the hub): {exc}") from None
        if device_map is None:
            net = net.to(device)
        return cls(net, processor, name_or_path=path, revision=revision, device=device)

    # -- inputs ----------------------------------------------------------------------------------
    def chat_text(self, prompt: str) -> str:
        """The model's chat template around ``prompt`` (see :func:`chat_text`)."""
        return chat_text(self.processor, prompt)

    def model_inputs(self, audios: Sequence[np.ndarray], prompt: str) -> dict[str, Any]:
        """Processor outputs for a left-padded batch, on the model's device and dtype."""
        n_max = int(round(self.max_audio_seconds * self.sampling_rate))
        clips = [np.asarray(a, dtype=np.float32).reshape(-1)[:n_max] for a in audios]
        text = self.chat_text(prompt)
        inputs = self.processor(text=[text] * len(clips), audio=clips, sampling_rate=self.sampling_rate,
                                return_tensors="pt", padding=True)
        inputs.pop("num_audio_tokens", None)
        device = self.model.device
        out = {}
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor):
                value = value.to(device)
                if value.is_floating_point():
                    value = value.to(self.model.dtype)
            out[key] = value
        return out

    # -- interface -------------------------------------------------------------------------------
    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings) -> list[GenerationRecord]:
        """Batched generation (left padding) with single-pass capture of the tracked ids."""
        inputs = self.model_inputs(audios, prompt)
        return generate_with_capture(
            self.model, inputs, tracked_ids, settings, eos_token_ids=self.eos_token_ids,
            decode=lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True))

    def score(self, audio: np.ndarray, prompt: str, continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probs of each continuation after audio + prompt + answer prefix."""
        return self.score_batch([audio], prompt, continuations)[0]

    def score_batch(self, audios: Sequence[np.ndarray], prompt: str,
                    continuations: Sequence[str]) -> list[list[np.ndarray]]:
        """:meth:`score` for a left-padded batch: one prefix pass for the batch, one pass for every
        utterance x multi-token continuation (:func:`score_continuations_batch`)."""
        prefix = self.model_inputs(audios, prompt)
        ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        return score_continuations_batch(self.model, prefix, [ids] * len(audios))

    def provenance(self) -> dict[str, Any]:
        """Model id/path, revision, dtype, device, versions, and checkpoint generation defaults
        that were dropped so that only the run's recorded settings apply."""
        return {
            "backend": self.name,
            "name_or_path": self.name_or_path,
            "revision": self.revision,
            "commit_hash": getattr(self.model.config, "_commit_hash", None),
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "device": str(self.model.device),
            "max_audio_seconds": self.max_audio_seconds,
            "eos_token_ids": self.eos_token_ids,
            "ignored_checkpoint_generation_defaults": self.ignored_generation_defaults,
            "transformers": importlib.metadata.version("transformers"),
            "torch": torch.__version__,
        }
