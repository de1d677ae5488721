"""The ``sampling`` method (beyond the paper): N answers sampled per utterance.

Test-time sampling as a way to get a distribution: the prompt is answered N times with sampling
(``pipeline.sampling``: ``n``, default 10, ``temperature`` 1.0, ``top_p``, ``top_k``, ``seed``), each
answer is read by the prompt's text parser (sec. 3.4.1) and the parsed answers are averaged
(:func:`emologits.extract.sampling.sampling_distributions`, which can also use only the first k).

One record per utterance holds all N texts (``texts``) and the seed they were drawn with
(``sample_seed``); ``seconds`` is the model time of all N. The N samples of an utterance are one
``generate`` call on N copies of its audio, seeded with :func:`utterance_seed` (the base seed and
the utterance id), so they do not depend on the batch, the shard or a restart: a resumed run
samples the same answers (on the same device and software).
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emologits.emotions import EmotionSet
from emologits.inference.batch import run_batch
from emologits.inference.methods import Method, _schema, token_ids_for
from emologits.prompts import Prompt
from emologits.sfm.base import GenerationSettings, SFMBackend

if TYPE_CHECKING:
    from emologits.config import Config


def utterance_seed(base_seed: int, utt_id: str) -> int:
    """The seed of one utterance's samples: a 32-bit hash of the base seed and the utterance id
    (the same in every process and run)."""
    return zlib.crc32(f"{int(base_seed)}:{utt_id}".encode())


def sampling_settings(settings: GenerationSettings, sampling: Mapping[str, Any]) -> GenerationSettings:
    """The decoding settings of the samples: the config's ``generation`` (``max_new_tokens``,
    ``repetition_penalty``) with sampling on at ``pipeline.sampling``'s temperature, ``top_p`` and
    ``top_k``; the seed is set per utterance."""
    return settings.model_copy(update={"do_sample": True, "temperature": float(sampling["temperature"]),
                                       "top_p": sampling.get("top_p"), "top_k": sampling.get("top_k"),
                                       "seed": None})


class SamplingMethod(Method):
    """N sampled answers per utterance, stored in one record (see the module docstring)."""

    name = "sampling"
    subdir = "sampling"
    fingerprint_keys = ("generation", "sampling")

    def __init__(self, backend: SFMBackend, prompt: Prompt, emotion_set: EmotionSet | None = None,
                 settings: GenerationSettings | None = None, sampling: Mapping[str, Any] | None = None) -> None:
        from emologits.config import SamplingSection

        super().__init__(backend, prompt, emotion_set, settings)
        self.sampling = SamplingSection(**dict(sampling or {})).model_dump()
        self.sample_settings = sampling_settings(self.settings, self.sampling)
        # the capture needs tracked ids; the samples' logits are not kept
        _, self.tracked_ids = token_ids_for(self.backend.tokenizer, self.emotion_set)

    @classmethod
    def from_config(cls, cfg: Config, backend: SFMBackend, prompt: Prompt,
                    emotion_set: EmotionSet | None) -> SamplingMethod:
        return cls(backend, prompt, emotion_set, GenerationSettings.from_config(cfg.generation),
                   sampling=cfg.pipeline["sampling"])

    def provenance(self) -> dict[str, Any]:
        return {"tracked_ids": [], "class_token_ids": {}, "tracked_tokens": [],
                "generation": self.sample_settings.as_dict(), "continuations": None, "sampling": self.sampling}

    def schema(self) -> Any:
        import pyarrow as pa

        return _schema([("texts", pa.list_(pa.string())), ("sample_seed", pa.int64())])

    def _sample(self, audios: Sequence[Any], sample_seed: Sequence[int], **inputs: Sequence[Any]) -> list[list[str]]:
        """Per audio, N texts from one seeded ``generate`` call on N copies of it."""
        n = int(self.sampling["n"])
        out = []
        for i, (audio, seed) in enumerate(zip(audios, sample_seed)):
            settings = self.sample_settings.model_copy(update={"seed": int(seed)})
            kw = {name: [values[i]] * n for name, values in inputs.items()}
            records = self.backend.generate([audio] * n, self.prompt.text, self.tracked_ids, settings, **kw)
            if len(records) != n:
                raise RuntimeError(f"the back-end returned {len(records)} sample(s) for {n} copies of one utterance")
            out.append([str(r.text) for r in records])
        return out

    def run_batch(self, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None], too_long: str,
                  inputs: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        seeds = [utterance_seed(self.sampling["seed"], u) for u in utt_ids]
        records, succeeded = run_batch(self.backend, utt_ids, audio_paths, too_long, self._sample,
                                       {**(inputs or {}), "sample_seed": seeds})
        for row, texts in succeeded:
            row.update(texts=texts)
        for row, seed in zip(records, seeds):
            row["sample_seed"] = seed
        return records


__all__ = ["SamplingMethod", "sampling_settings", "utterance_seed"]
