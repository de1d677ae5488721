"""The ``contextual`` method (beyond the paper): class scores of content-free inputs, for contextual
calibration ("Calibrate Before Use", Zhao et al. 2021).

A model's answer carries a bias of its own: what it says about an input with no content at all.
This method asks each prompt about a handful of content-free audio inputs (``pipeline.contextual``):
digital silence (``silence``) and ``noise_draws`` low-level Gaussian noises (``noise-0``, ...; RMS
``noise_rms``, each its own seeded draw), each ``seconds`` long (at most the model's window). Per
input it keeps what ``generate`` keeps (text and the emotion-word token logits at every step, sec.
3.4.2) and what ``likelihood`` keeps (the class answers' log-probs), in one record per input, so
:mod:`emologits.extract.contextual` can divide every utterance's distribution by the content-free
one. The inputs are made in memory (never files; silence is refused as a file by the audio loader).
Cost: a few model calls per prompt, whatever the corpus size (``seconds`` per input in the records).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emologits.emotions import EmotionSet
from emologits.extract.likelihood import answer_continuations
from emologits.inference.methods import (GenerateMethod, LikelihoodMethod, Method, generate_batch, likelihood_batch,
                                         token_ids_for)
from emologits.prompts import Prompt
from emologits.sfm.base import GenerationSettings, SFMBackend

if TYPE_CHECKING:
    from emologits.config import Config

#: Id of the silent content-free input; the noise inputs are ``noise-<k>``.
SILENCE = "silence"


def content_free_ids(noise_draws: int) -> list[str]:
    """The content-free inputs' ids: ``silence``, then ``noise-0`` .. ``noise-<noise_draws - 1>``."""
    return [SILENCE, *(f"noise-{k}" for k in range(int(noise_draws)))]


def content_free_audio(input_id: str, sampling_rate: int, *, seconds: float, noise_rms: float, seed: int,
                       max_seconds: float | None = None) -> np.ndarray:
    """The audio of one content-free input at ``sampling_rate`` (float32, ``seconds`` long, at most
    ``max_seconds``): zeros for ``silence``; for ``noise-<k>``, Gaussian noise of RMS ``noise_rms``
    drawn with the generator seeded by (``seed``, k)."""
    length = float(seconds) if max_seconds is None else min(float(seconds), float(max_seconds))
    n = max(1, int(round(length * sampling_rate)))
    if input_id == SILENCE:
        return np.zeros(n, dtype=np.float32)
    prefix, _, k = input_id.partition("-")
    if prefix != "noise" or not k.isdigit():
        raise ValueError(f"unknown content-free input {input_id!r}; expected {SILENCE!r} or 'noise-<k>'")
    rng = np.random.default_rng([int(seed), int(k)])
    return (rng.standard_normal(n) * float(noise_rms)).astype(np.float32)


class ContextualMethod(Method):
    """Generate and likelihood records of the content-free inputs (see the module docstring)."""

    name = "contextual"
    subdir = "contextual"
    fingerprint_keys = ("tracked_ids", "generation", "continuations", "contextual")

    def __init__(self, backend: SFMBackend, prompt: Prompt, emotion_set: EmotionSet | None = None,
                 settings: GenerationSettings | None = None, contextual: Mapping[str, Any] | None = None) -> None:
        from emologits.config import ContextualSection

        super().__init__(backend, prompt, emotion_set, settings)
        self.contextual = ContextualSection(**dict(contextual or {})).model_dump()
        self.class_ids, self.tracked_ids = token_ids_for(self.backend.tokenizer, self.emotion_set)
        self.continuations = answer_continuations(self.prompt.kind, self.emotion_set)

    @classmethod
    def from_config(cls, cfg: Config, backend: SFMBackend, prompt: Prompt,
                    emotion_set: EmotionSet | None) -> ContextualMethod:
        return cls(backend, prompt, emotion_set, GenerationSettings.from_config(cfg.generation),
                   contextual=cfg.pipeline["contextual"])

    def own_inputs(self) -> list[str]:
        return content_free_ids(self.contextual["noise_draws"])

    def audio(self, input_id: str) -> np.ndarray:
        """The content-free input ``input_id`` at the back-end's rate."""
        c = self.contextual
        return content_free_audio(input_id, self.backend.sampling_rate, seconds=c["seconds"], noise_rms=c["noise_rms"],
                                  seed=c["seed"], max_seconds=getattr(self.backend, "max_audio_seconds", None))

    def provenance(self) -> dict[str, Any]:
        return {**GenerateMethod.provenance(self), "continuations": self.continuations, "contextual": self.contextual}

    def schema(self) -> Any:
        import pyarrow as pa

        generate = GenerateMethod.schema(self)
        likelihood = LikelihoodMethod.schema(self)
        fields = list(generate)
        at = generate.get_field_index("seconds")
        extra = [f for f in likelihood if f.name.startswith(("logprob_", "n_tokens_"))]
        return pa.schema(fields[:at] + extra + fields[at:])

    def run_batch(self, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None], too_long: str,
                  inputs: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        audios = [self.audio(u) for u in utt_ids]
        generated = generate_batch(self.backend, utt_ids, audios, self.prompt, self.tracked_ids, self.settings,
                                   too_long=too_long, inputs=inputs)
        scored = likelihood_batch(self.backend, utt_ids, audios, self.prompt, self.continuations,
                                  too_long=too_long, inputs=inputs)
        records = []
        for gen, lik in zip(generated, scored):
            row = {**gen, **{k: v for k, v in lik.items() if k.startswith(("logprob_", "n_tokens_"))}}
            row["seconds"] = float(gen.get("seconds") or 0.0) + float(lik.get("seconds") or 0.0)
            if gen["status"] == "ok" and lik["status"] != "ok":
                row.update(status=lik["status"], error=lik["error"], error_message=lik.get("error_message"))
            records.append(row)
        return records


__all__ = ["SILENCE", "ContextualMethod", "content_free_audio", "content_free_ids"]
