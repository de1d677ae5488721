"""Qwen3-Omni (mixture-of-experts thinker) through ``hf-audio``: text from the **thinker** only,
as for Qwen2.5-Omni (:mod:`emologits.sfm.families.qwen2_5_omni`: talker dropped, the thinker
generates and carries the logits). Audio: Whisper features (128 mel bins), chunked encoder
(13 placeholders per 100 frames), ``<|audio_start|><|audio_pad|>…<|audio_end|>``.
"""
from __future__ import annotations

from typing import Any

from emologits.sfm.families.qwen2_5_omni import Qwen25OmniBackend, tiny_omni_parts


class Qwen3OmniBackend(Qwen25OmniBackend):
    name = "qwen3-omni"
    family = "Qwen3-Omni"
    model_types = ("qwen3_omni_moe",)
    default_model = "Qwen/Qwen3-Omni-30B-A3B-Instruct"


def audio_tokens(frames: int, n_window: int = 50) -> int:
    """Placeholders per clip of Qwen3-Omni's chunked audio encoder (as its processor counts them)."""
    chunk = 2 * n_window
    rest = (frames % chunk - 1) // 2 + 1
    return ((rest - 1) // 2 + 1 - 1) // 2 + 1 + (frames // chunk) * 13


def tiny_parts(seed: int = 0, window_s: int = 2) -> tuple[Any, Any]:
    """A tiny random Qwen3-Omni (thinker only, 4 experts) and a stand-in processor
    (:func:`~emologits.sfm.families.qwen2_5_omni.tiny_omni_parts`)."""
    from transformers import Qwen3OmniMoeConfig, Qwen3OmniMoeForConditionalGeneration

    def thinker(vocab_size: int, ids: dict[str, int]) -> dict:
        return {
            "audio_config": {"num_mel_bins": 16, "encoder_layers": 1, "encoder_attention_heads": 2,
                             "encoder_ffn_dim": 32, "d_model": 16, "max_source_positions": 50 * window_s,
                             "n_window": 50, "output_dim": 32, "n_window_infer": 100, "downsample_hidden_size": 8},
            "vision_config": {"depth": 1, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2,
                              "out_hidden_size": 32, "deepstack_visual_indexes": [0]},
            "text_config": {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
                            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                            "max_position_embeddings": 1024, "moe_intermediate_size": 16, "num_experts": 4,
                            "num_experts_per_tok": 2, "head_dim": 8,
                            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                "mrope_section": [2, 1, 1], "mrope_interleaved": True}},
            "audio_token_id": ids["audio_token"], "image_token_id": ids["image_token"],
            "video_token_id": ids["video_token"], "audio_start_token_id": ids["audio_bos_token"],
            "vision_start_token_id": ids["vision_bos_token"]}

    return tiny_omni_parts(Qwen3OmniMoeConfig, Qwen3OmniMoeForConditionalGeneration, thinker, audio_tokens,
                           seed, window_s)
