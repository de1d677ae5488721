"""Granite Speech (IBM; conformer encoder + Q-former projector + Granite LLM) through ``hf-audio``.

Hooks: LoRA adapters switched on for every forward pass, not only inside ``generate``. The
checkpoint's LoRA (``adapter_config.json`` beside ``config.json``) is meant to be on exactly when
audio is in the input; transformers' ``GraniteSpeechForConditionalGeneration.generate`` switches
it on or off, but a plain forward (label likelihood) runs with whatever state the adapters were
left in. Here the adapter is injected with PEFT's own functions (transformers 5.24's automatic
adapter loading needs peft >= 0.22; the pinned peft is 0.21, so it is kept from running at load)
and :meth:`GraniteSpeechBackend.adapters_on` switches every LoRA layer on around generation and
scoring. Clips run one per model call (:class:`~emologits.sfm.families.phi4_multimodal.OneClipAtATime`):
the encoder has no padding mask (block attention, convolutions), so padding changes a short clip's
audio embeddings. Window: :data:`WINDOW_SECONDS` (``model.options.max_audio_seconds`` changes it).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from emologits.sfm.base import GenerationRecord, GenerationSettings
from emologits.sfm.families.phi4_multimodal import OneClipAtATime, inject_lora
from emologits.sfm.families.tiny import StandInProcessor

#: Longest audio fed to the model by default (the processor declares none).
WINDOW_SECONDS = 30.0
#: A subfolder no checkpoint has: given as ``adapter_kwargs`` it keeps ``from_pretrained`` from
#: loading the root adapter through transformers' PEFT integration (which needs peft >= 0.22).
_NO_ADAPTER = "emologits-no-adapter"


class GraniteSpeechBackend(OneClipAtATime):
    name = "granite-speech"
    family = "Granite Speech"
    model_types = ("granite_speech",)
    default_model = "ibm-granite/granite-speech-3.3-8b"

    @classmethod
    def load_model(cls, path: str, *, revision: str | None, load_kw: dict[str, Any]) -> Any:
        """The model, then the checkpoint's LoRA (at its root) injected when its config says it has one."""
        model = super().load_model(path, revision=revision,
                                   load_kw={**load_kw, "adapter_kwargs": {"subfolder": _NO_ADAPTER}})
        if model.config.has_lora_adapter:
            inject_lora(model, path, revision=revision)
        return model

    def processor_window_seconds(self) -> float:
        return WINDOW_SECONDS

    @contextlib.contextmanager
    def adapters_on(self) -> Iterator[None]:
        """Every LoRA layer of the model switched on (and back to its state afterwards)."""
        layers = lora_layers(self.model)
        before = [not layer.disable_adapters for layer in layers]
        for layer in layers:
            layer.enable_adapters(True)
        try:
            yield
        finally:
            for layer, on in zip(layers, before):
                layer.enable_adapters(on)

    def scoring_context(self) -> contextlib.AbstractContextManager[None]:
        return self.adapters_on()

    def generate_from_inputs(self, inputs: Mapping[str, Any], tracked_ids: Sequence[int],
                             settings: GenerationSettings) -> list[GenerationRecord]:
        with self.adapters_on():
            return super().generate_from_inputs(inputs, tracked_ids, settings)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "lora_layers": len(lora_layers(self.model))}


def lora_layers(model: Any) -> list[Any]:
    """The PEFT LoRA layers inside ``model``."""
    from peft.tuners.lora import LoraLayer
    return [m for m in model.modules() if isinstance(m, LoraLayer)]


class GraniteStandIn(StandInProcessor):
    """What ``GraniteSpeechProcessor`` does, without its feature extractor (which needs torchaudio):
    log-mel frames (here Whisper's) stacked in pairs, the audio placeholder repeated as many times as
    the projector gives outputs for the clip (per ``window`` encoder frames, ``window // downsample``),
    ``input_features_mask`` marking each clip's projector outputs; audio padded to the longest clip."""

    def __init__(self, tokenizer: Any, feature_extractor: Any, *, chat_template: str, audio_token: str,
                 window: int, downsample: int) -> None:
        super().__init__(tokenizer, feature_extractor, chat_template=chat_template, audio_token=audio_token,
                         n_tokens=None)
        self.window, self.downsample = window, downsample

    def embed_size(self, n_samples: int) -> int:
        frames = (n_samples // self.feature_extractor.hop_length + 1) // 2
        return -(-frames // self.window) * (self.window // self.downsample)

    def __call__(self, *, text: Sequence[str], audio: Sequence[Any], sampling_rate: int, return_tensors: str = "pt",
                 text_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        import torch
        feats = self.feature_extractor(list(audio), sampling_rate=sampling_rate, return_tensors="pt",
                                       padding="longest")["input_features"].transpose(1, 2)
        feats = feats[:, : feats.shape[1] // 2 * 2]
        stacked = feats.reshape(feats.shape[0], feats.shape[1] // 2, 2 * feats.shape[2])
        sizes = [self.embed_size(len(a)) for a in audio]
        out = self.text_inputs(text, sizes, text_kwargs)
        out["input_features"] = stacked
        out["input_features_mask"] = torch.arange(max(sizes))[None] < torch.tensor(sizes)[:, None]
        return out


CHAT_TEMPLATE = (
    "{% for message in messages %}<|start_of_role|>{{ message['role'] }}<|end_of_role|>"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'audio' %}<|audio|>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end_of_text|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{% endif %}")


def tiny_processor() -> GraniteStandIn:
    """:class:`GraniteStandIn` over a tiny tokenizer (8 mel bins, 16 features per stacked frame)."""
    from emologits.sfm.families.tiny import tiny_tokenizer, whisper_features
    tok = tiny_tokenizer(["<|start_of_role|>", "<|end_of_role|>", "<|audio|>"], eos="<|end_of_text|>",
                         pad="<|pad|>")
    return GraniteStandIn(tok, whisper_features(2, n_mels=8), chat_template=CHAT_TEMPLATE, audio_token="<|audio|>",
                          window=15, downsample=5)


def save_tiny_model(out_dir: Any, *, seed: int = 0) -> Path:
    """A tiny random Granite Speech saved to ``out_dir`` with a random (non-zero) LoRA on the
    language model's attention projections at the checkpoint's root, as released; returns the path."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import GraniteSpeechConfig, GraniteSpeechForConditionalGeneration

    from emologits.sfm.families.tiny import set_special_ids
    tok = tiny_processor().tokenizer
    config = GraniteSpeechConfig(
        encoder_config={"input_dim": 16, "num_layers": 1, "hidden_dim": 16, "num_heads": 2, "dim_head": 8,
                        "output_dim": 8, "context_size": 20, "max_pos_emb": 32, "conv_kernel_size": 5},
        projector_config={"model_type": "blip_2_qformer", "hidden_size": 16, "num_hidden_layers": 1,
                          "num_attention_heads": 2, "intermediate_size": 32, "encoder_hidden_size": 16,
                          "cross_attention_frequency": 1, "vocab_size": 8},
        text_config={"model_type": "granite", "vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 1024, "pad_token_id": tok.pad_token_id,
                     "eos_token_id": tok.eos_token_id, "bos_token_id": None},
        audio_token_index=tok.convert_tokens_to_ids("<|audio|>"), window_size=15, downsample_rate=5,
        has_lora_adapter=True)
    torch.manual_seed(seed)
    model = GraniteSpeechForConditionalGeneration(config)
    set_special_ids(model, tok)
    out = Path(out_dir)
    model.save_pretrained(out)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(out / "lora")
    for name in ("adapter_config.json", "adapter_model.safetensors"):  # the root, as released
        (out / "lora" / name).replace(out / name)
    return out


def tiny_parts(seed: int = 0) -> tuple[Any, Any]:
    """:func:`save_tiny_model` in a temporary folder read back through
    :meth:`GraniteSpeechBackend.load_model` (LoRA injected), and :func:`tiny_processor`."""
    import tempfile

    import torch
    with tempfile.TemporaryDirectory() as tmp:
        path = save_tiny_model(tmp, seed=seed)
        model = GraniteSpeechBackend.load_model(str(path), revision=None, load_kw={"dtype": torch.float32})
    return model, tiny_processor()

