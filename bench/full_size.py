"""Full-size timing of each audio-LLM family on a CUDA GPU, with random weights (nothing downloaded).

    python bench/full_size.py [--families qwen2-audio … granite-speech] [--batch-sizes 1 8 32]
                              [--new-tokens 32] [--repeats 5] [--warmup 1] [--audio-seconds 4.5]
    python bench/full_size.py --check-configs   # CPU: build each at real size on the meta device, count parameters
    python bench/full_size.py --smoke           # CPU: the same measurements on the tiny instances (code path only)

Each family is its tiny offline instance (``tiny_parts`` in its file: the real model and processor
classes, every special-token id) scaled to the published sizes of its checkpoint
(:data:`FULL_SIZE`: dotted config paths -> values, transcribed from the checkpoint's config.json,
named per family; the Omni models as their thinker, Gemma 3n without its vision tower,
Phi-4-multimodal and Granite Speech with their LoRA), built directly on the GPU in bfloat16 with
random weights (speed does not depend on weight values) and run through the family's ``hf-audio``
back-end: its chat template, its processor (real-size audio features: ``FullSize.features``; 30 s
window), its text model. Phi-4-multimodal and Granite Speech run one clip per model call in the
pipeline; here the batch goes in one call, so only their batch-1 row is the pipeline's cost. Per family and
batch size (default 1, 8, 32), on synthetic 4.5 s clips (IEMOCAP's mean length) and the paper's
``ambiguous`` prompt, with a fixed number of new tokens (end-of-sequence switched off):

* ``prefill_s``: one forward pass over the batch's audio + prompt (what every method needs);
* ``step_s``: (plain ``generate`` - prefill) / new tokens;
* ``capture_ratio``: ``generate_with_capture`` / plain ``generate``, the two interleaved over the
  repeats, median of the per-repeat ratios with its spread (min, max);
* ``peak_gpu_gib``: peak allocated GPU memory at that batch size;
* ``paper_workload_h``: the projected hours of generation with capture for the paper's workload,
  4,370 utterances x 2 prompts at that batch size (this many new tokens per answer).

Without CUDA (and without ``--smoke`` / ``--check-configs``) it prints one JSON line saying it
skipped. Otherwise the last line is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PROJECT_ROOT, emit, interleaved, ratio_stats, synthetic_audios  # noqa: E402

#: The paper's workload: IEMOCAP utterances (sec. 4.1) x prompts (ambiguous, single).
PAPER_UTTERANCES, PAPER_PROMPTS = 4370, 2


def _qwen2_audio_parts(seed: int = 0, window_s: int = 30) -> tuple[Any, Any]:
    """A tiny random Qwen2-Audio with the real processor class (tiny tokenizer, Whisper features)."""
    import torch
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    from emologits.sfm.families.tiny import chatml_template, set_special_ids, tiny_tokenizer, whisper_features

    markup = ["<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
    tok = tiny_tokenizer(["<|im_start|>", *markup])
    fe = whisper_features(window_s)
    proc = Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tok,
                               chat_template=chatml_template("Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n"))
    config = Qwen2AudioConfig(
        audio_config={"d_model": 16, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 32,
                      "num_mel_bins": 16, "max_source_positions": 50 * window_s},
        text_config={"model_type": "qwen2", "vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2},
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    set_special_ids(model, tok)
    return model, proc


_QWEN25_7B_TEXT = {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                   "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064}
_WHISPER_LARGE_ENCODER = {"d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
                          "encoder_ffn_dim": 5120, "num_mel_bins": 128, "max_source_positions": 1500}


def _phi4_parts(seed: int = 0, window_s: int = 30) -> tuple[Any, Any]:
    """Phi-4-multimodal's tiny instance (its window is the family's, not the processor's)."""
    from emologits.sfm.families.phi4_multimodal import tiny_parts
    return tiny_parts(seed)


def _granite_parts(seed: int = 0, window_s: int = 30) -> tuple[Any, Any]:
    """Granite Speech's tiny instance, its stand-in's Whisper features over ``window_s`` (the tiny
    one's 2 s would cut the benchmark's clips short of their placeholder count)."""
    from emologits.sfm.families.granite_speech import tiny_parts
    from emologits.sfm.families.tiny import whisper_features
    model, processor = tiny_parts(seed)
    processor.feature_extractor = whisper_features(window_s, n_mels=processor.feature_extractor.feature_size)
    return model, processor


def _gemma3n_building() -> Any:
    """Gemma 3n's model class built with a SigLIP vision tower in place of timm's MobileNetV5 (as its
    tiny instance is; audio never reaches it): a small one, so the count below excludes the vision
    tower."""
    from transformers import SiglipVisionConfig

    from emologits.sfm.families.gemma3n import _vision_stand_in
    return _vision_stand_in(SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                               num_attention_heads=2, image_size=32, patch_size=16))


def _whisper_features(processor: Any, n_mels: int = 128) -> None:
    """The processor's Whisper feature extractor at ``n_mels`` bins, its window as it was."""
    from emologits.sfm.families.tiny import whisper_features
    processor.feature_extractor = whisper_features(processor.feature_extractor.chunk_length, n_mels)


def _gemma3n_features(processor: Any) -> None:
    """Gemma 3n's own audio feature extractor at its real 128 mel bins."""
    fe = processor.feature_extractor
    processor.feature_extractor = type(fe)(feature_size=128, sampling_rate=fe.sampling_rate)


def _keep_features(processor: Any) -> None:
    """The tiny processor's features are already the real ones (Phi-4-multimodal: 80 mel bins)."""


def _lora(r: int, alpha: int, targets: str | list[str]) -> Callable[[Any], None]:
    """Inject a LoRA of rank ``r`` on ``targets`` (what the family's loader injects from the
    checkpoint; ``"phi4"``: the Phi-4-multimodal family's pattern), with PEFT's own function; built
    where the model is (meta device included)."""

    def inject(model: Any) -> None:
        from peft import LoraConfig, inject_adapter_in_model

        from emologits.sfm.families.phi4_multimodal import LORA_TARGETS
        inject_adapter_in_model(LoraConfig(r=r, lora_alpha=alpha,
                                           target_modules=LORA_TARGETS if targets == "phi4" else targets), model)

    return inject


@dataclass(frozen=True)
class FullSize:
    """A family at real size: its back-end, the tiny instance to scale (``parts(seed, window_s)``
    -> model, processor), the checkpoint whose config.json the sizes are from, and the sizes.
    ``features`` makes the processor's audio features real-size; ``building`` is a context the
    model class is built in (Gemma 3n: its vision-tower stand-in); ``adapter`` adds what the
    family's loader adds after building (a LoRA); ``released_b`` is the checkpoint's published
    parameter count in billions that ``--check-configs`` compares with, ``note`` what differs."""

    backend: str
    parts: str | Callable[..., tuple[Any, Any]]
    source: str
    sizes: Mapping[str, Any] = field(default_factory=dict)
    features: Callable[[Any], None] = _whisper_features
    building: Callable[[], Any] | None = None
    adapter: Callable[[Any], None] | None = None


#: Family back-end name -> its full-size spec (dotted paths into the tiny instance's config).
FULL_SIZE: dict[str, FullSize] = {
    "qwen2-audio": FullSize(
        "qwen2-audio", _qwen2_audio_parts, "Qwen/Qwen2-Audio-7B-Instruct",
        {**{f"audio_config.{k}": v for k, v in _WHISPER_LARGE_ENCODER.items()},
         **{f"text_config.{k}": v for k, v in {"hidden_size": 4096, "intermediate_size": 11008,
                                               "num_hidden_layers": 32, "num_attention_heads": 32,
                                               "num_key_value_heads": 32, "vocab_size": 156032}.items()}}),
    "audio-flamingo-3": FullSize(
        "audio-flamingo-3", "emologits.sfm.families.audio_flamingo3:tiny_parts", "nvidia/audio-flamingo-3-hf",
        {"audio_config.num_mel_bins": 128, "audio_config.num_hidden_layers": 32,
         "audio_config.num_attention_heads": 20, "audio_config.intermediate_size": 5120,
         "audio_config.hidden_size": 1280, "audio_config.max_source_positions": 1500,
         **{f"text_config.{k}": v for k, v in _QWEN25_7B_TEXT.items()}}),
    "qwen2.5-omni": FullSize(
        "qwen2.5-omni", "emologits.sfm.families.qwen2_5_omni:tiny_parts", "Qwen/Qwen2.5-Omni-7B (thinker)",
        {**{f"thinker_config.audio_config.{k}": v for k, v in {**_WHISPER_LARGE_ENCODER, "n_window": 100,
                                                               "output_dim": 3584}.items()},
         **{f"thinker_config.vision_config.{k}": v for k, v in {
             "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
             "out_hidden_size": 3584, "fullatt_block_indexes": [7, 15, 23, 31]}.items()},
         **{f"thinker_config.text_config.{k}": v for k, v in _QWEN25_7B_TEXT.items()},
         "thinker_config.text_config.rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                                        "mrope_section": [16, 24, 24]}}),
    "voxtral": FullSize(
        "voxtral", "emologits.sfm.families.voxtral:tiny_parts", "mistralai/Voxtral-Mini-3B-2507",
        {"audio_config.num_mel_bins": 128, "audio_config.hidden_size": 1280, "audio_config.intermediate_size": 5120,
         "audio_config.num_hidden_layers": 32, "audio_config.num_attention_heads": 20,
         "audio_config.max_source_positions": 1500,
         **{f"text_config.{k}": v for k, v in {"vocab_size": 131072, "hidden_size": 3072, "intermediate_size": 8192,
                                               "num_hidden_layers": 30, "num_attention_heads": 32,
                                               "num_key_value_heads": 8, "head_dim": 128}.items()}}),

    # Qwen3-Omni-30B-A3B (thinker only; talker and code2wav are never built, as the back-end drops them).
    # Text: hidden 2048, 48 layers, 32 query / 4 key-value heads, 128 experts (8 per token), from the
    # checkpoint's config as quoted by xpengzhao.github.io/dl-note/llms/models ("directly from the public
    # Hugging Face config"); head_dim 128, moe_intermediate_size 768: transformers 5.24's
    # Qwen3OmniMoeTextConfig defaults (its docstring names Qwen/Qwen3-Omni-30B-A3B-Instruct); vocab 152064:
    # not verified (Qwen2.5-Omni's). Audio encoder (32 layers, d_model 1280, 20 heads, ffn 5120) and vision
    # (depth 27, 1152 wide, 16 heads, deepstack [8, 16, 24]): the same page and the same defaults;
    # n_window_infer 800, downsample_hidden_size 480: transformers defaults; output widths = text width.
    # mrope_section [24, 20, 20]: not verified (any split of head_dim / 2 gives the same cost).
    "qwen3-omni": FullSize(
        "qwen3-omni", "emologits.sfm.families.qwen3_omni:tiny_parts", "Qwen/Qwen3-Omni-30B-A3B-Instruct (thinker)",
        {**{f"thinker_config.audio_config.{k}": v for k, v in {
            **_WHISPER_LARGE_ENCODER, "n_window": 50, "n_window_infer": 800, "downsample_hidden_size": 480,
            "output_dim": 2048}.items()},
         **{f"thinker_config.vision_config.{k}": v for k, v in {
             "depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16, "out_hidden_size": 2048,
             "deepstack_visual_indexes": [8, 16, 24]}.items()},
         **{f"thinker_config.text_config.{k}": v for k, v in {
             "vocab_size": 152064, "hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 32,
             "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 768, "moe_intermediate_size": 768,
             "num_experts": 128, "num_experts_per_tok": 8}.items()},
         "thinker_config.text_config.rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                                        "mrope_section": [24, 20, 20], "mrope_interleaved": True}}),
    # Gemma 3n E4B: every size is transformers 5.24's Gemma3nTextConfig / Gemma3nAudioConfig default (their
    # docstrings name google/gemma-3n-E4B); text 35 layers, hidden 2048, ffn 16384, 8 / 2 heads of 256,
    # vocab 262400 (per-layer inputs: 262144 x 35 x 256), altup 4, laurel 64, 15 shared-KV layers, every
    # fifth layer global; audio: conformer 12 layers, 1536 wide, 128 mel bins. The vision tower
    # (MobileNetV5-300M, timm) is not built: a 1-layer SigLIP stands in (:func:`_gemma3n_building`).
    "gemma-3n": FullSize(
        "gemma-3n", "emologits.sfm.families.gemma3n:tiny_parts", "google/gemma-3n-E4B-it (vision tower excluded)",
        {**{f"text_config.{k}": v for k, v in {
            "vocab_size": 262400, "vocab_size_per_layer_input": 262144, "hidden_size": 2048, "intermediate_size": 16384,
            "num_hidden_layers": 35, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256,
            "hidden_size_per_layer_input": 256, "num_kv_shared_layers": 15, "laurel_rank": 64, "altup_num_inputs": 4,
            "layer_types": (["sliding_attention"] * 4 + ["full_attention"]) * 7,
            "activation_sparsity_pattern": [0.95] * 10 + [0.0] * 25}.items()},
         **{f"audio_config.{k}": v for k, v in {
             "input_feat_size": 128, "hidden_size": 1536, "conf_num_attention_heads": 8, "conf_num_hidden_layers": 12,
             "sscp_conv_channel_size": [128, 32], "conf_attention_chunk_size": 12, "conf_attention_context_left": 13,
             "conf_attention_context_right": 0, "vocab_size": 128, "vocab_offset": 262272}.items()},
         "vision_config.vocab_size": 128, "vision_config.vocab_offset": 262144},
        features=_gemma3n_features, building=_gemma3n_building),
    # Phi-4-multimodal-instruct: every size is transformers 5.24's Phi4MultimodalConfig default (its
    # docstrings name microsoft/Phi-4-multimodal-instruct), matching the checkpoint's remote-code config.json
    # (audio: 24 conformer blocks, attention_dim 1024, 16 heads, linear_units 1536, 80 mel bins, nemo
    # conv 1024; as in copies of it on the hub, e.g. nllg/crocscore/config.json). Text: Phi-4-mini (3072
    # wide, 32 layers, ffn 8192, vocab 200064); vision: SigLIP 27 layers, 1152 wide. Not the defaults:
    # 24 query heads of 128 (qkv 5120 wide; the LoRA size below holds only with that) and tied input and
    # output embeddings (Phi-4-mini's; not verified here: with them the count matches the release).
    # Speech LoRA (always on in this family): rank 320 on qkv/o/gate_up/down of every layer, alpha 640;
    # the rank follows from speech-lora/adapter_model.safetensors being 923 MB (320 x 45,056 x 32 layers
    # x 2 bytes = 923 MB in bf16); alpha: not verified (it does not change the cost).
    "phi-4-multimodal": FullSize(
        "phi-4-multimodal", _phi4_parts, "microsoft/Phi-4-multimodal-instruct (+ speech LoRA)",
        {"vocab_size": 200064, "tie_word_embeddings": True, "hidden_size": 3072, "intermediate_size": 8192,
         "num_hidden_layers": 32,
         "num_attention_heads": 24, "num_key_value_heads": 8, "max_position_embeddings": 131072,
         "original_max_position_embeddings": 4096,
         **{f"audio_config.{k}": v for k, v in {
             "hidden_size": 1024, "intermediate_size": 1536, "num_blocks": 24, "num_attention_heads": 16,
             "ext_pw_out_channel": 1024, "depthwise_separable_out_channel": 1024, "nemo_conv_channels": 1024,
             "input_size": 80}.items()},
         **{f"vision_config.{k}": v for k, v in {
             "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
             "image_size": 448, "patch_size": 14, "crop_size": 448}.items()}},
        features=_keep_features, adapter=_lora(320, 640, "phi4")),
    # Granite Speech 3.3-8b: text = granite-3.3-8b-instruct (4096 wide, 40 layers, 32 / 8 heads, ffn 12800:
    # as granite-3.0-8b's config.json; vocab 49160: not verified); encoder: 10 conformer blocks (IBM's
    # Granite 3.3 announcement; the current revision 3.3.2 has "a deeper acoustic encoder", depth not
    # verified), 1024 wide, 8 heads of 128, context 200, kernel 15, input 160 (80 mel bins stacked in
    # pairs): transformers 5.24's GraniteSpeechEncoderConfig defaults (docstring: granite-speech-3.3-2b);
    # projector: 2-layer Q-former 1024 wide, 16 heads, ffn 4096 (the same defaults), window 15, 5x
    # downsampling. LoRA on q_proj and v_proj (IBM's announcement); rank 64: not verified.
    "granite-speech": FullSize(
        "granite-speech", _granite_parts, "ibm-granite/granite-speech-3.3-8b (+ LoRA)",
        {**{f"encoder_config.{k}": v for k, v in {
            "input_dim": 160, "num_layers": 10, "hidden_dim": 1024, "feedforward_mult": 4, "num_heads": 8,
            "dim_head": 128, "output_dim": 42, "context_size": 200, "max_pos_emb": 512, "conv_kernel_size": 15,
            "conv_expansion_factor": 2}.items()},
         **{f"projector_config.{k}": v for k, v in {
             "hidden_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 16, "intermediate_size": 4096,
             "encoder_hidden_size": 1024}.items()},
         **{f"text_config.{k}": v for k, v in {
             "vocab_size": 49160, "hidden_size": 4096, "intermediate_size": 12800, "num_hidden_layers": 40,
             "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": True}.items()}},
        features=functools.partial(_whisper_features, n_mels=80), adapter=_lora(64, 32, ["q_proj", "v_proj"])),
}


def _parts(spec: FullSize) -> Callable[..., tuple[Any, Any]]:
    if callable(spec.parts):
        return spec.parts
    module, _, name = spec.parts.partition(":")
    return getattr(importlib.import_module(module), name)


#: Fields a config derives from its sizes at construction (rebuilt, not copied, when sizes change).
DERIVED_FIELDS = ("layer_types", "head_dim")


def scaled_config(config: Any, sizes: Mapping[str, Any]) -> Any:
    """A copy of ``config`` with each dotted path set. Every sub-config that changes is rebuilt by
    its class from its values plus the changes (so per-layer lists and the head size follow the new
    layer count and width)."""
    import copy

    config = copy.deepcopy(config)
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for path, value in sizes.items():
        *parents, key = path.split(".")
        groups.setdefault(tuple(parents), {})[key] = value
    for parents, changes in groups.items():
        if not parents:
            for key, value in changes.items():
                setattr(config, key, value)
            continue
        holder = config
        for p in parents[:-1]:
            holder = getattr(holder, p)
        sub = getattr(holder, parents[-1])
        values = {k: v for k, v in sub.to_dict().items() if k not in DERIVED_FIELDS or k in changes}
        setattr(holder, parents[-1], type(sub)(**{**values, **changes}))
    return config


def full_size_model(spec: FullSize, *, device: str, dtype: Any, scale: bool = True) -> tuple[Any, Any]:
    """The family's model at real size (random weights, built on ``device`` in ``dtype``) and its
    processor with real-size audio features (128 mel bins, 30 s window). ``scale=False``: the tiny
    instance itself (``--smoke``)."""
    import torch

    tiny, processor = _parts(spec)(seed=0, window_s=30)
    if not scale:
        return tiny.to(device=device, dtype=dtype), processor
    config = scaled_config(tiny.config, spec.sizes)
    spec.features(processor)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device), (spec.building() if spec.building else contextlib.nullcontext()):
            torch.manual_seed(0)
            model = type(tiny)(config)
            if spec.adapter:
                spec.adapter(model)
    finally:
        torch.set_default_dtype(default)
    model.generation_config = tiny.generation_config
    if hasattr(tiny, "thinker"):
        model.thinker.generation_config = tiny.thinker.generation_config
    return model, processor


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _variants(text_model: Any, inputs: Mapping[str, Any], tracked: list[int],
              settings: Any) -> dict[str, Callable[[], None]]:
    """The timed calls on one batch: the prefill pass, plain ``generate``, generation with capture."""
    import torch

    from emologits.sfm.capture import generate_with_capture

    def prefill() -> None:
        with torch.inference_mode():
            text_model(**inputs, use_cache=True)
        _sync()

    def plain() -> None:
        with torch.inference_mode():
            text_model.generate(**inputs, **settings.generate_kwargs())
        _sync()

    def capture() -> None:
        generate_with_capture(text_model, dict(inputs), tracked, settings, eos_token_ids=[],
                              decode=lambda ids: "")
        _sync()

    return {"prefill": prefill, "plain": plain, "capture": capture}


def measure_family(spec: FullSize, *, device: str, dtype: Any, batch_sizes: list[int], new_tokens: int,
                   repeats: int, warmup: int, audio_seconds: float, scale: bool = True) -> dict[str, Any]:
    """Every figure of one family (see the module doc), per batch size."""
    import torch

    from emologits.prompts import get_prompt
    from emologits.sfm import backend_class
    from emologits.sfm.base import GenerationSettings
    from emologits.verbalizer import tracked_token_ids

    started = time.perf_counter()
    model, processor = full_size_model(spec, device=device, dtype=dtype, scale=scale)
    backend = backend_class(spec.backend)(model, processor, name_or_path=f"random-init:{spec.source}",
                                          revision=None, device=device)
    text_model = backend.text_model()
    text_model.generation_config.eos_token_id = None  # a fixed number of new tokens in both variants
    n_params = sum(p.numel() for p in model.parameters())
    build_s = time.perf_counter() - started
    prompt = get_prompt(PROJECT_ROOT / "prompts" / "prompts.yaml", "ambiguous").text
    tracked = tracked_token_ids(backend.tokenizer)
    settings = GenerationSettings(max_new_tokens=new_tokens)
    out: dict[str, Any] = {"source": spec.source, "parameters_b": round(n_params / 1e9, 3),
                           "build_s": round(build_s, 1), "per_batch_size": {}}
    for bs in batch_sizes:
        audios = [a[: int(audio_seconds * 16000)] for a in synthetic_audios(bs, seed=bs, seconds=audio_seconds)]
        inputs = backend.model_inputs(audios, prompt)
        n_prompt = int(inputs["input_ids"].shape[1])
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

        times = interleaved(_variants(text_model, inputs, tracked, settings), repeats=repeats,
                            warmup=warmup)
        ratio = ratio_stats(times, "capture", "plain")
        t_plain, t_prefill, t_capture = (statistics.median(times[k]) for k in ("plain", "prefill", "capture"))
        out["per_batch_size"][str(bs)] = {
            "prompt_tokens": n_prompt,
            "prefill_s": round(t_prefill, 5),
            "step_s": round(max(t_plain - t_prefill, 0.0) / new_tokens, 6),
            "capture_ratio": ratio["median"], "capture_ratio_spread": ratio["spread"],
            "generate_s": round(t_plain, 4), "generate_with_capture_s": round(t_capture, 4),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
            "paper_workload_h": round(t_capture / bs * PAPER_UTTERANCES * PAPER_PROMPTS / 3600, 3),
        }
        print(f"  {spec.backend} batch {bs}: {out['per_batch_size'][str(bs)]}", flush=True)
    return out


def check_configs(families: list[str]) -> dict[str, Any]:
    """Build each family at real size on the meta device (no memory, no weights): the scaled config
    is accepted by the family's model class; the parameter count in billions."""
    import torch

    counts, parts = {}, {}
    for name in families:
        model, _ = full_size_model(FULL_SIZE[name], device="meta", dtype=torch.bfloat16)
        counts[name] = round(sum(p.numel() for p in model.parameters()) / 1e9, 3)
        parts[name] = parameter_parts(model)
        print(f"  {name} ({FULL_SIZE[name].source}): {counts[name]} B parameters {parts[name]}", flush=True)
    return {"parameters_b": counts, "parts_b": parts}


#: Name fragments that place a parameter in a part (first match wins; the rest is the text model).
PARTS = (("adapter", ("lora_",)), ("vision", ("visual", "vision", "image")),
         ("audio", ("audio", "encoder.", "projector")))


def parameter_parts(model: Any) -> dict[str, float]:
    """The model's parameters in billions per part: text model, audio (encoder and projector),
    vision, adapter (LoRA), by parameter name (:data:`PARTS`); tied weights counted once."""
    out = {"text": 0, "audio": 0, "vision": 0, "adapter": 0}
    for pname, p in model.named_parameters():
        part = next((k for k, frags in PARTS if any(f in pname for f in frags)), "text")
        out[part] += p.numel()
    return {k: round(v / 1e9, 3) for k, v in out.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FULL_SIZE), choices=list(FULL_SIZE))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--audio-seconds", type=float, default=4.5)
    parser.add_argument("--check-configs", action="store_true", help="CPU: real-size configs on the meta device")
    parser.add_argument("--smoke", action="store_true", help="CPU: the tiny instances through the same code")
    args = parser.parse_args(argv)

    import torch

    if args.check_configs:
        emit(check_configs(args.families))
        return 0
    if not args.smoke and not torch.cuda.is_available():
        emit({"skipped": "no CUDA device: bench/full_size.py measures full-size models on a GPU only",
              "families": args.families})
        return 0
    device, dtype = ("cpu", torch.float32) if args.smoke else ("cuda", torch.bfloat16)
    result: dict[str, Any] = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu (smoke: tiny)",
                              "dtype": str(dtype).replace("torch.", ""), "new_tokens": args.new_tokens,
                              "audio_seconds": args.audio_seconds, "repeats": args.repeats,
                              "cuda": torch.version.cuda, "torch": torch.__version__, "families": {}}
    for name in args.families:
        print(f"{name}: building {'tiny' if args.smoke else 'full size'} ({FULL_SIZE[name].source}) …", flush=True)
        try:
            result["families"][name] = measure_family(
                FULL_SIZE[name], device=device, dtype=dtype, batch_sizes=args.batch_sizes,
                new_tokens=args.new_tokens, repeats=args.repeats, warmup=args.warmup,
                audio_seconds=args.audio_seconds, scale=not args.smoke)
        except torch.cuda.OutOfMemoryError as exc:  # one family too large: report it, go on
            result["families"][name] = {"error": f"out of GPU memory: {str(exc).splitlines()[0]}"}
            torch.cuda.empty_cache()
    print(json.dumps(result, indent=1), flush=True)
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
