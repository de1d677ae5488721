"""Qwen2.5-Omni through ``hf-audio``: text from the **thinker** only.

Hooks: the thinker (``model.thinker``) generates and scores, and its output carries the logits;
the talker and the speech decoder (audio output) are dropped after loading (``disable_talker``),
which is what ``generate(..., return_audio=False)`` / ``generation_mode="text"`` does in the
wrapper's own ``generate`` — calling the thinker directly also keeps the run's decoding settings
(the wrapper routes ``max_new_tokens`` and stopping criteria by prefix). The conversation is the
generic one (no system turn: the checkpoint's template puts its own default system prompt first).
Audio: Whisper features, 30 s window, ``<|audio_bos|><|AUDIO|>…<|audio_eos|>``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emologits.sfm.hf_audio import HfAudioBackend


class Qwen25OmniBackend(HfAudioBackend):
    name = "qwen2.5-omni"
    family = "Qwen2.5-Omni"
    model_types = ("qwen2_5_omni",)
    default_model = "Qwen/Qwen2.5-Omni-7B"

    def prepare_model(self) -> None:
        if getattr(self.model, "has_talker", False) and hasattr(self.model, "disable_talker"):
            self.model.disable_talker()

    def text_model(self) -> Any:
        return getattr(self.model, "thinker", self.model)


AUDIO_MARKUP = {"image_token": "<|IMAGE|>", "audio_token": "<|AUDIO|>", "video_token": "<|VIDEO|>",
                "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
                "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}


def tiny_omni_parts(config_class: Any, model_class: Any, thinker_config: Callable[[int, dict[str, int]], dict],
                    n_tokens: Callable[[int], int], seed: int, window_s: int) -> tuple[Any, Any]:
    """A tiny random Omni model (no audio output; thinker from ``thinker_config(vocab size, ids of the
    AUDIO_MARKUP keys)``) and a stand-in processor (the real one needs torchvision for its video
    processor): Whisper features, the ChatML template, ``n_tokens(frames)`` placeholders per clip."""
    import torch

    from emologits.sfm.families.tiny import (StandInProcessor, chatml_template, set_special_ids, tiny_tokenizer,
                                             whisper_features)
    tok = tiny_tokenizer(["<|im_start|>", *AUDIO_MARKUP.values()])
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in AUDIO_MARKUP.items()}
    fe = whisper_features(window_s)
    config = config_class(enable_audio_output=False, thinker_config=thinker_config(len(tok), ids))
    torch.manual_seed(seed)
    model = model_class(config)
    set_special_ids(model.thinker, tok)
    proc = StandInProcessor(tok, fe, chat_template=chatml_template("<|audio_bos|><|AUDIO|><|audio_eos|>"),
                            audio_token="<|AUDIO|>", n_tokens=n_tokens)
    return model, proc


def tiny_parts(seed: int = 0, window_s: int = 2) -> tuple[Any, Any]:
    """A tiny random Qwen2.5-Omni (thinker only) and a stand-in processor (:func:`tiny_omni_parts`)."""
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration

    from emologits.sfm.families.tiny import qwen_audio_tokens

    def thinker(vocab_size: int, ids: dict[str, int]) -> dict:
        return {
            "audio_config": {"num_mel_bins": 16, "encoder_layers": 1, "encoder_attention_heads": 2,
                             "encoder_ffn_dim": 32, "d_model": 16, "max_source_positions": 50 * window_s,
                             "n_window": 50, "output_dim": 32},
            "vision_config": {"depth": 1, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2,
                              "out_hidden_size": 32, "fullatt_block_indexes": [0]},
            "text_config": {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
                            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                            "max_position_embeddings": 1024,
                            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                "mrope_section": [2, 1, 1]}},
            "audio_token_index": ids["audio_token"], "image_token_index": ids["image_token"],
            "video_token_index": ids["video_token"], "audio_start_token_id": ids["audio_bos_token"],
            "audio_end_token_id": ids["audio_eos_token"],
            # read by the thinker's rope index; the released config.json carries it too
            "vision_start_token_id": ids["vision_bos_token"]}

    return tiny_omni_parts(Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration, thinker, qwen_audio_tokens,
                           seed, window_s)
