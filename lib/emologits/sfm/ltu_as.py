"""``ltu-as`` back-end: the paper's speech foundation model (sec. 4.2) on current transformers + peft.

Loads the **released** LTU-AS files (issue 7; see docs/ltu_as.md for what to download):

- ``model.options.whisper``: a transformers Whisper directory for the audio features (the release
  used OpenAI's ``large-v1``; transformers' ``openai/whisper-large``);
- ``model.options.whisper_asr``: a Whisper directory for the transcript (the release used
  ``large-v2`` through whisper-at; default: the same as ``whisper``);
- ``model.options.llama``: the LLaMA/Vicuna base directory (the release's ``vicuna_ltuas``);
- ``model.options.checkpoint``: the LTU-AS checkpoint file (``ltuas_long_noqa_a6.bin``), loaded
  strictly (:func:`emologits.sfm.ltu_as_modules.load_release_checkpoint`).

Per utterance: transcript = Whisper decoder's text (cleaned as the release does); prompt =
``### Instruction:\\n{prompt}\\n\\n### Input:\\n{transcript}\\n\\n### Response:\\n`` with BOS; LLM input =
``[left pads][25 audio embeddings][prompt tokens]``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from emologits.errors import ConfigError
from emologits.sfm.base import BackendOptions, GenerationRecord, GenerationSettings, SFMBackend
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

TRANSCRIPT_MODES = ("whisper", "none")


class LtuAsOptions(BackendOptions):
    """``model.options`` of the ltu-as back-end (paths: absolute, or relative to the project root;
    the three weights are required when the model loads, see docs/ltu_as.md)."""

    whisper: str | None = None
    whisper_asr: str | None = None  # default: the ``whisper`` folder
    llama: str | None = None
    checkpoint: str | None = None
    transcript: Literal[TRANSCRIPT_MODES] = "whisper"  # type: ignore[valid-type]
    asr_max_new_tokens: Annotated[int, Field(ge=1)] = 128


#: model.options keys this back-end reads.
OPTION_KEYS = tuple(LtuAsOptions.model_fields)
#: Fewer tokens than a byte-level BPE's base alphabet: no tokenizer files were found (transformers
#: then builds a tokenizer holding only its special tokens, and every transcript decodes empty).
MIN_ASR_VOCAB = 256


def _local_path(options: dict[str, Any], key: str, project_root: Any, *, is_file: bool) -> Path:
    value = options.get(key)
    if not value:
        raise ConfigError(f"model.options.{key} is required for the ltu-as back-end (see docs/ltu_as.md)")
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and project_root is not None:
        path = Path(project_root) / path
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
                 asr_max_new_tokens: int = 128, sources: dict[str, str] | None = None) -> None:
        if transcript not in TRANSCRIPT_MODES:
            raise ConfigError(f"model.options.transcript {transcript!r}: expected one of {TRANSCRIPT_MODES}")
        if transcript == "whisper" and (asr_model is None or asr_decode is None):
            raise ConfigError("ltu-as: transcript 'whisper' needs a Whisper ASR model and its decoder")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.pad_token_id = PAD_ID
        self.feature_extractor = feature_extractor
        self.asr_model = None if asr_model is None else asr_model.eval()
        self.asr_feature_extractor = asr_feature_extractor or feature_extractor
        self.asr_decode = asr_decode
        self.transcript_mode = transcript
        self.asr_max_new_tokens = int(asr_max_new_tokens)
        self.sources = dict(sources or {})
        #: Whisper's decoder window; the audio branch itself sees the first 10 s (1,000 frames).
        self.max_audio_seconds = float(self.asr_feature_extractor.n_samples) / self.sampling_rate
        self.llama = model.llm.get_base_model()
        self.ignored_generation_defaults = reset_generation_defaults(self.llama)
        gen = self.llama.generation_config
        gen.pad_token_id, gen.bos_token_id, gen.eos_token_id = PAD_ID, BOS_ID, EOS_ID
        self.eos_token_ids = [EOS_ID]
        self._transcripts: dict[str, str] = {}

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> "LtuAsBackend":
        """``model`` section: dtype (auto = float16 on GPU, float32 on CPU), device, and
        options {whisper, whisper_asr, llama, checkpoint, transcript (whisper|none),
        asr_max_new_tokens}; every path is a local file/directory (docs/ltu_as.md)."""
        from peft import LoraConfig, get_peft_model
        from transformers import (
            AutoTokenizer,
            LlamaForCausalLM,
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperTokenizer,
        )

        options = cls.options_from_config(model.get("options"))
        device = resolve_device(model.get("device"))
        dtype = resolve_dtype(model.get("dtype"), device, gpu_default=torch.float16)  # float16, as the release
        transcript = options.get("transcript", "whisper")
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
            asr_decode = lambda ids: asr_tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
            asr_model = asr_model.to(device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(llama_dir))
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
                   asr_max_new_tokens=int(options.get("asr_max_new_tokens", 128)), sources=sources)

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
        """Whisper decoder transcripts (greedy, language detected), cleaned as the release does;
        cached per audio content. ``transcript: none`` gives empty strings (no-input prompt)."""
        if self.transcript_mode == "none":
            return ["" for _ in audios]
        keys = [hashlib.sha1(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest() for a in audios]
        todo = [i for i, k in enumerate(keys) if k not in self._transcripts]
        if todo:
            n_max = int(self.max_audio_seconds * self.sampling_rate)
            clips = [np.asarray(audios[i], dtype=np.float32).reshape(-1)[:n_max] for i in todo]
            feats = self.asr_feature_extractor(clips, sampling_rate=self.sampling_rate,
                                               return_tensors="pt")["input_features"]
            asr = self.asr_model
            kwargs: dict[str, Any] = {"max_new_tokens": self.asr_max_new_tokens, "do_sample": False}
            if getattr(asr.generation_config, "task_to_id", None):
                kwargs["task"] = "transcribe"
            with torch.inference_mode():
                out = asr.generate(feats.to(asr.device, asr.dtype), **kwargs)
            sequences = out.sequences if hasattr(out, "sequences") else out
            for row, i in enumerate(todo):
                self._transcripts[keys[i]] = clean_transcript(self.asr_decode(sequences[row].tolist()))
        return [self._transcripts[k] for k in keys]

    def prompt_ids(self, prompt: str, transcript: str) -> list[int]:
        """BOS + SentencePiece ids of the release's template (no EOS)."""
        text = build_prompt(prompt, transcript)
        return [BOS_ID] + list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def model_inputs(self, audios: Sequence[np.ndarray], prompt: str,
                     transcripts: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Left-padded ``input_ids`` / ``inputs_embeds`` / ``attention_mask`` for a batch."""
        transcripts = self.transcribe(audios) if transcripts is None else list(transcripts)
        if len(transcripts) != len(audios):
            raise ValueError(f"{len(transcripts)} transcripts for {len(audios)} audios")
        audio = self.audio_embeddings(audios)
        with torch.inference_mode():
            return self.model.build_inputs(audio, [self.prompt_ids(prompt, t) for t in transcripts])

    # -- interface -------------------------------------------------------------------------------
    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings, transcripts: Sequence[str] | None = None) -> list[GenerationRecord]:
        """Batched generation with single-pass capture; ``transcripts`` (optional) replace the
        Whisper transcripts (e.g. manifest-provided text)."""
        inputs = self.model_inputs(audios, prompt, transcripts)
        return generate_with_capture(
            self.model.llm, inputs, tracked_ids, settings, eos_token_ids=self.eos_token_ids,
            decode=lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True).strip(),
            logits_module=self.llama)

    def continuation_ids(self, prefix_text: str, continuation: str) -> list[int]:
        """Ids the continuation gets *in context* (after the template's final newline a word has
        no leading '▁'), i.e. ids(prefix + continuation) minus ids(prefix)."""
        head = self.tokenizer(prefix_text, add_special_tokens=False)["input_ids"]
        full = self.tokenizer(prefix_text + continuation, add_special_tokens=False)["input_ids"]
        if full[:len(head)] != head:
            return list(self.tokenizer(continuation, add_special_tokens=False)["input_ids"])
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
        transcripts = self.transcribe(audios) if transcripts is None else list(transcripts)
        inputs = self.model_inputs(audios, prompt, transcripts)
        prefix = {"inputs_embeds": inputs["inputs_embeds"], "attention_mask": inputs["attention_mask"]}
        ids = [[self.continuation_ids(build_prompt(prompt, t), c) for c in continuations] for t in transcripts]
        return score_continuations_batch(self.model.llm, prefix, ids)

    def provenance(self) -> dict[str, Any]:
        """Paths (+ checkpoint sha256), dtype, device, transcript source, versions."""
        return {
            "backend": self.name,
            **self.sources,
            "dtype": str(self.model.audio_proj[1].weight.dtype).replace("torch.", ""),
            "device": str(self.device),
            "transcript": self.transcript_mode,
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
