"""Label likelihood (beyond the paper; the multiple-choice method of lm-evaluation-harness, on audio).

For each class, the back-end scores its verbalised answer(s) after audio + prompt + the chat
template's answer prefix (``SFMBackend.score``: per-token log-probabilities). A continuation's score
is the sum of its token log-probs (optionally divided by its token count); a class with several
continuations gets the log-sum-exp of their scores (the log-probability that the answer is any of
them); a softmax over the N classes gives the distribution.

The continuations are the emotion set's ``answers`` (``emotion_sets/<set>.yaml``, the one place they
are written). Record format (written by the runner's ``likelihood`` method, one row per utterance,
read by :func:`likelihood_distributions`):

* ``utt_id``, ``status`` ("ok" or a failure), ``error`` (reason code or None);
* ``logprob_<class>`` for each class of the set, in its order: list[float], one entry per
  continuation of :func:`answer_continuations` (in its order), each the **sum** of that
  continuation's token log-probs; a plain float is accepted when the class has one continuation;
* ``n_tokens_<class>``: list[int] (or int), the token count of each continuation.

:func:`score_columns` builds exactly these columns from ``SFMBackend.score`` outputs.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from emologits.emotions import EmotionSet, get_emotion_set
from emologits.extract.common import (STATUS_OK, ExtractionError, class_scores_frame, distribution_frame,
                                      failed_inference_reason, invalid_row, pred_columns, scores_row, valid_row)

__all__ = ["answer_continuations", "likelihood_class_scores", "likelihood_classes", "likelihood_distributions",
           "score_columns"]

_LOGPROB, _N_TOKENS = "logprob_", "n_tokens_"


def answer_continuations(prompt_kind: str, emotion_set: EmotionSet | str | None = None) -> dict[str, list[str]]:
    """Continuations scored per class, in the set's order: the set's answers for ``prompt_kind``
    ("distribution": the class nouns of the paper's response format; "single": the single prompt's
    choice words). Written as the response's first word (no leading space): the back-end appends
    them right after the answer prefix. ``emotion_set``: a set, its name or file (default paper4)."""
    return {c: list(words) for c, words in get_emotion_set(emotion_set).answers(prompt_kind).items()}


def _combine(scores: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Per-class continuation scores (summed or length-normalised log-probs) -> log-sum-exp per
    class -> softmax over classes. ``ValueError`` for a class without scores (``malformed_record``)."""
    classes = list(scores)
    class_scores = _class_log_scores(scores)
    e = np.exp(class_scores - class_scores.max())
    return {name: float(p) for name, p in zip(classes, e / e.sum())}


def _class_log_scores(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Per class, the log-sum-exp of its continuation scores (the scores :func:`_combine` softmaxes)."""
    classes = list(scores)
    class_scores = np.empty(len(classes))
    for n, e in enumerate(classes):
        s = np.asarray(scores[e], dtype=np.float64)
        if s.size == 0:
            raise ValueError(f"class {e!r} has no scored continuation")
        if np.any(np.isnan(s)) or np.any(s == np.inf):
            raise ExtractionError("nonfinite_score", f"class {e!r} has scores {s.tolist()}")
        top = s.max()
        class_scores[n] = top if top == -np.inf else top + np.log(np.exp(s - top).sum())
    if np.all(class_scores == -np.inf):
        raise ExtractionError("nonfinite_score", "every continuation has probability 0")
    return class_scores


def score_columns(token_logprobs: Mapping[str, Sequence[np.ndarray]]) -> dict[str, list]:
    """The record columns ``logprob_<class>`` and ``n_tokens_<class>`` for one utterance (classes in
    the order of ``token_logprobs``)."""
    out: dict[str, list] = {}
    for e, logprobs in token_logprobs.items():
        arrays = [np.asarray(lp, dtype=np.float64).ravel() for lp in logprobs]
        out[f"{_LOGPROB}{e}"] = [float(a.sum()) for a in arrays]
        out[f"{_N_TOKENS}{e}"] = [int(a.size) for a in arrays]
    return out


def likelihood_classes(records: pd.DataFrame) -> list[str]:
    """The classes a likelihood-record table holds: the ``<class>`` of its ``logprob_<class>`` and
    ``n_tokens_<class>`` columns, in column order."""
    classes: list[str] = []
    for col in map(str, records.columns):
        for prefix in (_LOGPROB, _N_TOKENS):
            if col.startswith(prefix) and col[len(prefix):] and col[len(prefix):] not in classes:
                classes.append(col[len(prefix):])
    return classes


def _classes(records: pd.DataFrame, emotion_set: EmotionSet | str | None) -> list[str]:
    """The classes scored: ``emotion_set``'s, or (None) the records' (:func:`likelihood_classes`)."""
    classes = list(get_emotion_set(emotion_set).names) if emotion_set is not None else likelihood_classes(records)
    if len(classes) < 2:
        raise ValueError(f"likelihood records need logprob_<class> columns for at least two classes; "
                         f"got {classes}")
    pred_columns(classes)
    return classes


def _as_list(value: object) -> list:
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return list(value)
    return [value]


def likelihood_distributions(records: pd.DataFrame, emotion_set: EmotionSet | str | None = None, *,
                             length_normalize: bool = False) -> pd.DataFrame:
    """Likelihood records (module docstring) -> predicted-distribution table over ``emotion_set``'s
    classes (a set, its name or file), or, when None, the classes of the records' columns
    (:func:`likelihood_classes`, in column order). ``length_normalize`` divides each continuation's
    summed log-prob by its ``n_tokens``. Invalid reasons: ``inference_failed:<error>``,
    ``nonfinite_score``, ``malformed_record``."""
    classes = _classes(records, emotion_set)
    rows = []
    for utt_id, scores in _scores_per_record(records, classes, length_normalize):
        if isinstance(scores, str):
            rows.append(invalid_row(utt_id, scores))
            continue
        try:
            probs = _combine(scores)
        except ExtractionError as exc:
            rows.append(invalid_row(utt_id, exc.reason))
            continue
        except (ValueError, TypeError):
            rows.append(invalid_row(utt_id, "malformed_record"))
            continue
        rows.append(valid_row(utt_id, probs))
    return distribution_frame(rows, classes)


def likelihood_class_scores(records: pd.DataFrame, emotion_set: EmotionSet | str | None = None, *,
                            length_normalize: bool = False) -> pd.DataFrame:
    """The per-utterance class log-probabilities the likelihood distribution is the softmax of
    (log-sum-exp per class, then ``log_softmax``): ``utt_id, s_<class>..., valid, reason`` in the
    records' order (arguments and invalid reasons as :func:`likelihood_distributions`). Calibration input."""
    classes = _classes(records, emotion_set)
    rows = []
    for utt_id, scores in _scores_per_record(records, classes, length_normalize):
        if not isinstance(scores, str):
            try:
                z = _class_log_scores(scores)
                top = z.max()
                logp = z - (top + np.log(np.exp(z - top).sum()))
                rows.append(scores_row(utt_id, classes, logp))
                continue
            except ExtractionError as exc:
                scores = exc.reason
            except (ValueError, TypeError):
                scores = "malformed_record"
        rows.append(invalid_row(utt_id, scores))
    return class_scores_frame(rows, classes)


def _scores_per_record(records: pd.DataFrame, classes: list[str], length_normalize: bool):
    """Per record: ``(utt_id, class -> continuation scores)`` or ``(utt_id, invalid reason)``."""
    needed = {"utt_id", "status", "error"} | {f"{_LOGPROB}{e}" for e in classes}
    if length_normalize:
        needed |= {f"{_N_TOKENS}{e}" for e in classes}
    missing = needed - set(records.columns)
    if missing:
        raise ValueError(f"likelihood records lack columns {sorted(missing)}")
    for rec in records.to_dict("records"):
        if rec["status"] != STATUS_OK:
            yield rec["utt_id"], failed_inference_reason(rec["error"])
            continue
        try:
            scores = {}
            for e in classes:
                lp = np.asarray(_as_list(rec[f"{_LOGPROB}{e}"]), dtype=np.float64)
                if length_normalize:
                    n = np.asarray(_as_list(rec[f"{_N_TOKENS}{e}"]), dtype=np.float64)
                    if n.shape != lp.shape or np.any(n <= 0):
                        raise ValueError("n_tokens do not match logprobs")
                    lp = lp / n
                scores[e] = lp.tolist()
        except (ValueError, TypeError):
            yield rec["utt_id"], "malformed_record"
            continue
        yield rec["utt_id"], scores
