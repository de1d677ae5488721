"""Sampling-based distributions (beyond the paper): the mean of N parsed sampled answers.

Records of the ``sampling`` method (:mod:`emologits.inference.sampling`) hold, per utterance, N
texts sampled for one prompt. Each text is read by the prompt's text parser (sec. 3.4.1:
``parse_distribution`` for a distribution prompt, ``parse_single_label`` -> one-hot for the single
prompt) and the distribution is the mean of the valid answers among the first ``n`` texts. Invalid
answers are left out of the mean (their share is :func:`sample_validity`); an utterance with no
valid answer among them is invalid with reason ``no_valid_sample``. With the single prompt the
result is the share of the samples naming each class (a vote over N answers).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from emologits.emotions import EmotionSet, get_emotion_set
from emologits.extract.common import STATUS_OK, distribution_frame, failed_inference_reason, invalid_row, valid_row
from emologits.extract.text import _parse_distribution, _parse_single_label, _Vocabulary, _vocabulary

__all__ = ["NO_VALID_SAMPLE", "parsed_samples", "sample_validity", "sampling_distributions"]

#: Reason of an utterance none of whose (first n) sampled answers parses.
NO_VALID_SAMPLE = "no_valid_sample"


def _texts(value: object, n: int | None) -> list[object]:
    texts = [] if value is None else list(value)
    return texts if n is None else texts[:n]


def _check(records: pd.DataFrame, prompt_kind: str, n: int | None) -> None:
    if prompt_kind not in ("distribution", "single"):
        raise ValueError(f"prompt_kind must be 'distribution' or 'single'; got {prompt_kind!r}")
    if n is not None and int(n) < 1:
        raise ValueError(f"n must be >= 1 (the first n samples) or None (all); got {n!r}")
    missing = {"utt_id", "status", "error", "texts"} - set(records.columns)
    if missing:
        raise ValueError(f"sampling records lack columns {sorted(missing)}")


def parsed_samples(texts: Sequence[object], prompt_kind: str,
                   emotion_set: EmotionSet | str | None = None) -> list[np.ndarray | None]:
    """Each text read by the prompt's parser: a probability vector over the set's classes (in its
    order; one-hot for the single prompt), or None when it gives no valid answer."""
    return _parsed(texts, prompt_kind, _vocabulary(get_emotion_set(emotion_set)))


def _parsed(texts: Sequence[object], prompt_kind: str, vocab: _Vocabulary) -> list[np.ndarray | None]:
    """:func:`parsed_samples` with the parser's vocabulary already built (once per table)."""
    out: list[np.ndarray | None] = []
    for text in texts:
        if prompt_kind == "distribution":
            parsed = _parse_distribution(None if text is None else str(text), vocab)
            out.append(None if parsed.probs is None else np.array([parsed.probs[c] for c in vocab.classes]))
        else:
            label = _parse_single_label(None if text is None else str(text), vocab).label
            out.append(None if label is None else np.array([float(c == label) for c in vocab.classes]))
    return out


def sampling_distributions(records: pd.DataFrame, prompt_kind: str, emotion_set: EmotionSet | str | None = None,
                           *, n: int | None = None) -> pd.DataFrame:
    """Sampling records (``utt_id, status, error, texts``) -> the predicted-distribution table
    (``utt_id, p_<class>..., valid, reason``) over ``emotion_set`` (default paper4): the mean of the
    parsed answers among each utterance's first ``n`` samples (None: all). ``prompt_kind``: the
    prompt's kind (``run.json`` ``prompt.kind``). Invalid reasons: ``inference_failed:<error>``,
    ``no_valid_sample``."""
    _check(records, prompt_kind, n)
    es = get_emotion_set(emotion_set)
    vocab = _vocabulary(es)
    rows = []
    for rec in records.itertuples(index=False):
        if rec.status != STATUS_OK:
            rows.append(invalid_row(rec.utt_id, failed_inference_reason(rec.error)))
            continue
        valid = [p for p in _parsed(_texts(rec.texts, n), prompt_kind, vocab) if p is not None]
        if not valid:
            rows.append(invalid_row(rec.utt_id, NO_VALID_SAMPLE))
            continue
        mean = np.mean(valid, axis=0)
        rows.append(valid_row(rec.utt_id, dict(zip(es.names, mean / mean.sum()))))
    return distribution_frame(rows, es)


def sample_validity(records: pd.DataFrame, prompt_kind: str, emotion_set: EmotionSet | str | None = None,
                    *, n: int | None = None) -> pd.DataFrame:
    """Per utterance, ``n_samples`` (among the first ``n``) and ``n_valid`` (those that parse); a
    failed record has 0 of each."""
    _check(records, prompt_kind, n)
    vocab = _vocabulary(get_emotion_set(emotion_set))
    rows = []
    for rec in records.itertuples(index=False):
        texts = _texts(rec.texts, n) if rec.status == STATUS_OK else []
        parsed = _parsed(texts, prompt_kind, vocab)
        rows.append({"utt_id": rec.utt_id, "n_samples": len(texts), "n_valid": sum(p is not None for p in parsed)})
    return pd.DataFrame(rows, columns=["utt_id", "n_samples", "n_valid"])
