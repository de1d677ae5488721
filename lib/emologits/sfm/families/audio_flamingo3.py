"""Audio Flamingo 3 (NVIDIA; Qwen2 LLM + Whisper-large encoder) through ``hf-audio``.

Hooks: the model loads only through the sequence-to-sequence auto class in transformers 5.x
(``AutoModelForSeq2SeqLM``, after the class ``config.architectures`` names); the processor cuts
audio into 30 s windows up to its ``max_audio_len`` (600 s), so the window is ``max_audio_len``,
and its feature mask (``input_features_mask``) needs the feature extractor's own max-length padding
(padding options go to the tokenizer only).
"""
from __future__ import annotations

from typing import Any

from emologits.sfm.hf_audio import HfAudioBackend


class AudioFlamingo3Backend(HfAudioBackend):
    name = "audio-flamingo-3"
    family = "Audio Flamingo 3"
    model_types = ("audioflamingo3",)
    default_model = "nvidia/audio-flamingo-3-hf"
    auto_classes = ("AutoModelForSeq2SeqLM",)

    def processor_window_seconds(self) -> float:
        return float(self.processor.max_audio_len)


def tiny_parts(seed: int = 0, window_s: int = 2) -> tuple[Any, Any]:
    """A tiny random Audio Flamingo 3 and its real processor class (Whisper features, 2 s windows)."""
    import torch
    from transformers import AudioFlamingo3Config, AudioFlamingo3ForConditionalGeneration, AudioFlamingo3Processor

    from emologits.sfm.families.tiny import chatml_template, set_special_ids, tiny_tokenizer, whisper_features
    tok = tiny_tokenizer(["<|im_start|>", "<sound>"])
    fe = whisper_features(window_s)
    proc = AudioFlamingo3Processor(fe, tok, chat_template=chatml_template("<sound>"), max_audio_len=3 * window_s)
    config = AudioFlamingo3Config(
        audio_config={"num_mel_bins": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                      "intermediate_size": 32, "hidden_size": 16, "max_source_positions": 50 * window_s},
        text_config={"model_type": "qwen2", "vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 1024},
        audio_token_id=tok.convert_tokens_to_ids("<sound>"))
    torch.manual_seed(seed)
    model = AudioFlamingo3ForConditionalGeneration(config)
    set_special_ids(model, tok)
    return model, proc


def build_tiny(out_dir: Any, *, seed: int = 0, window_s: int = 2) -> Any:
    """:func:`tiny_parts` saved to ``out_dir`` (``model.name_or_path`` of a config); returns the path."""
    from emologits.sfm.families.tiny import save_tiny
    return save_tiny(*tiny_parts(seed, window_s), out_dir)
