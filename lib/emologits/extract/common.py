"""Shared pieces of the three extraction methods: the invalid-result exception and the output table.

Every method returns a predicted-distribution table over an emotion set's N classes: one row per
input record, ``utt_id``, ``p_<class>`` for each class in the set's order (``EmotionSet.pred_columns``;
paper4: ``p_anger, p_happiness, p_sadness, p_neutral``), ``valid``, ``reason``. Invalid rows keep NaN
probabilities and a short reason code; nothing is dropped.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from emologits.emotions import EmotionSet

#: Inference status of a usable record (the runner writes ``status`` and ``error``).
STATUS_OK = "ok"


class ExtractionError(ValueError):
    """A record yields no valid distribution; ``reason`` is the short code counted in reports."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


def pred_columns(classes: EmotionSet | Sequence[str]) -> tuple[str, ...]:
    """``p_<class>`` per class, in order: an emotion set's ``pred_columns``, or those of class names
    (token level and likelihood take their classes from the records)."""
    if isinstance(classes, EmotionSet):
        return classes.pred_columns
    names = tuple(classes)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"a distribution needs at least two distinct classes; got {list(names)}")
    return tuple(f"p_{c}" for c in names)


def table_columns(classes: EmotionSet | Sequence[str]) -> tuple[str, ...]:
    """Columns of a predicted-distribution table: ``utt_id``, :func:`pred_columns`, ``valid``, ``reason``."""
    return ("utt_id", *pred_columns(classes), "valid", "reason")


def valid_row(utt_id: object, probs: Mapping[str, float]) -> dict[str, object]:
    """A valid table row from a class -> probability dict."""
    return {"utt_id": utt_id, **{f"p_{e}": float(p) for e, p in probs.items()}, "valid": True, "reason": None}


def invalid_row(utt_id: object, reason: str) -> dict[str, object]:
    """An invalid table row (the reason code; :func:`distribution_frame` fills NaN probabilities)."""
    return {"utt_id": utt_id, "valid": False, "reason": reason}


def failed_inference_reason(error: object) -> str:
    """Reason code of a record whose inference status is not ``ok``."""
    text = "" if error is None or (isinstance(error, float) and np.isnan(error)) else str(error)
    return f"inference_failed:{text or 'unknown'}"


def distribution_frame(rows: list[dict[str, object]], classes: EmotionSet | Sequence[str]) -> pd.DataFrame:
    """Rows -> a table with exactly :func:`table_columns` of ``classes`` (typed even when empty). A
    valid row must give every class's probability."""
    probs = pred_columns(classes)
    for row in rows:
        if row.get("valid") and set(probs) - set(row):
            raise ValueError(f"row {row.get('utt_id')!r} lacks {sorted(set(probs) - set(row))}")
    return _typed_frame(rows, probs)


def _typed_frame(rows: list[dict[str, object]], values: Sequence[str]) -> pd.DataFrame:
    """``utt_id``, the float ``values`` columns (NaN where a row lacks them), bool ``valid`` and
    ``reason`` (None on valid rows)."""
    frame = pd.DataFrame(rows, columns=["utt_id", *values, "valid", "reason"])
    for col in values:
        frame[col] = frame[col].astype("float64")
    frame["valid"] = frame["valid"].astype(bool)
    frame["reason"] = frame["reason"].astype(object).where(~frame["valid"], None)
    return frame


def scores_row(utt_id: object, classes: Sequence[str], scores: Sequence[float]) -> dict[str, object]:
    """A valid class-scores row (``s_<class>``: the logits or log-probs before normalisation)."""
    return {"utt_id": utt_id, **{f"s_{c}": float(v) for c, v in zip(classes, scores)}, "valid": True, "reason": None}


def class_scores_frame(rows: list[dict[str, object]], classes: Sequence[str]) -> pd.DataFrame:
    """Rows of :func:`scores_row` / :func:`invalid_row` -> ``utt_id, s_<class>..., valid, reason``
    (typed even when empty): the calibration inputs of the token level and the label likelihood."""
    return _typed_frame(rows, [f"s_{c}" for c in classes])


def invalid_report(dist_df: pd.DataFrame) -> pd.DataFrame:
    """Counts and rate of invalid rows per reason (most frequent first), then ``total_invalid`` and
    ``total`` rows. ``rate`` is count / number of rows (the paper reports 2.1 % invalid outputs)."""
    n = len(dist_df)
    invalid = dist_df.loc[~dist_df["valid"].astype(bool), "reason"].astype(str)
    counts = invalid.value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    rows = [{"reason": r, "count": int(c)} for r, c in counts.items()]
    rows.append({"reason": "total_invalid", "count": int(len(invalid))})
    rows.append({"reason": "total", "count": int(n)})
    report = pd.DataFrame(rows, columns=["reason", "count"])
    report["rate"] = report["count"] / n if n else np.nan
    return report
