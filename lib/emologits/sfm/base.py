"""The back-end interface every speech foundation model (SFM) implements (paper sec. 3.2, Fig. 2).

A back-end turns (audio, prompt) into generated text plus, from the **same** generation pass,
the raw logits of a fixed set of tracked token ids at every generated step (sec. 3.4.2) and the
step's full-vocabulary log-sum-exp. It can also score given continuations (label likelihood).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from emologits.errors import ConfigError
from emologits.schema import Loc, StrictModel, format_problems, validate

#: Named generation presets. ``greedy`` is the deterministic default; ``ltu_as_release`` is the
#: sampling set-up of the LTU-AS release (docs/ltu_as.md).
GENERATION_PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {"do_sample": False, "max_new_tokens": 64},
    "ltu_as_release": {"do_sample": True, "temperature": 0.1, "top_p": 0.95, "top_k": 500,
                       "repetition_penalty": 1.1, "max_new_tokens": 64, "seed": 0},
}

_BEAMS = ("not supported: beam search keeps several candidate rows per input and reorders them between steps, while the "
          "single-pass capture (sec. 3.4.2) reads one row per sequence per step: it would record the wrong "
          "rows. Decoding here is greedy or sampling")
_ASSISTED = ("not supported: assisted / prompt-lookup decoding checks several draft tokens in one forward pass, while the "
             "single-pass capture (sec. 3.4.2) records one forward pass per generated token")
_COMPILE = ("not supported: compile and cache settings change how the model's forward runs, and the "
            "single-pass capture hooks every eager forward call of the model")
#: Decoding keys ``model.generate`` knows but the single-pass capture cannot follow, with the reason
#: a config naming one is refused.
REFUSED_GENERATION_KEYS: dict[str, str] = {
    **dict.fromkeys(("num_beams", "num_beam_groups", "diversity_penalty", "length_penalty",
                     "early_stopping", "constraints", "force_words_ids"), _BEAMS),
    "num_return_sequences": ("not supported: one generation per utterance: the capture and the records hold exactly "
                             "one sequence per input row"),
    **dict.fromkeys(("assistant_model", "assistant_tokenizer", "prompt_lookup_num_tokens",
                     "num_assistant_tokens", "num_assistant_tokens_schedule", "assistant_confidence_threshold",
                     "assistant_early_exit", "assistant_lookbehind", "target_lookbehind",
                     "max_matching_ngram_size"), _ASSISTED),
    **dict.fromkeys(("penalty_alpha", "low_memory"),
                    "not supported: contrastive search scores several candidate tokens per step in extra forward passes, "
                    "which the single-pass capture (one forward pass per generated token) cannot follow"),
    **dict.fromkeys(("compile_config", "cache_implementation", "cache_config", "disable_compile"), _COMPILE),
}


class GenerationSettings(StrictModel):
    """Decoding settings (the config's ``generation`` section); recorded verbatim in every run's
    provenance. ``preset`` fills every field the section does not set (:data:`GENERATION_PRESETS`).
    Only what the single-pass capture supports is accepted (:data:`REFUSED_GENERATION_KEYS`)."""

    model_config = ConfigDict(frozen=True)
    refused_keys: ClassVar[dict[str, str]] = REFUSED_GENERATION_KEYS

    preset: Literal[tuple(GENERATION_PRESETS)] = "greedy"  # type: ignore[valid-type]
    max_new_tokens: Annotated[int, Field(ge=1)] = 64
    do_sample: bool = False
    temperature: Annotated[float, Field(gt=0)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=1)] | None = None
    repetition_penalty: Annotated[float, Field(gt=0)] | None = None
    #: Seeds torch right before ``generate`` (sampling presets); None: not seeded.
    seed: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            preset = data.get("preset", "greedy")
            if isinstance(preset, str) and preset in GENERATION_PRESETS:
                return {**GENERATION_PRESETS[preset], **data}
        return data

    @classmethod
    def from_config(cls, generation: Mapping[str, Any] | None) -> GenerationSettings:
        """``generation`` section of a config: ``preset`` plus any field to override; ConfigError
        naming ``generation.<key>`` for anything else."""
        settings, problems = validate(cls, generation, ("generation",))
        if problems:
            raise ConfigError(format_problems(problems))
        return settings

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``model.generate`` (no ``seed``: set it with torch.manual_seed)."""
        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            for name in ("temperature", "top_p", "top_k"):
                if getattr(self, name) is not None:
                    kw[name] = getattr(self, name)
        if self.repetition_penalty is not None:
            kw["repetition_penalty"] = self.repetition_penalty
        return kw

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


class BackendOptions(StrictModel):
    """Base of a back-end's ``model.options`` schema (:attr:`SFMBackend.options_model`)."""

    refused_keys: ClassVar[dict[str, str]] = {
        "seed": "unknown key: the sampling seed belongs in generation: use generation.seed"}


def check_options(options_model: type[BaseModel] | None, options: Any,
                  ) -> tuple[dict[str, Any] | None, list[tuple[Loc, str]]]:
    """``model.options`` validated against ``options_model`` (every default filled) and the problems
    found, located under ``model.options``; ``options_model`` None accepts any mapping as it is."""
    if options_model is None:
        if options is None or isinstance(options, Mapping):
            return dict(options or {}), []
        return None, [(("model", "options"), f"must be a mapping (got {options!r})")]
    value, problems = validate(options_model, options, ("model", "options"))
    return (None if value is None else value.model_dump()), problems


def parse_options(options_model: type[BaseModel] | None, options: Any) -> dict[str, Any]:
    """:func:`check_options`, raising one ConfigError that lists every problem."""
    value, problems = check_options(options_model, options)
    if problems:
        raise ConfigError(format_problems(problems))
    return value


@dataclass
class GenerationRecord:
    """One utterance's generation: text and per-step captures (J generated steps, T tracked ids).

    ``tracked_logits[j, t]`` is the **raw** (unprocessed) logit of ``tracked_ids[t]`` at step j;
    ``logsumexp[j]`` is log Σ_v exp(raw logit_v) over the full vocabulary at step j, so
    ``exp(tracked_logits - logsumexp[:, None])`` are full-softmax probabilities.
    J stops at (and includes) the first end-of-sequence token.
    """

    text: str
    generated_token_ids: np.ndarray  # (J,) int64
    tracked_logits: np.ndarray  # (J, T) float32
    logsumexp: np.ndarray  # (J,) float32


class SFMBackend(ABC):
    """A speech foundation model behind one small interface. See module docstring."""

    #: Registry name (``model.backend`` in configs).
    name: ClassVar[str]
    #: Audio sampling rate the model expects; the runner resamples to it.
    sampling_rate: ClassVar[int] = 16000
    #: Schema of ``model.options`` (a :class:`BackendOptions` subclass), checked when the config
    #: loads. None (a user back-end that declares none) accepts any mapping, passed on as it is.
    options_model: ClassVar[type[BaseModel] | None] = None

    #: The LLM's tokenizer (used for the verbalizer's token ids).
    tokenizer: Any
    #: Longest audio (seconds) the model's window takes; the runner's policy for longer audio
    #: is documented in the README (truncate to the window and record it).
    max_audio_seconds: float

    @classmethod
    @abstractmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> SFMBackend:
        """Load from a config's ``model`` section (weights from a hub id or a local path)."""

    @abstractmethod
    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings) -> list[GenerationRecord]:
        """Generate for a batch (left padding) with the model's processor and chat template."""

    @abstractmethod
    def score(self, audio: np.ndarray, prompt: str, continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probabilities of each continuation after audio + prompt + the chat
        template's answer prefix (one shared prefix pass, continuations batched)."""

    def score_batch(self, audios: Sequence[np.ndarray], prompt: str,
                    continuations: Sequence[str]) -> list[list[np.ndarray]]:
        """:meth:`score` for a batch of utterances: per utterance, per continuation, the per-token
        log-probabilities. This default calls :meth:`score` once per utterance; back-ends override
        it with a batched pass (left-padded prefixes, then every utterance x continuation pair)."""
        return [self.score(audio, prompt, continuations) for audio in audios]

    def manifest_inputs(self) -> dict[str, str]:
        """Keyword argument of :meth:`generate` / :meth:`score_batch` -> the manifest column whose
        values (one per utterance) the runner passes with it (e.g. transcripts). Default: none."""
        return {}

    def provenance(self) -> dict[str, Any]:
        """Model id/path, revision, dtype, device… saved with each run."""
        return {"backend": self.name}
