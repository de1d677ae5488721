"""LTU-AS building blocks on current transformers + peft (paper sec. 4.2).

LTU-AS (Gong et al., ASRU 2023) feeds LLaMA-7B (Vicuna, LoRA on q/v) with

1. the hidden states of **all 32 Whisper-encoder blocks** (outputs of blocks 1..32, before the
   encoder's final layer norm) over a 10 s log-mel window (1,000 frames -> 500 encoder frames),
   mean-pooled over time by 20 -> ``[32, 25, 1280]``;
2. a time-and-layer transformer (TLTR): one pre-LN attention block over time (1 head) applied to
   each layer, one over layers (8 heads) applied to each time step, then the mean over layers
   -> ``[25, 1280]``;
3. ``LayerNorm(no affine) + Linear(1280 -> 4096)`` -> 25 audio embeddings placed **before** the
   text embeddings (before BOS);
4. the Whisper decoder's transcript in the prompt's ``### Input:`` field.

Module names here mirror the original's parameter names (``audio_encoder.time_tr.attn.query``,
``audio_proj.1``…) so that the checkpoint's keys map one-to-one (see :func:`map_checkpoint_keys`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from emologits.errors import ConfigError

#: Frames of the log-mel window the original feeds to the encoder (10 s at 100 frames/s).
MEL_WINDOW_FRAMES = 1000
#: Mean-pooling factor over encoder frames (500 -> 25).
TIME_POOL = 20
#: Heads of the TLTR's time and layer attention blocks.
TIME_HEADS, LAYER_HEADS = 1, 8
#: The original's prompt template (templates/alpaca_short.json).
PROMPT_WITH_INPUT = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
PROMPT_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:\n"
#: LoRA set-up of the release (inference_gradio.py / finetune.py).
LORA_SETTINGS: dict[str, Any] = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"],
                                 "lora_dropout": 0.05, "bias": "none", "task_type": "CAUSAL_LM"}
#: Special token ids the release forces ("unwind broken decapoda-research config").
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2

#: Prefix of every key in the released checkpoint (PeftModel -> LoraModel -> LlamaForCausalLM).
ORIGINAL_PREFIX = "base_model.model.model."


def build_prompt(instruction: str, transcript: str | None) -> str:
    """The release's ``alpaca_short`` prompt; an empty transcript uses the no-input form (as the
    original's ``Prompter.generate_prompt`` does for a falsy input)."""
    if transcript:
        return PROMPT_WITH_INPUT.format(instruction=instruction, input=transcript)
    return PROMPT_NO_INPUT.format(instruction=instruction)


_WATCHING = re.compile("|".join(
    re.escape(f"{phrase}{end}")
    for phrase in sorted({v for p in ("thanks for watching", "thank you for watching")
                          for v in (p, p.capitalize(), p.upper())}, key=len, reverse=True)
    for end in ("!", ".", "")))


def clean_transcript(text: str) -> str:
    """The release's transcript clean-up: strip leading space, drop Whisper's "thanks for watching"
    hallucinations (lower, Capitalised or UPPER case, with optional '.'/'!')."""
    return _WATCHING.sub("", text.lstrip())


class FloatLayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 and cast back (the original's Whisper-style LayerNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class BlockAttention(nn.Module):
    """Multi-head self-attention with Whisper's parameter layout (``key`` has no bias)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        # As the original (Whisper's attention): q and k each scaled by d_head^-1/4 before the
        # product, which stays in the input dtype (no fp16 overflow of the unscaled product); the
        # softmax in float32.
        scale = (d // self.heads) ** -0.25
        q, k, v = split(self.query(x)) * scale, split(self.key(x)) * scale, split(self.value(x))
        weights = torch.softmax((q @ k.transpose(-1, -2)).float(), dim=-1)
        mixed = (weights.to(v.dtype) @ v).transpose(1, 2).reshape(b, n, d)
        return self.out(mixed)


class ResidualBlock(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))`` (MLP 4x, GELU)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = BlockAttention(dim, heads)
        self.attn_ln = FloatLayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.mlp_ln = FloatLayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x))
        return x + self.mlp(self.mlp_ln(x))


class TimeLayerTransformer(nn.Module):
    """TLTR: ``[B, layers, steps, D] -> [B, steps, D]`` (time block per layer, layer block per
    step, mean over layers)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.time_tr = ResidualBlock(dim, TIME_HEADS)
        self.layer_tr = ResidualBlock(dim, LAYER_HEADS)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        b, n_layers, steps, dim = states.shape
        x = self.time_tr(states.reshape(b * n_layers, steps, dim)).reshape(b, n_layers, steps, dim)
        x = x.transpose(1, 2).reshape(b * steps, n_layers, dim)
        return self.layer_tr(x).mean(dim=1).reshape(b, steps, dim)


def audio_projection(audio_dim: int, llm_dim: int) -> nn.Sequential:
    """``LayerNorm(no affine) + Linear(audio_dim -> llm_dim)`` (keys ``audio_proj.1.*``)."""
    return nn.Sequential(nn.LayerNorm(audio_dim, elementwise_affine=False), nn.Linear(audio_dim, llm_dim))


def pad_or_trim_mel(mel: torch.Tensor, frames: int = MEL_WINDOW_FRAMES) -> torch.Tensor:
    """Zero-pad or cut a ``[mels, T]`` log-mel to ``frames`` (the original pads the *normalised*
    log-mel with zeros, not the waveform)."""
    if mel.shape[-1] >= frames:
        return mel[..., :frames]
    return F.pad(mel, (0, frames - mel.shape[-1]))


def whisper_block_states(encoder: nn.Module, mel: torch.Tensor) -> torch.Tensor:
    """Outputs of every Whisper encoder block, before the final layer norm: ``[B, n_blocks, T/2, D]``.

    Runs transformers' ``WhisperEncoder`` modules directly so that a 1,000-frame window works
    (its ``forward`` insists on 3,000 frames); positions ``0..T/2-1`` as in the original."""
    x = F.gelu(encoder.conv1(mel.to(encoder.conv1.weight.dtype)))
    x = F.gelu(encoder.conv2(x)).transpose(1, 2)
    x = x + encoder.embed_positions.weight[: x.shape[1]].to(x.dtype)
    states = []
    for layer in encoder.layers:
        x = layer(x, None)
        states.append(x)
    return torch.stack(states, dim=1)


def pool_time(states: torch.Tensor, factor: int = TIME_POOL) -> torch.Tensor:
    """Mean-pool ``[B, L, T, D]`` over time by ``factor`` (T divisible by it; 500 -> 25)."""
    b, n_layers, t, d = states.shape
    if t % factor:
        raise ValueError(f"encoder frames {t} not divisible by the pooling factor {factor}")
    return states.reshape(b, n_layers, t // factor, factor, d).float().mean(dim=3).to(states.dtype)


# --- checkpoint key mapping ---------------------------------------------------------------------

_LORA_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.self_attn\.(q_proj|v_proj)"
                       r"\.(lora_A|lora_B)(?:\.default)?\.weight$")


def map_checkpoint_keys(original_keys: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map the release checkpoint's keys onto this package's parameter names.

    Returns ``(mapping original -> ours, unmappable original keys)``. The release's keys are the
    PeftModel's names filtered by 'lora' or 'audio' (its Trainer's ``_save``):
    ``base_model.model.model.audio_encoder.*`` -> ``audio_encoder.*``,
    ``base_model.model.model.audio_proj.*`` -> ``audio_proj.*``,
    ``base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.default.weight`` ->
    ``llm.base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.default.weight``
    (the adapter-name-free spelling ``lora_A.weight`` of other peft versions is accepted too).
    """
    mapping: dict[str, str] = {}
    unmappable: list[str] = []
    for key in original_keys:
        lora = _LORA_KEY.match(key)
        if lora:
            layer, proj, ab = lora.groups()
            mapping[key] = f"llm.base_model.model.model.layers.{layer}.self_attn.{proj}.{ab}.default.weight"
        elif key.startswith(ORIGINAL_PREFIX + "audio_encoder.") or key.startswith(ORIGINAL_PREFIX + "audio_proj."):
            mapping[key] = key[len(ORIGINAL_PREFIX):]
        else:
            unmappable.append(key)
    return mapping, unmappable


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" … (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_release_checkpoint(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Copy the release checkpoint into ``model`` strictly: every checkpoint key must map onto a
    checkpoint-held parameter of ours (audio_encoder, audio_proj, LoRA) with the same shape, and
    every such parameter must be given exactly once. Anything else raises :class:`ConfigError`
    naming ``source`` and listing the keys (the original loads with ``strict=False``)."""
    mapping, unmappable = map_checkpoint_keys(list(state_dict))
    ours = dict(model.named_parameters())
    expected = {n for n in ours if n.startswith(("audio_encoder.", "audio_proj.")) or ".lora_" in n}
    targets: dict[str, str] = {}
    duplicated = []
    for original, name in mapping.items():
        if name in targets:
            duplicated.append(f"{original} (same as {targets[name]})")
        targets[name] = original
    unexpected = sorted(unmappable + [o for o, n in mapping.items() if n not in expected])
    missing = sorted(expected - set(targets))
    shape_errors = [f"{o}: checkpoint {tuple(state_dict[o].shape)} vs model {tuple(ours[n].shape)}"
                    for n, o in sorted(targets.items()) if n in ours and tuple(state_dict[o].shape) != tuple(ours[n].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) (ours): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if duplicated:
        problems.append(f"{len(duplicated)} duplicated key(s): {_listing(duplicated)}")
    if shape_errors:
        problems.append(f"{len(shape_errors)} shape mismatch(es): {_listing(shape_errors)}")
    if problems:
        raise ConfigError(f"{source}: LTU-AS checkpoint does not match the model ({len(state_dict)} keys): "
                          + "; ".join(problems))
    with torch.no_grad():
        for name, original in targets.items():
            ours[name].copy_(state_dict[original].to(dtype=ours[name].dtype, device=ours[name].device))


class LtuAsModel(nn.Module):
    """Whisper encoder (features) + TLTR + projection + LoRA-wrapped LLaMA (the transcript's Whisper
    encoder-decoder is the back-end's ``asr_model``, outside this module and its checkpoint)."""

    def __init__(self, whisper_encoder: nn.Module, llm: nn.Module) -> None:
        super().__init__()
        dim = whisper_encoder.config.d_model
        self.whisper_encoder = whisper_encoder
        self.audio_encoder = TimeLayerTransformer(dim)
        self.audio_proj = audio_projection(dim, llm.config.hidden_size)
        self.llm = llm

    def audio_embeddings(self, mel: torch.Tensor) -> torch.Tensor:
        """``[B, mels, 1000]`` log-mel -> ``[B, 25, hidden]`` audio embeddings for the LLM."""
        states = pool_time(whisper_block_states(self.whisper_encoder, mel))
        dtype = self.audio_proj[1].weight.dtype
        return self.audio_proj(self.audio_encoder(states.to(dtype)))

    def build_inputs(self, audio_embeds: torch.Tensor, token_ids: list[list[int]],
                     pad_id: int = PAD_ID) -> dict[str, torch.Tensor]:
        """Left-padded ``[pad…][audio×A][text…]`` rows: ``inputs_embeds``, ``attention_mask`` and
        aligned ``input_ids`` (audio slots hold ``pad_id``) so that prompt-dependent logits
        processors (repetition penalty) see the prompt tokens as in the original."""
        n_audio = audio_embeds.shape[1]
        width = n_audio + max(len(ids) for ids in token_ids)
        device = audio_embeds.device
        input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(token_ids), width), dtype=torch.long, device=device)
        embed = self.llm.get_input_embeddings()
        rows = []
        for i, ids in enumerate(token_ids):
            start = width - n_audio - len(ids)
            input_ids[i, start + n_audio:] = torch.tensor(ids, dtype=torch.long, device=device)
            mask[i, start:] = 1
            text = embed(input_ids[i:i + 1, start + n_audio:])[0]
            pad = embed(input_ids[i:i + 1, :start])[0]
            rows.append(torch.cat([pad, audio_embeds[i].to(text.dtype), text], dim=0))
        return {"input_ids": input_ids, "inputs_embeds": torch.stack(rows), "attention_mask": mask}
