"""Shared pieces of the three extraction methods: the invalid-result exception and the output table.

Every method returns a predicted-distribution table (``emologits.emotions.PRED_COLUMNS``): one row per
input record, ``utt_id, p_anger, p_happiness, p_sadness, p_neutral, valid, reason``. Invalid rows keep
NaN probabilities and a short reason code; nothing is dropped.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from emologits.emotions import EMOTIONS, PRED_COLUMNS

#: Inference status of a usable record (issue 4's runner writes ``status`` and ``error``).
STATUS_OK = "ok"

#: Columns of every predicted-distribution table, in order.
TABLE_COLUMNS: tuple[str, ...] = ("utt_id", *PRED_COLUMNS, "valid", "reason")


class ExtractionError(ValueError):
    """A record yields no valid distribution; ``reason`` is the short code counted in reports."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


def valid_row(utt_id: object, probs: Mapping[str, float]) -> dict[str, object]:
    """A valid table row from a dict over the four classes."""
    return {"utt_id": utt_id, **{f"p_{e}": float(probs[e]) for e in EMOTIONS}, "valid": True, "reason": None}


def invalid_row(utt_id: object, reason: str) -> dict[str, object]:
    """An invalid table row (NaN probabilities, the reason code)."""
    return {"utt_id": utt_id, **{c: np.nan for c in PRED_COLUMNS}, "valid": False, "reason": reason}


def failed_inference_reason(error: object) -> str:
    """Reason code of a record whose inference status is not ``ok``."""
    text = "" if error is None or (isinstance(error, float) and np.isnan(error)) else str(error)
    return f"inference_failed:{text or 'unknown'}"


def distribution_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Rows -> a table with exactly :data:`TABLE_COLUMNS` (typed even when empty)."""
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in PRED_COLUMNS:
        frame[col] = frame[col].astype("float64")
    frame["valid"] = frame["valid"].astype(bool)
    frame["reason"] = frame["reason"].astype(object).where(~frame["valid"], None)
    return frame


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
