"""``ltu-as`` back-end: the paper's speech foundation model (sec. 4.2) on current transformers + peft.

Loads the **released** LTU-AS files (see docs/ltu_as.md for what to download):

- ``model.options.whisper``: a transformers Whisper directory for the audio features (the release
  used OpenAI's ``large-v1``; transformers' ``openai/whisper-large``);
- ``model.options.whisper_asr``: a Whisper directory for the transcript (the release used
  ``large-v2`` through whisper-at; default: the same as ``whisper``);
- ``model.options.llama``: the LLaMA/Vicuna base directory (the release's ``vicuna_ltuas``);
- ``model.options.checkpoint``: the LTU-AS checkpoint file (``ltuas_long_noqa_a6.bin``), loaded
  strictly (:func:`emologits.sfm.ltu_as_modules.load_release_checkpoint`).

Per utterance: transcript = Whisper's text, decoded with whisper-at ``transcribe``'s rules
(:func:`release_transcribe`) and cleaned as the release does, or the manifest's transcript
(``transcript: manifest``); prompt =
``### Instruction:\\n{prompt}\\n\\n### Input:\\n{transcript}\\n\\n### Response:\\n`` with BOS; LLM input =
``[left pads][25 audio embeddings][prompt tokens]``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import tempfile
import types
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from emologits.config import resolve_path
from emologits.errors import ConfigError, DataError
from emologits.sfm.base import BackendOptions, GenerationRecord, GenerationSettings, SFMBackend, parse_options
from emologits.sfm.capture import (
    generate_with_capture,
    reset_generation_defaults,
    score_continuations_batch,
)
from emologits.sfm.device import resolve_device, resolve_dtype
from emologits.sfm.ltu_as_modules import (
    BOS_ID,
    EOS_ID,
    LORA_SETTINGS,
    MEL_WINDOW_FRAMES,
    PAD_ID,
    FloatLayerNorm,
    LtuAsModel,
    build_prompt,
    clean_transcript,
    load_release_checkpoint,
    pad_or_trim_mel,
)

#: ``whisper``: Whisper transcripts as the release; ``none``: the audio-only (no-input) prompt;
#: ``manifest``: the transcript the runner passes from the manifest's :data:`MANIFEST_TRANSCRIPT_COLUMN`.
TRANSCRIPT_MODES = ("whisper", "none", "manifest")
#: Manifest column the runner reads for ``transcript: manifest``.
MANIFEST_TRANSCRIPT_COLUMN = "transcript"

#: whisper-at ``transcribe`` defaults, which the release used (``whisper_text_model.transcribe(file)``):
#: temperature fallback, the compression-ratio / log-prob / no-speech rules, timestamp decoding and
#: conditioning on the previous window's text.
RELEASE_ASR_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
RELEASE_COMPRESSION_RATIO_THRESHOLD = 2.4
RELEASE_LOGPROB_THRESHOLD = -1.0
RELEASE_NO_SPEECH_THRESHOLD = 0.6
#: Tokens sampled per 30-s window (openai-whisper's ``sample_len`` = text context 448 // 2).
RELEASE_ASR_MAX_NEW_TOKENS = 224
#: Characters the release cuts from the end of every decoded answer (``decode(s)[5:-4]``, meant for
#: the ``</s>`` of an answer that ends with EOS).
RELEASE_ANSWER_TAIL = 4


class LtuAsOptions(BackendOptions):
    """``model.options`` of the ltu-as back-end (paths: absolute, or relative to the project root;
    the three weights are required when the model loads, see docs/ltu_as.md)."""

    whisper: str | None = None
    whisper_asr: str | None = None  # default: the ``whisper`` folder
    llama: str | None = None
    checkpoint: str | None = None
    transcript: Literal[TRANSCRIPT_MODES] = "whisper"  # type: ignore[valid-type]
    asr_max_new_tokens: Annotated[int, Field(ge=1)] = RELEASE_ASR_MAX_NEW_TOKENS


#: Fewer tokens than a byte-level BPE's base alphabet: no tokenizer files were found (transformers
#: then builds a tokenizer holding only its special tokens, and every transcript decodes empty).
MIN_ASR_VOCAB = 256


def _local_path(options: dict[str, Any], key: str, project_root: Any, *, is_file: bool) -> Path:
    value = options.get(key)
    if not value:
        raise ConfigError(f"model.options.{key} is required for the ltu-as back-end (see docs/ltu_as.md)")
    path = resolve_path(str(value), project_root)
    if not (path.is_file() if is_file else path.is_dir()):
        kind = "file" if is_file else "directory"
        raise ConfigError(f"model.options.{key}: {path} is not an existing {kind} (see docs/ltu_as.md)")
    return path


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.bin``/``.pt`` (torch, tensors only) or ``.safetensors`` file."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a user-facing file problem
        raise ConfigError(f"{path}: cannot read the LTU-AS checkpoint ({exc})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: expected a flat state dict of tensors")
    return state


#: Texts on which the loaded tokenizer must give SentencePiece's ids (runs of spaces, newlines).
_TOKENIZER_PROBES = ("Yeah.  Okay.", "  two leading", "a\n\n  b   c", "trailing  ", "x \t  y")


def load_llama_tokenizer(folder: str | Path) -> Any:
    """The LLaMA/Vicuna tokenizer of ``folder``, encoding exactly as SentencePiece (the release's
    slow ``LlamaTokenizer``).

    Built from ``folder/tokenizer.model`` alone (copied to a temporary folder), so the folder's
    ``tokenizer_config.json`` does not matter: transformers 5.x picks its ``LlamaTokenizer`` for
    configs naming ``LlamaTokenizer``, which splits runs of spaces differently from SentencePiece,
    and recurses without end on the old ``LLaMATokenizer`` name. Checked against
    ``sentencepiece`` on texts with repeated spaces; any failure is a :class:`ConfigError`."""
    import sentencepiece
    from transformers import TokenizersBackend

    folder = Path(folder)
    model_file = folder / "tokenizer.model"
    if not model_file.is_file():
        raise ConfigError(f"model.options.llama: {folder} has no tokenizer.model (the LLaMA SentencePiece "
                          "model, part of the release's vicuna_ltuas folder); put it there")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(model_file, Path(tmp) / "tokenizer.model")
            tokenizer = TokenizersBackend.from_pretrained(tmp)
        reference = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
    except (OSError, ValueError, RuntimeError, RecursionError) as exc:
        raise ConfigError(f"model.options.llama: cannot read {model_file} as a SentencePiece model "
                          f"({type(exc).__name__}: {exc}); replace it with the LLaMA tokenizer.model") from None
    for text in _TOKENIZER_PROBES:
        if tokenizer.encode(text, add_special_tokens=False) != reference.encode(text):
            raise ConfigError(
                f"model.options.llama: the tokenizer built from {model_file} does not encode {text!r} as "
                "SentencePiece does (installed transformers/tokenizers versions?); install the pinned "
                "requirements.txt")
    return tokenizer


def text_compression_ratio(text: str) -> float:
    """openai-whisper's ``compression_ratio``: UTF-8 bytes of the window's (stripped) text over their
    zlib-compressed size (transformers' own rule uses the token ids' bytes instead)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def release_fallback_rule(decode: Callable[[list[int]], str]) -> Callable[..., tuple[bool, bool]]:
    """A replacement for transformers' ``WhisperGenerationMixin._need_fallback`` that applies
    whisper-at ``transcribe``'s rules to one decoded window:

    - fall back to the next temperature when the **text's** compression ratio exceeds
      ``compression_ratio_threshold`` or the average log-prob (EOS included) is below
      ``logprob_threshold``, but never when the no-speech probability exceeds
      ``no_speech_threshold`` (openai-whisper: "silence");
    - skip the window (no text) when the no-speech probability exceeds ``no_speech_threshold``
      and the average log-prob is not above ``logprob_threshold``.

    Bound to the ASR model by :func:`use_release_fallback_rule`."""
    from transformers.generation.logits_process import WhisperNoSpeechDetection

    def need_fallback(self: Any, seek_sequence: torch.Tensor, seek_outputs: Any, index: int,
                      logits_processor: Any, generation_config: Any, vocab_size: int,
                      temperature: float) -> tuple[bool, bool]:
        cfg = generation_config
        ids = [t for t in seek_sequence.tolist() if t != cfg.eos_token_id]
        ratio = text_compression_ratio(decode(ids).strip())
        avg_logprob = float(self._retrieve_avg_logprobs(seek_outputs[index]["scores"], seek_sequence, temperature))
        no_speech = 0.0
        for proc in logits_processor or []:
            if isinstance(proc, WhisperNoSpeechDetection):
                no_speech = float(proc.no_speech_prob[index])
        needs = ratio > cfg.compression_ratio_threshold or avg_logprob < cfg.logprob_threshold
        silent = no_speech > cfg.no_speech_threshold
        return needs and not silent, silent and not avg_logprob > cfg.logprob_threshold

    return need_fallback


def use_release_fallback_rule(asr_model: Any, decode: Callable[[list[int]], str]) -> None:
    """Bind :func:`release_fallback_rule` to ``asr_model`` (this instance only)."""
    if not callable(getattr(asr_model, "_need_fallback", None)):
        raise ConfigError("ltu-as: this transformers version's Whisper generate has no _need_fallback step; "
                          "install the pinned requirements.txt")
    asr_model._need_fallback = types.MethodType(release_fallback_rule(decode), asr_model)


def release_transcribe(asr_model: Any, feature_extractor: Any, audio: np.ndarray,
                       decode: Callable[[list[int]], str], *, sampling_rate: int = 16000,
                       max_new_tokens: int = RELEASE_ASR_MAX_NEW_TOKENS, seed: int = 0,
                       **generate_kwargs: Any) -> str:
    """One clip's transcript as whisper-at ``transcribe(file)`` makes it, through transformers'
    Whisper ``generate``: the whole clip in 30-s windows (long-form when longer), timestamp
    decoding, conditioning on the previous windows' text, temperatures 0, 0.2, …, 1.0 with the
    release's compression-ratio (2.4), log-prob (-1) and no-speech (0.6) rules
    (:func:`release_fallback_rule`, bound to ``asr_model`` beforehand by
    :func:`use_release_fallback_rule`), at most ``max_new_tokens`` (224) per window, language
    detected on the first 30 s. Fallback sampling is seeded with ``seed`` inside
    :func:`torch.random.fork_rng` (the global RNG is left as it was). Returns the decoded text
    (timestamps removed), before the release's clean-up."""
    clip = np.asarray(audio, dtype=np.float32).reshape(-1)
    long_form = clip.size > feature_extractor.n_samples
    features = feature_extractor(clip, sampling_rate=sampling_rate, return_tensors="pt", truncation=False,
                                 padding="longest" if long_form else "max_length")["input_features"]
    kwargs: dict[str, Any] = {
        "return_timestamps": True, "condition_on_prev_tokens": True,
        "temperature": RELEASE_ASR_TEMPERATURES,
        "compression_ratio_threshold": RELEASE_COMPRESSION_RATIO_THRESHOLD,
        "logprob_threshold": RELEASE_LOGPROB_THRESHOLD, "no_speech_threshold": RELEASE_NO_SPEECH_THRESHOLD,
        "max_new_tokens": int(max_new_tokens),
    }
    if getattr(asr_model.generation_config, "task_to_id", None):
        kwargs["task"] = "transcribe"
    kwargs.update(generate_kwargs)
    devices = [asr_model.device] if asr_model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.inference_mode():
        torch.manual_seed(seed)
        out = asr_model.generate(features.to(asr_model.device, asr_model.dtype), **kwargs)
    sequences = out["sequences"] if isinstance(out, dict) else getattr(out, "sequences", out)
    return decode(sequences[0].tolist())


def release_answer_text(ids: Sequence[int], decode: Callable[[list[int]], str]) -> str:
    """The release's answer text for generated ids: ``decode(sequence)[5:-4]``, then the text after
    ``### Response:\n``, stripped. The ``[:-4]`` removes ``</s>`` when the answer ends with EOS,
    and the answer's last 4 characters when it stops at ``max_new_tokens`` without EOS (kept: the
    paper's answers came from that code)."""
    ids = list(ids)
    if ids and ids[-1] == EOS_ID:
        return decode(ids[:-1]).strip()
    return decode(ids)[:-RELEASE_ANSWER_TAIL].strip()


def finish_model_dtype(model: LtuAsModel, dtype: torch.dtype) -> LtuAsModel:
    """Audio modules in ``dtype`` with their LayerNorm parameters kept in float32 (the release's
    ``convert_params_to_float32``); LoRA weights stay as peft made them (float32 adapters)."""
    model.whisper_encoder.to(dtype)
    model.audio_encoder.to(dtype)
    model.audio_proj.to(dtype)
    for module in model.audio_encoder.modules():
        if isinstance(module, FloatLayerNorm):
            module.float()
    return model


class LtuAsBackend(SFMBackend):
    """LTU-AS; see module docstring."""

    name = "ltu-as"
    sampling_rate = 16000
    options_model = LtuAsOptions

    def __init__(self, model: LtuAsModel, tokenizer: Any, feature_extractor: Any, *,
                 asr_model: Any = None, asr_feature_extractor: Any = None,
                 asr_decode: Callable[[list[int]], str] | None = None, transcript: str = "whisper",
                 asr_max_new_tokens: int = RELEASE_ASR_MAX_NEW_TOKENS,
                 sources: dict[str, str] | None = None) -> None:
        if transcript not in TRANSCRIPT_MODES:
            raise ConfigError(f"model.options.transcript {transcript!r}: expected one of {TRANSCRIPT_MODES}")
        if transcript == "whisper" and (asr_model is None or asr_decode is None):
            raise ConfigError("ltu-as: transcript 'whisper' needs a Whisper ASR model and its decoder")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.pad_token_id = PAD_ID
        self.feature_extractor = feature_extractor
        self.asr_model = None if asr_model is None else asr_model.eval()
        if transcript == "whisper":
            use_release_fallback_rule(self.asr_model, asr_decode)
        self.asr_feature_extractor = asr_feature_extractor or feature_extractor
        self.asr_decode = asr_decode
        self.transcript_mode = transcript
        #: The manifest column the runner passes as ``transcripts=`` (None: not used).
        self.manifest_transcript_column = MANIFEST_TRANSCRIPT_COLUMN if transcript == "manifest" else None
        self.asr_max_new_tokens = int(asr_max_new_tokens)
        self.sources = dict(sources or {})
        #: No limit: the transcript covers the whole clip in 30-s windows, as the release's; the
        #: audio branch itself sees the first 10 s (1,000 frames).
        self.max_audio_seconds = None
        self.llama = model.llm.get_base_model()
        self.ignored_generation_defaults = reset_generation_defaults(self.llama)
        gen = self.llama.generation_config
        gen.pad_token_id, gen.bos_token_id, gen.eos_token_id = PAD_ID, BOS_ID, EOS_ID
        self.eos_token_ids = [EOS_ID]
        self._transcripts: dict[str, str] = {}

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> LtuAsBackend:
        """``model`` section: dtype (auto = float16 on GPU, float32 on CPU), device, and
        options {whisper, whisper_asr, llama, checkpoint, transcript (whisper|none|manifest),
        asr_max_new_tokens (224)}; every path is a local file/directory (docs/ltu_as.md)."""
        from peft import LoraConfig, get_peft_model
        from transformers import (
            LlamaForCausalLM,
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperTokenizer,
        )

        options = parse_options(cls.options_model, model.get("options"))
        device = resolve_device(model.get("device"))
        dtype = resolve_dtype(model.get("dtype"), device, gpu_default=torch.float16)  # float16, as the release
        transcript = options["transcript"]
        whisper_dir = _local_path(options, "whisper", project_root, is_file=False)
        llama_dir = _local_path(options, "llama", project_root, is_file=False)
        checkpoint = _local_path(options, "checkpoint", project_root, is_file=True)
        asr_dir = (_local_path(options, "whisper_asr", project_root, is_file=False)
                   if options.get("whisper_asr") else whisper_dir)
        try:
            feature_extractor = WhisperFeatureExtractor.from_pretrained(str(whisper_dir))
            whisper = WhisperForConditionalGeneration.from_pretrained(str(whisper_dir), dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model.options.whisper: cannot load Whisper from {whisper_dir}: {exc}") from None
        asr_model = asr_fe = asr_decode = None
        if transcript == "whisper":  # before the (large) LLaMA loads: a bad ASR folder fails fast
            try:
                if asr_dir == whisper_dir:
                    asr_model, asr_fe = whisper, feature_extractor
                else:
                    asr_model = WhisperForConditionalGeneration.from_pretrained(str(asr_dir), dtype=dtype)
                    asr_fe = WhisperFeatureExtractor.from_pretrained(str(asr_dir))
                asr_tokenizer = WhisperTokenizer.from_pretrained(str(asr_dir))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"model.options.whisper_asr: cannot load Whisper from {asr_dir}: {exc}") from None
            if len(asr_tokenizer) < MIN_ASR_VOCAB:
                raise ConfigError(
                    f"model.options.whisper_asr: {asr_dir} has no usable Whisper tokenizer (it gives "
                    f"{len(asr_tokenizer)} token(s); expected vocab.json + merges.txt or tokenizer.json, "
                    "see docs/ltu_as.md); without it every transcript would be empty")
            # openai-whisper decodes without transformers' clean-up of spaces before punctuation
            asr_decode = lambda ids: asr_tokenizer.decode(  # noqa: E731
                ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            asr_model = asr_model.to(device)
        tokenizer = load_llama_tokenizer(llama_dir)
        try:
            llama = LlamaForCausalLM.from_pretrained(str(llama_dir), dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model.options.llama: cannot load LLaMA from {llama_dir}: {exc}") from None
        llm = get_peft_model(llama, LoraConfig(**LORA_SETTINGS))
        net = LtuAsModel(whisper.model.encoder, llm)
        load_release_checkpoint(net, read_checkpoint(checkpoint), checkpoint)
        net = finish_model_dtype(net, dtype).to(device)
        sources = {"whisper": str(whisper_dir), "whisper_asr": str(asr_dir), "llama": str(llama_dir),
                   "checkpoint": str(checkpoint), "checkpoint_sha256": _sha256(checkpoint)}
        return cls(net, tokenizer, feature_extractor, asr_model=asr_model, asr_feature_extractor=asr_fe,
                   asr_decode=asr_decode, transcript=transcript,
                   asr_max_new_tokens=options["asr_max_new_tokens"], sources=sources)

    # -- inputs ----------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.audio_proj[1].weight.device

    def log_mel(self, audio: np.ndarray) -> torch.Tensor:
        """``[mels, 1000]``: the release's window — log-mel of the unpadded clip (normalised on
        the clip itself), then zero-padded/cut to 1,000 frames (10 s)."""
        clip = np.asarray(audio, dtype=np.float32).reshape(-1)
        mel = self.feature_extractor(clip, sampling_rate=self.sampling_rate, padding="longest",
                                     return_tensors="pt")["input_features"][0]
        return pad_or_trim_mel(mel, MEL_WINDOW_FRAMES)

    def audio_embeddings(self, audios: Sequence[np.ndarray]) -> torch.Tensor:
        """``[B, 25, hidden]`` audio embeddings."""
        mel = torch.stack([self.log_mel(a) for a in audios]).to(self.device)
        with torch.inference_mode():
            return self.model.audio_embeddings(mel)

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Whisper transcripts by the release's rules (:func:`release_transcribe`), cleaned as the
        release does; cached per audio content. ``transcript: none`` gives empty strings (no-input
        prompt). Clips are decoded one at a time, as the release did: transformers' batched
        fallback writes its skip flags at the positions of the shrunken fallback batch, so a
        silent clip next to one that falls back could keep its text."""
        if self.transcript_mode == "none":
            return ["" for _ in audios]
        if self.transcript_mode == "manifest":
            raise DataError("model.options.transcript is 'manifest': the runner must pass the manifest's "
                            f"'{MANIFEST_TRANSCRIPT_COLUMN}' column as transcripts=")
        out = []
        for clip in audios:
            data = np.ascontiguousarray(clip, dtype=np.float32).reshape(-1)
            key = hashlib.sha1(data.tobytes()).hexdigest()
            if key not in self._transcripts:
                text = release_transcribe(self.asr_model, self.asr_feature_extractor, data, self.asr_decode,
                                          sampling_rate=self.sampling_rate,
                                          max_new_tokens=self.asr_max_new_tokens, seed=int(key[:8], 16))
                self._transcripts[key] = clean_transcript(text)
            out.append(self._transcripts[key])
        return out

    def prompt_ids(self, prompt: str, transcript: str) -> list[int]:
        """BOS + SentencePiece ids of the release's template (no EOS)."""
        text = build_prompt(prompt, transcript)
        return [BOS_ID] + list(self.tokenizer.encode(text, add_special_tokens=False))

    def _transcripts_for(self, audios: Sequence[np.ndarray], transcripts: Sequence[str] | None) -> list[str]:
        """Given transcripts (stripped; empty or missing gives the no-input prompt), else Whisper's."""
        if transcripts is None:
            return self.transcribe(audios)
        texts = ["" if t is None or t != t else str(t).strip() for t in transcripts]  # t != t: NaN
        if len(texts) != len(audios):
            raise ValueError(f"{len(texts)} transcripts for {len(audios)} audios")
        return texts

    def model_inputs(self, audios: Sequence[np.ndarray], prompt: str,
                     transcripts: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Left-padded ``input_ids`` / ``inputs_embeds`` / ``attention_mask`` for a batch."""
        transcripts = self._transcripts_for(audios, transcripts)
        audio = self.audio_embeddings(audios)
        with torch.inference_mode():
            return self.model.build_inputs(audio, [self.prompt_ids(prompt, t) for t in transcripts])

    # -- interface -------------------------------------------------------------------------------
    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings, transcripts: Sequence[str] | None = None) -> list[GenerationRecord]:
        """Batched generation with single-pass capture; ``transcripts`` (one per audio; required for
        ``transcript: manifest``: the manifest's ``transcript`` column) replace Whisper's. The text
        is the release's (:func:`release_answer_text`)."""
        inputs = self.model_inputs(audios, prompt, transcripts)
        return generate_with_capture(
            self.model.llm, inputs, tracked_ids, settings, eos_token_ids=self.eos_token_ids,
            decode=lambda ids: release_answer_text(
                ids, lambda kept: self.tokenizer.decode(kept, skip_special_tokens=True)),
            logits_module=self.llama)

    def continuation_ids(self, prefix_text: str, continuation: str) -> list[int]:
        """Ids the continuation gets *in context* (after the template's final newline a word has
        no leading '▁'), i.e. ids(prefix + continuation) minus ids(prefix)."""
        head = self.tokenizer.encode(prefix_text, add_special_tokens=False)
        full = self.tokenizer.encode(prefix_text + continuation, add_special_tokens=False)
        if full[:len(head)] != head:
            return list(self.tokenizer.encode(continuation, add_special_tokens=False))
        return list(full[len(head):])

    def score(self, audio: np.ndarray, prompt: str, continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probs of each continuation after audio + template (incl. 'Response:')."""
        return self.score_batch([audio], prompt, continuations)[0]

    def score_batch(self, audios: Sequence[np.ndarray], prompt: str, continuations: Sequence[str],
                    transcripts: Sequence[str] | None = None) -> list[list[np.ndarray]]:
        """:meth:`score` for a left-padded batch (batched Whisper transcripts, one prefix pass, one
        pass for every utterance x multi-token continuation); each utterance's continuations are
        tokenised in its own context (:meth:`continuation_ids`). ``transcripts`` (optional) replace
        the Whisper transcripts, as in :meth:`generate`."""
        transcripts = self._transcripts_for(audios, transcripts)
        inputs = self.model_inputs(audios, prompt, transcripts)
        prefix = {"inputs_embeds": inputs["inputs_embeds"], "attention_mask": inputs["attention_mask"]}
        ids = [[self.continuation_ids(build_prompt(prompt, t), c) for c in continuations] for t in transcripts]
        return score_continuations_batch(self.model.llm, prefix, ids)

    def manifest_inputs(self) -> dict[str, str]:
        """``transcript: manifest``: the manifest's transcripts replace Whisper's (``transcripts=``)."""
        return {"transcripts": self.manifest_transcript_column} if self.manifest_transcript_column else {}

    def provenance(self) -> dict[str, Any]:
        """Paths (+ checkpoint sha256), dtype, device, transcript source, versions."""
        return {
            "backend": self.name,
            **self.sources,
            "dtype": str(self.model.audio_proj[1].weight.dtype).replace("torch.", ""),
            "device": str(self.device),
            "transcript": self.transcript_mode,
            "transcript_column": self.manifest_transcript_column,
            "asr_decoding": None if self.transcript_mode != "whisper" else {
                "rules": "whisper-at transcribe", "temperatures": list(RELEASE_ASR_TEMPERATURES),
                "compression_ratio_threshold": RELEASE_COMPRESSION_RATIO_THRESHOLD,
                "logprob_threshold": RELEASE_LOGPROB_THRESHOLD,
                "no_speech_threshold": RELEASE_NO_SPEECH_THRESHOLD,
                "max_new_tokens_per_window": self.asr_max_new_tokens, "timestamps": True,
                "condition_on_previous_text": True},
            "answer_text": f"release: last {RELEASE_ANSWER_TAIL} characters cut when no EOS",
            "audio_window_seconds": MEL_WINDOW_FRAMES / 100.0,
            "max_audio_seconds": self.max_audio_seconds,
            "lora": dict(LORA_SETTINGS),
            "special_ids": {"pad": PAD_ID, "bos": BOS_ID, "eos": EOS_ID},
            "ignored_checkpoint_generation_defaults": self.ignored_generation_defaults,
            "transformers": importlib.metadata.version("transformers"),
            "peft": importlib.metadata.version("peft"),
            "torch": torch.__version__,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
