"""The back-end interface every speech foundation model (SFM) implements (paper sec. 3.2, Fig. 2).

A back-end turns (audio, prompt) into generated text plus, from the **same** generation pass,
the raw logits of a fixed set of tracked token ids at every generated step (sec. 3.4.2) and the
step's full-vocabulary log-sum-exp. It can also score given continuations (label likelihood).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from emologits.errors import ConfigError

#: Named generation presets. ``greedy`` is the deterministic default; ``ltu_as_release`` is the
#: sampling set-up of the LTU-AS release (issue 7).
GENERATION_PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {"do_sample": False, "max_new_tokens": 64},
    "ltu_as_release": {"do_sample": True, "temperature": 0.1, "top_p": 0.95, "top_k": 500,
                       "repetition_penalty": 1.1, "max_new_tokens": 64, "seed": 0},
}


def unknown_options_error(backend: str, unknown: Sequence[str], known: Sequence[str]) -> ConfigError:
    """The error for ``model.options`` keys a back-end does not read; a ``seed`` there is pointed to
    ``generation.seed`` (the sampling seed, recorded with the run's generation settings)."""
    hint = "; the sampling seed belongs in generation: use generation.seed" if "seed" in unknown else ""
    return ConfigError(f"model.options for {backend}: unknown keys {sorted(unknown)}; "
                       f"known: {sorted(known)}{hint}")


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; recorded verbatim in every run's provenance."""

    preset: str = "greedy"
    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, generation: dict[str, Any] | None) -> "GenerationSettings":
        """``generation`` section of a config: ``preset`` plus any field to override."""
        generation = dict(generation or {})
        preset = generation.pop("preset", "greedy")
        if preset not in GENERATION_PRESETS:
            raise ConfigError(f"unknown generation preset {preset!r}; known: {sorted(GENERATION_PRESETS)}")
        values = {**GENERATION_PRESETS[preset], **generation}
        known = {f for f in cls.__dataclass_fields__ if f not in ("preset", "extra")}
        extra = {k: values.pop(k) for k in list(values) if k not in known}
        return cls(preset=preset, extra=extra, **values)

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``model.generate`` (no ``seed``: set it with torch.manual_seed)."""
        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            for name in ("temperature", "top_p", "top_k"):
                if getattr(self, name) is not None:
                    kw[name] = getattr(self, name)
        if self.repetition_penalty is not None:
            kw["repetition_penalty"] = self.repetition_penalty
        kw.update(self.extra)
        return kw

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    #: The LLM's tokenizer (used for the verbalizer's token ids).
    tokenizer: Any
    #: Longest audio (seconds) the model's window takes; the runner's policy for longer audio
    #: is documented in the README (truncate to the window and record it).
    max_audio_seconds: float

    @classmethod
    @abstractmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> "SFMBackend":
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

    def provenance(self) -> dict[str, Any]:
        """Model id/path, revision, dtype, device… saved with each run."""
        return {"backend": self.name}
