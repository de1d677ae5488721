"""Gemma 3n (Google; USM-style conformer audio encoder + Gemma 3n LLM) through ``hf-audio``.

Hooks: every clip padded to the window (:meth:`Gemma3nBackend.processor_inputs`); the processor
returns ``token_type_ids`` (non-zero on image/audio placeholders), which generation and the prefix
pass of the likelihood take as given; the cached continuation pass leaves them out, which is exact
because Gemma 3n's forward in transformers 5.24 does not use them (a test checks that logits with
and without them are equal, so a version that starts using them fails it). The audio markup is
``<start_of_audio>`` + a fixed number of ``<audio_soft_token>`` (188 at full size) + ``<end_of_audio>``,
so every row has the same length; the window is what those placeholders cover (6.25 per second:
30 s); the output logits are soft-capped (``final_logit_softcapping``), which the float32 head keeps.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from emologits.sfm.hf_audio import HfAudioBackend

#: Placeholders per second of audio: 100 mel frames/s, reduced 16x by the encoder.
TOKENS_PER_SECOND = 6.25


class Gemma3nBackend(HfAudioBackend):
    name = "gemma-3n"
    family = "Gemma 3n"
    model_types = ("gemma3n",)
    default_model = "google/gemma-3n-E4B-it"

    def processor_window_seconds(self) -> float:
        """What the processor's fixed placeholder count covers (188 -> 30 s), to 0.1 s below."""
        return math.floor(10 * self.processor.audio_seq_length / TOKENS_PER_SECOND) / 10

    def processor_inputs(self, clips: Sequence[np.ndarray], prompt: str) -> Mapping[str, Any]:
        """Every clip's samples padded to the window (``padding="max_length"``): the feature
        extractor marks a frame valid when it starts inside the clip, so padding to the batch's
        longest clip would keep up to three more frames of a short clip than batch-of-1 does."""
        n = int(round(self.max_audio_seconds * self.sampling_rate))
        return self.processor(text=[self.chat_text(prompt)] * len(clips), audio=list(clips),
                              sampling_rate=self.sampling_rate, return_tensors="pt",
                              text_kwargs={"padding": True, "padding_side": "left"},
                              audio_kwargs={"padding": "max_length", "max_length": n})


MARKUP = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>",
          "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>", "audio_token": "<audio_soft_token>"}

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'audio' %}<audio_soft_token>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def tiny_tokenizer(n_extra: int = 8) -> Any:
    """A tiny byte-level BPE laid out like Gemma 3n's vocabulary: text ids, then ``n_extra`` vision
    ids starting with ``<end_of_image>``, then ``n_extra`` audio ids starting with ``<end_of_audio>``."""
    from transformers import PreTrainedTokenizerFast

    from emologits.sfm.families import tiny
    base = tiny.tiny_tokenizer(["<start_of_turn>", "<end_of_turn>", MARKUP["boa_token"], MARKUP["boi_token"]],
                               eos="<eos>", pad="<pad>", bos="<bos>")
    extra = ([MARKUP["eoi_token"], MARKUP["image_token"]] + [f"<unused_v{i}>" for i in range(n_extra - 2)]
             + [MARKUP["eoa_token"], MARKUP["audio_token"]] + [f"<unused_a{i}>" for i in range(n_extra - 2)])
    base.add_special_tokens({"additional_special_tokens": extra}, replace_extra_special_tokens=False)
    return PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, eos_token="<eos>", pad_token="<pad>",
                                   bos_token="<bos>", padding_side="left", extra_special_tokens=MARKUP,
                                   model_max_length=4096, clean_up_tokenization_spaces=False)


@contextlib.contextmanager
def _vision_stand_in(vision: Any) -> Iterator[None]:
    """While building a Gemma 3n: its vision sub-config builds the model of ``vision`` (a config of a
    class that needs no timm); every other sub-config builds as usual."""
    from unittest import mock

    from transformers import AutoModel, Gemma3nVisionConfig
    from transformers.models.gemma3n import modeling_gemma3n
    build = AutoModel.from_config

    def from_config(config: Any, **kwargs: Any) -> Any:
        return build(vision if isinstance(config, Gemma3nVisionConfig) else config, **kwargs)

    with mock.patch.object(modeling_gemma3n.AutoModel, "from_config", side_effect=from_config):
        yield


def tiny_parts(seed: int = 0, window_s: int = 2) -> tuple[Any, Any]:
    """A tiny random Gemma 3n and its real processor class (Gemma 3n audio features, SigLIP image
    processor in its PIL variant). The vision tower of the real class is timm's MobileNetV5 (timm is
    not installed): the tiny instance holds a tiny SigLIP vision model in its place; the audio path
    and the language model are Gemma 3n's own."""
    import torch
    from transformers import (Gemma3nAudioFeatureExtractor, Gemma3nConfig, Gemma3nForConditionalGeneration,
                              Gemma3nProcessor, SiglipImageProcessorPil, SiglipVisionConfig)

    from emologits.sfm.families.tiny import set_special_ids
    n_extra = 8
    tok = tiny_tokenizer(n_extra)
    n_text = tok.convert_tokens_to_ids(MARKUP["eoi_token"])
    n_audio = int(round(window_s * TOKENS_PER_SECOND))
    fe = Gemma3nAudioFeatureExtractor(feature_size=16)
    proc = Gemma3nProcessor(fe, SiglipImageProcessorPil(), tok, chat_template=CHAT_TEMPLATE, audio_seq_length=n_audio,
                            image_seq_length=4)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=16)
    config = Gemma3nConfig(
        text_config={"vocab_size": n_text + 2 * n_extra, "vocab_size_per_layer_input": n_text, "hidden_size": 32,
                     "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "head_dim": 8, "hidden_size_per_layer_input": 8,
                     "num_kv_shared_layers": 0, "laurel_rank": 4, "altup_num_inputs": 2,
                     "layer_types": ["sliding_attention", "full_attention"], "sliding_window": 512,
                     "activation_sparsity_pattern": [0.95, 0.0], "max_position_embeddings": 1024,
                     "pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id,
                     "eos_token_id": tok.eos_token_id},
        vision_config={"hidden_size": 16, "vocab_size": n_extra, "vocab_offset": n_text},
        audio_config={"input_feat_size": 16, "hidden_size": 16, "conf_num_attention_heads": 2,
                      "conf_num_hidden_layers": 1, "sscp_conv_channel_size": [8, 4], "conf_attention_chunk_size": 4,
                      "conf_attention_context_left": 5, "conf_attention_context_right": 0, "vocab_size": n_extra,
                      "vocab_offset": n_text + n_extra},
        audio_soft_tokens_per_image=n_audio, vision_soft_tokens_per_image=4,
        **{f"{k[:-6]}_token_id": tok.convert_tokens_to_ids(v) for k, v in MARKUP.items()})
    torch.manual_seed(seed)
    with _vision_stand_in(vision):
        model = Gemma3nForConditionalGeneration(config)
    set_special_ids(model, tok, eos="<end_of_turn>")
    return model, proc
