"""Label likelihood (beyond the paper; the multiple-choice method of lm-evaluation-harness, on audio).

For each class, the back-end scores its verbalised answer(s) after audio + prompt + the chat
template's answer prefix (``SFMBackend.score``: per-token log-probabilities). A continuation's score
is the sum of its token log-probs (optionally divided by its token count); a class with several
continuations gets the log-sum-exp of their scores (the log-probability that the answer is any of
them); a softmax over the four classes gives the distribution.

Record format (written by the inference helper, one row per utterance, read by
:func:`likelihood_distributions`):

* ``utt_id``, ``status`` ("ok" or a failure), ``error`` (reason code or None);
* ``logprob_<class>`` for each class in EMOTIONS: list[float], one entry per continuation of
  :func:`answer_continuations` (in its order), each the **sum** of that continuation's token
  log-probs; a plain float is accepted when the class has one continuation;
* ``n_tokens_<class>``: list[int] (or int), the token count of each continuation.

:func:`score_columns` builds exactly these columns from ``SFMBackend.score`` outputs.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from emologits.emotions import EMOTIONS
from emologits.extract.common import (STATUS_OK, ExtractionError, distribution_frame,
                                      failed_inference_reason, invalid_row, valid_row)
from emologits.verbalizer import check_surface_forms

__all__ = ["ANSWER_WORDS", "answer_continuations", "score_columns", "likelihood_distributions"]

#: Verbalised answers per prompt kind: the word a correct answer starts with, exactly as the model is
#: asked to write it. Distribution prompts answer in the paper's format ("Anger: 65%, ..."), so the
#: class nouns; the single prompt offers the choices [Happiness, Sadness, Neutral, Angry].
ANSWER_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "distribution": {"anger": ("Anger",), "happiness": ("Happiness",), "sadness": ("Sadness",),
                     "neutral": ("Neutral",)},
    "single": {"anger": ("Angry",), "happiness": ("Happiness",), "sadness": ("Sadness",),
               "neutral": ("Neutral",)},
}


def answer_continuations(prompt_kind: str,
                         surface_forms: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
    """Continuations scored per class (EMOTIONS order): ``surface_forms`` when given (same for every
    prompt kind; checked by ``verbalizer.check_surface_forms``), else :data:`ANSWER_WORDS` for
    ``prompt_kind``. Written as the response's first word (no leading space): the back-end appends
    them right after the answer prefix."""
    if surface_forms is None:
        if prompt_kind not in ANSWER_WORDS:
            raise ValueError(f"prompt_kind must be one of {sorted(ANSWER_WORDS)}; got {prompt_kind!r}")
        surface_forms = ANSWER_WORDS[prompt_kind]
    return check_surface_forms(surface_forms)


def _combine(scores: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Per-class continuation scores (summed or length-normalised log-probs) -> log-sum-exp per
    class -> softmax over classes. ``ValueError`` for a class without scores (``malformed_record``)."""
    class_scores = np.empty(len(EMOTIONS))
    for n, e in enumerate(EMOTIONS):
        s = np.asarray(scores[e], dtype=np.float64)
        if s.size == 0:
            raise ValueError(f"class {e!r} has no scored continuation")
        if np.any(np.isnan(s)) or np.any(s == np.inf):
            raise ExtractionError("nonfinite_score", f"class {e!r} has scores {s.tolist()}")
        top = s.max()
        class_scores[n] = top if top == -np.inf else top + np.log(np.exp(s - top).sum())
    if np.all(class_scores == -np.inf):
        raise ExtractionError("nonfinite_score", "every continuation has probability 0")
    e = np.exp(class_scores - class_scores.max())
    return {name: float(p) for name, p in zip(EMOTIONS, e / e.sum())}


def score_columns(token_logprobs: Mapping[str, Sequence[np.ndarray]]) -> dict[str, list]:
    """The record columns ``logprob_<class>`` and ``n_tokens_<class>`` for one utterance."""
    out: dict[str, list] = {}
    for e in EMOTIONS:
        arrays = [np.asarray(lp, dtype=np.float64).ravel() for lp in token_logprobs[e]]
        out[f"logprob_{e}"] = [float(a.sum()) for a in arrays]
        out[f"n_tokens_{e}"] = [int(a.size) for a in arrays]
    return out


def _as_list(value: object) -> list:
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return list(value)
    return [value]


def likelihood_distributions(records: pd.DataFrame, *, length_normalize: bool = False) -> pd.DataFrame:
    """Likelihood records (module docstring) -> predicted-distribution table. ``length_normalize``
    divides each continuation's summed log-prob by its ``n_tokens``. Invalid reasons:
    ``inference_failed:<error>``, ``nonfinite_score``, ``malformed_record``."""
    needed = {"utt_id", "status", "error"} | {f"logprob_{e}" for e in EMOTIONS}
    if length_normalize:
        needed |= {f"n_tokens_{e}" for e in EMOTIONS}
    missing = needed - set(records.columns)
    if missing:
        raise ValueError(f"likelihood records lack columns {sorted(missing)}")
    rows = []
    for rec in records.to_dict("records"):
        if rec["status"] != STATUS_OK:
            rows.append(invalid_row(rec["utt_id"], failed_inference_reason(rec["error"])))
            continue
        try:
            scores = {}
            for e in EMOTIONS:
                lp = np.asarray(_as_list(rec[f"logprob_{e}"]), dtype=np.float64)
                if length_normalize:
                    n = np.asarray(_as_list(rec[f"n_tokens_{e}"]), dtype=np.float64)
                    if n.shape != lp.shape or np.any(n <= 0):
                        raise ValueError("n_tokens do not match logprobs")
                    lp = lp / n
                scores[e] = lp.tolist()
            probs = _combine(scores)
        except ExtractionError as exc:
            rows.append(invalid_row(rec["utt_id"], exc.reason))
            continue
        except (ValueError, TypeError):
            rows.append(invalid_row(rec["utt_id"], "malformed_record"))
            continue
        rows.append(valid_row(rec["utt_id"], probs))
    return distribution_frame(rows)
