"""Methods: what the runner computes per batch (one registered class each, no branches in the runner).

- ``generate`` (paper sec. 3.4): one generation pass per utterance keeps the text (text level,
  sec. 3.4.1) and, at every generated step, the raw logits of the emotion words' subword tokens plus
  the step's full-vocabulary log-sum-exp (token level, sec. 3.4.2);
- ``likelihood`` (beyond the paper): the log-probability of each class's verbalised answer;
- ``sampling`` (beyond the paper; :mod:`.sampling`): N sampled answers per utterance;
- ``contextual`` (beyond the paper; :mod:`.contextual`): both kinds of class scores on content-free
  inputs, for contextual calibration.

A method is built per run (back-end, prompt, emotion set, generation settings), says what goes into
``run.json`` (:meth:`Method.provenance`; :attr:`Method.fingerprint_keys` of it must match for a
resumed run), the Parquet schema of its records, and turns one batch into records.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from emologits.emotions import EmotionSet, get_emotion_set
from emologits.extract.likelihood import answer_continuations, score_columns
from emologits.inference.batch import NONFINITE, run_batch
from emologits.prompts import Prompt
from emologits.registry import Registry
from emologits.sfm.base import GenerationSettings, SFMBackend

if TYPE_CHECKING:
    from emologits.config import Config

#: Columns every generation record has, then the extras the runner adds to every record.
RECORD_COLUMNS: tuple[str, ...] = ("utt_id", "status", "error", "text", "generated_token_ids",
                                   "tracked_logits", "logsumexp", "seconds")
EXTRA_COLUMNS: tuple[str, ...] = ("error_message", "truncated", "audio_seconds")


def _schema(body: list[tuple[str, Any]]) -> Any:
    import pyarrow as pa

    common = [("utt_id", pa.string()), ("status", pa.string()), ("error", pa.string())]
    tail = [("seconds", pa.float64()), ("error_message", pa.string()), ("truncated", pa.bool_()),
            ("audio_seconds", pa.float64())]
    return pa.schema(common + body + tail)


class Method(ABC):
    """One way of turning a batch of audio into records (see the module docstring)."""

    #: Registry name (``--method``).
    name: ClassVar[str]
    #: Folder under ``runs/<run>/`` holding one sub-folder per prompt.
    subdir: ClassVar[str]
    #: Keys of :meth:`provenance` that must match for a restarted run to reuse existing records.
    fingerprint_keys: ClassVar[tuple[str, ...]]

    def __init__(self, backend: SFMBackend, prompt: Prompt, emotion_set: EmotionSet | None = None,
                 settings: GenerationSettings | None = None) -> None:
        self.backend = backend
        self.prompt = prompt
        self.emotion_set = get_emotion_set(emotion_set)
        self.settings = settings or GenerationSettings()

    @classmethod
    def from_config(cls, cfg: Config, backend: SFMBackend, prompt: Prompt, emotion_set: EmotionSet | None) -> Method:
        """The method for a run of ``cfg`` (how the runner builds it): this default passes the
        config's ``generation`` settings; a method with its own config section reads it here."""
        return cls(backend, prompt, emotion_set, GenerationSettings.from_config(cfg.generation))

    def own_inputs(self) -> list[str] | None:
        """Ids of the inputs this method computes instead of the manifest's utterances (the
        runner gives them to :meth:`run_batch` with ``audio_paths`` None; ``--limit`` does not
        apply); None (the default): the manifest's utterances."""
        return None

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What this method adds to ``run.json``."""

    @abstractmethod
    def schema(self) -> Any:
        """The pyarrow schema of its records."""

    @abstractmethod
    def run_batch(self, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None], too_long: str,
                  inputs: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        """One record per utterance, in order; failures are records with a reason. ``inputs``:
        per-utterance keyword arguments for the back-end, from the manifest."""


def token_ids_for(tokenizer: Any, emotion_set: EmotionSet | None = None,
                  ) -> tuple[dict[str, list[list[int]]], list[int]]:
    """The verbalizer's per-class token ids (:func:`emologits.verbalizer.class_token_ids`) for an
    emotion set, and the sorted union of all of them: the T ids captured per generated step
    (sec. 3.4.2)."""
    from emologits.verbalizer import class_token_ids, union_token_ids

    class_ids = class_token_ids(tokenizer, get_emotion_set(emotion_set))
    return class_ids, union_token_ids(class_ids)


def generate_batch(backend: SFMBackend, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None],
                   prompt: Prompt, tracked_ids: Sequence[int], settings: GenerationSettings, *,
                   too_long: str = "truncate", inputs: Mapping[str, Sequence[Any]] | None = None) -> list[dict]:
    """One batch of generation records (RECORD_COLUMNS + EXTRA_COLUMNS), one per utterance, in order.
    ``inputs``: per-utterance keyword arguments for the back-end (:meth:`SFMBackend.manifest_inputs`).

    Unusable audio, a model exception or non-finite captured logits make that utterance's record
    ``status="failed"`` with ``error`` = reason code; the others are unaffected.
    """
    records, succeeded = run_batch(
        backend, utt_ids, audio_paths, too_long,
        lambda audios, **kw: backend.generate(audios, prompt.text, tracked_ids, settings, **kw), inputs)
    for row, rec in succeeded:
        logits = np.asarray(rec.tracked_logits, dtype=np.float32).reshape(-1, len(tracked_ids))
        lse = np.asarray(rec.logsumexp, dtype=np.float32).reshape(-1)
        row.update(text=rec.text,
                   generated_token_ids=[int(t) for t in np.asarray(rec.generated_token_ids).reshape(-1)],
                   tracked_logits=logits.tolist(), logsumexp=lse.tolist())
        bad = int((~np.isfinite(logits)).sum() + (~np.isfinite(lse)).sum())
        if bad:
            row.update(status="failed", error=NONFINITE,
                       error_message=f"{bad} NaN/inf values among the captured logits/log-sum-exp")
    return records


def likelihood_batch(backend: SFMBackend, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None],
                     prompt: Prompt, continuations: dict[str, Sequence[str]], *,
                     too_long: str = "truncate", inputs: Mapping[str, Sequence[Any]] | None = None) -> list[dict]:
    """One batch of label-likelihood records: per class ``logprob_<class>`` (one summed token
    log-prob per continuation) and ``n_tokens_<class>``, the columns of
    ``emologits.extract.likelihood.score_columns``, from one ``backend.score_batch`` call for the
    batch (one prefix pass, every utterance x continuation scored together; a batch that raises is
    retried one utterance at a time, so only failing utterances fail)."""
    flat = [(cls, text) for cls, texts in continuations.items() for text in texts]
    texts = [text for _, text in flat]
    records, succeeded = run_batch(backend, utt_ids, audio_paths, too_long,
                                   lambda audios, **kw: backend.score_batch(audios, prompt.text, texts, **kw),
                                   inputs)
    for row, scores in succeeded:
        per_class: dict[str, list[np.ndarray]] = {cls: [] for cls in continuations}
        for (cls, _), lp in zip(flat, scores):
            per_class[cls].append(np.asarray(lp, dtype=np.float64))
        row.update(**score_columns(per_class))
        if any(np.isnan(v).any() or np.isposinf(v).any() for lps in per_class.values() for v in lps):
            row.update(status="failed", error=NONFINITE, error_message="non-finite continuation log-probs")
    return records


class GenerateMethod(Method):
    """Generation with single-pass capture: text + emotion-token logits (paper sec. 3.4)."""

    name = "generate"
    subdir = "inference"
    fingerprint_keys = ("tracked_ids", "generation")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_ids, self.tracked_ids = token_ids_for(self.backend.tokenizer, self.emotion_set)

    def provenance(self) -> dict[str, Any]:
        tokens = self.backend.tokenizer.convert_ids_to_tokens(self.tracked_ids) if self.tracked_ids else []
        return {"tracked_ids": self.tracked_ids,
                "class_token_ids": self.class_ids,  # per class, one id list per surface form
                "tracked_tokens": [str(t) for t in tokens],
                "generation": self.settings.as_dict(), "continuations": None}

    def schema(self) -> Any:
        import pyarrow as pa

        return _schema([("text", pa.string()), ("generated_token_ids", pa.list_(pa.int64())),
                        ("tracked_logits", pa.list_(pa.list_(pa.float32()))), ("logsumexp", pa.list_(pa.float32()))])

    def run_batch(self, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None], too_long: str,
                  inputs: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        # a sampling seed is applied per generate call, so a resumed block is sampled the same way
        return generate_batch(self.backend, utt_ids, audio_paths, self.prompt, self.tracked_ids, self.settings,
                              too_long=too_long, inputs=inputs)


class LikelihoodMethod(Method):
    """Label likelihood: log-probability of each class's verbalised answer (beyond the paper)."""

    name = "likelihood"
    subdir = "likelihood"
    fingerprint_keys = ("continuations",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.continuations = answer_continuations(self.prompt.kind, self.emotion_set)

    def provenance(self) -> dict[str, Any]:
        return {"tracked_ids": [], "class_token_ids": {}, "tracked_tokens": [], "generation": None,
                "continuations": self.continuations}

    def schema(self) -> Any:
        import pyarrow as pa

        classes = list(self.continuations)
        return _schema([(f"logprob_{c}", pa.list_(pa.float64())) for c in classes]
                       + [(f"n_tokens_{c}", pa.list_(pa.int64())) for c in classes])

    def run_batch(self, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None], too_long: str,
                  inputs: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        return likelihood_batch(self.backend, utt_ids, audio_paths, self.prompt, self.continuations,
                                too_long=too_long, inputs=inputs)


#: The runner's methods (``--method``); a user method is named as ``package.module:Class``.
METHODS: Registry[type[Method]] = Registry("method", subclass_of=Method)
METHODS.register("generate", GenerateMethod)
METHODS.register("likelihood", LikelihoodMethod)
METHODS.register_lazy("sampling", "emologits.inference.sampling:SamplingMethod",
                      "N sampled answers per utterance, each parsed, averaged (beyond the paper)")
METHODS.register_lazy("contextual", "emologits.inference.contextual:ContextualMethod",
                      "class scores of content-free inputs, for contextual calibration (Zhao et al. 2021)")
#: Folder under ``runs/<run>/`` per registered method (derived from the registry).
METHOD_DIRS: dict[str, str] = {name: METHODS.get(name).subdir for name in METHODS}

__all__ = ["EXTRA_COLUMNS", "METHODS", "METHOD_DIRS", "RECORD_COLUMNS", "GenerateMethod", "LikelihoodMethod", "Method",
           "generate_batch", "likelihood_batch", "token_ids_for"]
