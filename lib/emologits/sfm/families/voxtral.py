"""Voxtral (Mistral; Whisper-style encoder + Mistral/Llama LLM) through ``hf-audio``.

Hooks: a different input path. Voxtral's processor has no text template of its own: its tokenizer
is mistral-common's (``MistralCommonBackend``), and audio enters **inside the conversation** given
to ``processor.apply_chat_template`` (an audio content item carrying the clip as base64 WAV), which
tokenizes (``[INST][BEGIN_AUDIO][AUDIO]…prompt[/INST]``) and extracts the features in one call;
``processor(text=…, audio=…)`` refuses audio. Every clip is padded to a multiple of 30 s and cut
into 30 s chunks of ``max_source_positions`` encoder positions, each giving a fixed number of
placeholders (375 at full size), so with clips up to the window every row has the same length.
The real processor needs the ``mistral-common`` package (not pinned here): without it loading
stops with a message saying so; the offline test uses :class:`VoxtralStandIn`.
"""
from __future__ import annotations

import base64
import importlib.util
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emologits.errors import ConfigError
from emologits.sfm.families.tiny import StandInProcessor
from emologits.sfm.hf_audio import HfAudioBackend


def wav_base64(clip: np.ndarray, sampling_rate: int) -> str:
    """``clip`` as a base64 16-bit PCM WAV file (how an audio content item carries raw samples)."""
    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, np.asarray(clip, np.float32), sampling_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class VoxtralBackend(HfAudioBackend):
    name = "voxtral"
    family = "Voxtral"
    model_types = ("voxtral",)
    default_model = "mistralai/Voxtral-Mini-3B-2507"

    @classmethod
    def load(cls, path: str, **kwargs: Any) -> HfAudioBackend:
        if importlib.util.find_spec("mistral_common") is None:
            raise ConfigError(f"model.backend 'voxtral' ({path}): Voxtral's processor needs the mistral-common package "
                              "(its tokenizer); install it with: pip install 'mistral-common[audio]'")
        return super().load(path, **kwargs)

    def audio_conversation(self, prompt: str, clip: np.ndarray) -> list[dict[str, Any]]:
        """One user turn: the clip (base64 WAV) as an audio item, then the prompt text."""
        return [{"role": "user", "content": [{"type": "audio", "base64": wav_base64(clip, self.sampling_rate)},
                                             {"type": "text", "text": prompt}]}]

    def processor_inputs(self, clips: Sequence[np.ndarray], prompt: str) -> Mapping[str, Any]:
        return self.processor.apply_chat_template([self.audio_conversation(prompt, c) for c in clips],
                                                  add_generation_prompt=True, return_tensors="pt")

    def chat_text(self, prompt: str) -> str:
        """The tokens the model reads around ``prompt`` (a 1 s silent clip), decoded."""
        ids = self.processor_inputs([np.zeros(self.sampling_rate, np.float32)], prompt)["input_ids"][0]
        return self.tokenizer.decode(ids.tolist(), skip_special_tokens=False)


class VoxtralStandIn(StandInProcessor):
    """What ``VoxtralProcessor.apply_chat_template`` does, without mistral-common: the conversation's
    base64 audio decoded, Whisper features padded to the window, the ``[INST]…[/INST]`` format with
    ``[BEGIN_AUDIO]`` and ``n_tokens`` ``[AUDIO]`` placeholders per clip, left padding."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
        convs = conversation if conversation and isinstance(conversation[0], list) else [conversation]
        if not kwargs.get("return_tensors"):
            return [self.format(c) for c in convs] if convs is not conversation else self.format(convs[0])
        import soundfile as sf
        clips = []
        for conv in convs:
            for item in conv[-1]["content"]:
                if item["type"] == "audio":
                    audio, _ = sf.read(io.BytesIO(base64.b64decode(item["base64"])), dtype="float32")
                    clips.append(audio)
        rate = self.feature_extractor.sampling_rate
        return self(text=[self.format(c) for c in convs], audio=clips, sampling_rate=rate,
                    text_kwargs={"padding": True, "padding_side": "left"})

    def format(self, conversation: Any) -> str:
        parts = []
        for item in conversation[-1]["content"]:
            parts.append("[BEGIN_AUDIO][AUDIO]" if item["type"] == "audio" else item["text"])
        return "<s>[INST]" + "".join(parts) + "[/INST]"


def tiny_parts(seed: int = 0, window_s: int = 2) -> tuple[Any, Any]:
    """A tiny random Voxtral (Llama text model) and :class:`VoxtralStandIn` (the real processor needs
    mistral-common): 2 s window = 200 mel frames = 100 encoder positions -> 25 placeholders per clip."""
    import torch
    from transformers import VoxtralConfig, VoxtralForConditionalGeneration

    from emologits.sfm.families.tiny import set_special_ids, tiny_tokenizer, whisper_features
    tok = tiny_tokenizer(["[INST]", "[/INST]", "[BEGIN_AUDIO]", "[AUDIO]"], eos="</s>", pad="<pad>", bos="<s>")
    fe = whisper_features(window_s)
    positions = 50 * window_s
    config = VoxtralConfig(
        audio_config={"model_type": "voxtral_encoder", "num_mel_bins": 16, "hidden_size": 16, "intermediate_size": 64,
                      "num_hidden_layers": 1, "num_attention_heads": 2, "max_source_positions": positions},
        text_config={"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
                     "max_position_embeddings": 1024},
        audio_token_id=tok.convert_tokens_to_ids("[AUDIO]"))
    torch.manual_seed(seed)
    model = VoxtralForConditionalGeneration(config)
    set_special_ids(model, tok)
    # the projector stacks 4 encoder positions (intermediate_size = 4 x hidden_size) into one placeholder
    proc = VoxtralStandIn(tok, fe, chat_template="", audio_token="[AUDIO]", n_tokens=lambda _: positions // 4,
                          mask_key="")
    return model, proc
