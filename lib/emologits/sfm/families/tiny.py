"""Tiny random instances of the audio-LLM families, built offline in code (no download): a byte-level
BPE tokenizer trained on a few sentences, a small chat template in the family's format, and the
family's real model and processor classes at a tiny size. Used by the offline family tests, the
full-size benchmark's shapes and the comparison demo. PIPELINE CHECKS: random weights.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Sentences the tiny tokenizers are trained on (the paper's prompt words and answers).
_TEXTS = (
    "What is the emotion of the speaker? Predict the emotion of the audio from the choices "
    "[Happiness, Sadness, Neutral, Angry]. The speaker sounds 60% happy, 20% neutral, 10% sad, 10% angry. "
    "Happiness Sadness Neutral Anger Angry happy sad neutral angry user assistant system model "
    "You are a helpful assistant. Audio 1: 0 1 2 3 4 5 6 7 8 9 %",
)

#: A chat template in the ChatML format (Qwen family): a system turn, audio items as the family's
#: audio markup, then the text. ``AUDIO`` is replaced by the markup.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'audio' %}AUDIO"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def chatml_template(audio_markup: str) -> str:
    """:data:`CHATML_TEMPLATE` with ``audio_markup`` where an audio item stands."""
    return CHATML_TEMPLATE.replace("AUDIO", audio_markup)


def tiny_tokenizer(special_tokens: Sequence[str], *, eos: str = "<|im_end|>", pad: str = "<|endoftext|>",
                   bos: str | None = None, vocab_size: int = 400, extra: dict[str, str] | None = None,
                   tokenizer_class: Any = None) -> Any:
    """A byte-level BPE trained on :data:`_TEXTS` with ``special_tokens`` (eos and pad first)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    specials = list(dict.fromkeys([pad, eos, *([bos] if bos else []), *special_tokens]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(_TEXTS), trainer=trainer)
    klass = tokenizer_class or PreTrainedTokenizerFast
    return klass(tokenizer_object=tok, eos_token=eos, pad_token=pad, bos_token=bos, padding_side="left",
                 additional_special_tokens=[t for t in specials if t not in (eos, pad, bos)],
                 model_max_length=4096, clean_up_tokenization_spaces=False, **(extra or {}))


def whisper_features(chunk_s: int, n_mels: int = 16) -> Any:
    """A Whisper log-mel feature extractor at 16 kHz (10 ms hop) with ``n_mels`` bins and a
    ``chunk_s``-second window (the tiny instances' audio front end)."""
    from transformers import WhisperFeatureExtractor
    return WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=16000, hop_length=160, chunk_length=chunk_s,
                                   n_fft=400)


def save_tiny(model: Any, processor: Any, out_dir: str | Path) -> Path:
    """Save a tiny model and its processor to ``out_dir`` (loadable by ``model.name_or_path``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    if processor is not None:
        processor.save_pretrained(out)
    return out


def set_special_ids(model: Any, tokenizer: Any, *, eos: str | None = None) -> None:
    """The tiny model's generation config: eos / pad from the tokenizer; no bos; no shipped defaults."""
    gc = model.generation_config
    gc.eos_token_id = tokenizer.convert_tokens_to_ids(eos) if eos else tokenizer.eos_token_id
    gc.pad_token_id = tokenizer.pad_token_id
    gc.bos_token_id = None


def qwen_audio_tokens(frames: int) -> int:
    """Placeholders per clip of the Qwen-style audio encoders (conv stride 2, then pooling by 2)."""
    return ((frames - 1) // 2 + 1 - 2) // 2 + 1


class StandInProcessor:
    """What a family's processor does for one audio item, for families whose processor class cannot
    be built offline (it needs torchvision, torchaudio or mistral-common): the family's chat template,
    features from a feature extractor padded to its window (``padding="max_length"``), the audio
    placeholder expanded to ``n_tokens(frames)`` copies, the text tokenized and padded on the left.
    Only the test's model part is real; the family's own processor is untested offline."""

    def __init__(self, tokenizer: Any, feature_extractor: Any, *, chat_template: str, audio_token: str,
                 n_tokens: Any, features_key: str = "input_features", mask_key: str = "feature_attention_mask",
                 expand: Any = None) -> None:
        self.tokenizer, self.feature_extractor = tokenizer, feature_extractor
        self.chat_template, self.audio_token, self.n_tokens = chat_template, audio_token, n_tokens
        self.features_key, self.mask_key = features_key, mask_key
        self.expand = expand or (lambda n: audio_token * n)

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
        return self.tokenizer.apply_chat_template(conversation, chat_template=self.chat_template, **kwargs)

    def __call__(self, *, text: Sequence[str], audio: Sequence[Any], sampling_rate: int, return_tensors: str = "pt",
                 text_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        feats = self.feature_extractor(list(audio), sampling_rate=sampling_rate, return_tensors="pt",
                                       padding="max_length", return_attention_mask=True)
        mask = feats["attention_mask"]
        out = self.text_inputs(text, [self.n_tokens(int(m.sum())) for m in mask], text_kwargs)
        out[self.features_key] = feats["input_features"]
        if self.mask_key:
            out[self.mask_key] = mask
        return out

    def text_inputs(self, text: Sequence[str], counts: Sequence[int],
                    text_kwargs: dict[str, Any] | None) -> dict[str, Any]:
        """Each row's audio placeholder expanded for its clip (``counts[i]`` placeholders), the rows
        tokenized and padded (``text_kwargs``; default: padding on the left)."""
        texts = [t.replace(self.audio_token, self.expand(int(n)), 1) for t, n in zip(text, counts)]
        kw = {"padding": True, **(text_kwargs or {})}
        self.tokenizer.padding_side = kw.pop("padding_side", "left")
        return dict(self.tokenizer(texts, return_tensors="pt", **kw))
