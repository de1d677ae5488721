"""Phi-4-multimodal (Microsoft; conformer audio encoder + Phi-4-mini LLM) through ``hf-audio``.

Hooks: speech LoRA selection. The released model routes each input kind through its own LoRA on
the language model (the remote-code version selects it with ``input_mode``); in transformers the
LLM loads without adapters and the speech adapter comes from the checkpoint's ``speech-lora``
folder (:meth:`Phi4MultimodalBackend.load_model`). It is injected with PEFT's own functions
(:func:`inject_lora`), not transformers' ``load_adapter``: transformers 5.24's PEFT integration
needs peft >= 0.22, and the pinned peft is 0.21 (LTU-AS). Injected in place, the adapter is the
only one and always on, so generation and scoring both run with it. A checkpoint without that folder is refused (its answers to audio
would come from the bare LLM). Audio: 80 log-mel bins at 16 kHz, one placeholder per 8 frames
(80 ms); the window is :data:`WINDOW_SECONDS` (``model.options.max_audio_seconds`` changes it).
Clips run one per model call (:class:`OneClipAtATime`): the conformer encoder's output for a short
clip changes with the padding its batch adds (on the tiny instance the shortest of four clips
generated other tokens at batch 4 than alone).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emologits.errors import ConfigError
from emologits.sfm.base import GenerationRecord, GenerationSettings
from emologits.sfm.families.tiny import StandInProcessor
from emologits.sfm.hf_audio import HfAudioBackend

#: The checkpoint's subfolder holding the speech LoRA, and the adapter's name once loaded.
SPEECH_LORA = "speech-lora"
SPEECH_ADAPTER = "speech"
#: Longest audio fed to the model by default (the processor declares none).
WINDOW_SECONDS = 30.0


class OneClipAtATime(HfAudioBackend):
    """Generation and scoring one clip per model call, whatever ``model.batch_size`` is: for families
    whose audio encoder's output for a clip depends on the padding of the other clips in its batch
    (no padding mask inside the encoder's convolutions), so that a batch gives batch-of-1 results."""

    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings) -> list[GenerationRecord]:
        generate = super().generate
        if settings.seed is not None:  # seeded once for the call, as a batch is: clips draw in turn
            torch.manual_seed(settings.seed)
            settings = settings.model_copy(update={"seed": None})
        return [rec for audio in audios for rec in generate([audio], prompt, tracked_ids, settings)]

    def score_batch(self, audios: Sequence[np.ndarray], prompt: str,
                    continuations: Sequence[str]) -> list[list[np.ndarray]]:
        score_batch = super().score_batch
        return [row for audio in audios for row in score_batch([audio], prompt, continuations)]


class Phi4MultimodalBackend(OneClipAtATime):
    name = "phi-4-multimodal"
    family = "Phi-4-multimodal"
    model_types = ("phi4_multimodal",)
    default_model = "microsoft/Phi-4-multimodal-instruct"
    auto_classes = ("AutoModelForCausalLM",)

    @classmethod
    def load_model(cls, path: str, *, revision: str | None, load_kw: dict[str, Any]) -> Any:
        """The model, then its speech LoRA injected (:func:`select_speech_adapter`)."""
        model = super().load_model(path, revision=revision, load_kw=load_kw)
        select_speech_adapter(model, path, revision)
        return model

    def processor_window_seconds(self) -> float:
        return WINDOW_SECONDS

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "adapter": f"{SPEECH_LORA} (LoRA, injected)"}


def inject_lora(model: Any, source: str, *, subfolder: str | None = None, revision: str | None = None,
                adapter_name: str = "default") -> list[str]:
    """Inject the LoRA adapter saved in ``source`` (/``subfolder``; a local folder or hub id, PEFT
    format) into ``model`` in place and load its weights; every adapter weight must find its
    module. Returns the names of the modules that carry it."""
    from peft import PeftConfig, inject_adapter_in_model
    from peft.utils import load_peft_weights
    kw = {k: v for k, v in (("subfolder", subfolder), ("revision", revision)) if v}
    config = PeftConfig.from_pretrained(source, **kw)
    weights = load_peft_weights(source, device="cpu", **kw)
    inject_adapter_in_model(config, model, adapter_name=adapter_name)
    params = dict(model.named_parameters())
    renamed = {}
    for key, value in weights.items():
        name = key.removeprefix("base_model.model.")
        head, _, leaf = name.rpartition(".")
        renamed[f"{head}.{adapter_name}.{leaf}"] = value
    missing = sorted(set(renamed) - set(params))
    if missing:
        raise ConfigError(f"{source}{'/' + subfolder if subfolder else ''}: {len(missing)} adapter weights match no "
                          f"module of {type(model).__name__} (first: {missing[0]}); is it this model's adapter?")
    with torch.no_grad():
        for name, value in renamed.items():
            params[name].copy_(value.to(params[name].dtype))
    return sorted({name.rsplit(".lora_", 1)[0] for name in renamed})


def select_speech_adapter(model: Any, path: str, revision: str | None) -> list[str]:
    """Inject the speech LoRA of ``path``'s ``speech-lora`` folder (:func:`inject_lora`)."""
    local = Path(path)
    if local.is_dir() and not (local / SPEECH_LORA / "adapter_config.json").is_file():
        raise ConfigError(f"model.name_or_path {path!r}: no {SPEECH_LORA}/adapter_config.json: Phi-4-multimodal "
                          "answers audio through its speech LoRA; copy the checkpoint's speech-lora folder too")
    try:
        return inject_lora(model, path, subfolder=SPEECH_LORA, revision=revision, adapter_name=SPEECH_ADAPTER)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.name_or_path {path!r}: cannot load the speech LoRA ({SPEECH_LORA}/): {exc}") from None


class Phi4StandIn(StandInProcessor):
    """What ``Phi4MultimodalProcessor`` does for audio, without its image processor (which needs
    torchvision): the real feature extractor (features, placeholder count per clip, feature mask),
    the audio token repeated that many times, the text padded on the left."""

    def __call__(self, *, text: Sequence[str], audio: Sequence[Any], sampling_rate: int, return_tensors: str = "pt",
                 text_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        feats = self.feature_extractor(list(audio), sampling_rate=sampling_rate, return_tensors="pt")
        out = self.text_inputs(text, feats["audio_embed_sizes"], text_kwargs)
        out.update(feats)
        return out


CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for item in message['content'] %}{% if item['type'] == 'audio' %}<|audio|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}")

#: The speech LoRA's targets: the language model's attention and MLP projections.
LORA_TARGETS = r"model\.layers\.\d+\.(self_attn\.(qkv|o)_proj|mlp\.(gate_up|down)_proj)"


def save_tiny_model(out_dir: Any, *, seed: int = 0) -> Path:
    """A tiny random Phi-4-multimodal saved to ``out_dir`` with a random (non-zero) speech LoRA in
    ``speech-lora/``; returns the path. The processor is not saved (:func:`tiny_processor`)."""
    from peft import LoraConfig, get_peft_model
    from transformers import Phi4MultimodalConfig, Phi4MultimodalForCausalLM

    from emologits.sfm.families.tiny import set_special_ids
    tok = tiny_processor().tokenizer
    audio_id = tok.convert_tokens_to_ids("<|audio|>")
    config = Phi4MultimodalConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, original_max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 28, "patch_size": 14, "crop_size": 28,
                       "image_token_id": tok.convert_tokens_to_ids("<|image|>")},
        audio_config={"hidden_size": 16, "intermediate_size": 32, "num_blocks": 1, "num_attention_heads": 2,
                      "ext_pw_out_channel": 16, "depthwise_separable_out_channel": 16, "nemo_conv_channels": 16,
                      "input_size": 80, "audio_token_id": audio_id})
    torch.manual_seed(seed)
    model = Phi4MultimodalForCausalLM(config)
    set_special_ids(model, tok, eos="<|end|>")
    out = Path(out_dir)
    model.save_pretrained(out)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS, init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(out / SPEECH_LORA)  # the adapter only, PEFT format
    return out


def tiny_processor() -> Phi4StandIn:
    """:class:`Phi4StandIn` over a tiny tokenizer and the real feature extractor (80 mel bins)."""
    from transformers import Phi4MultimodalFeatureExtractor

    from emologits.sfm.families.tiny import tiny_tokenizer
    tok = tiny_tokenizer(["<|user|>", "<|assistant|>", "<|audio|>", "<|image|>"], eos="<|end|>", pad="<|endoftext|>",
                         bos="<|endoftext|>")
    return Phi4StandIn(tok, Phi4MultimodalFeatureExtractor(), chat_template=CHAT_TEMPLATE, audio_token="<|audio|>",
                       n_tokens=None)


def tiny_parts(seed: int = 0) -> tuple[Any, Any]:
    """:func:`save_tiny_model` written to a temporary folder and read back through
    :meth:`Phi4MultimodalBackend.load_model` (speech LoRA injected), and the stand-in
    processor (the real one needs torchvision for its image processor)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = save_tiny_model(tmp, seed=seed)
        model = Phi4MultimodalBackend.load_model(str(path), revision=None, load_kw={"dtype": torch.float32})
    return model, tiny_processor()
