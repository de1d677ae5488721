"""A metric and a table defined outside the package, named as ``report_extension:OBJECT`` (tests)."""
from __future__ import annotations

import numpy as np

from emologits.artifacts import DistributionKey
from emologits.metrics import Convention, Metric
from emologits.report.spec import CONFIGURED, MetricTable, Row


def max_abs_error(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Largest absolute class-probability error of each utterance."""
    return np.abs(truth - pred).max(axis=1)


MAX_ABS_ERROR = Metric("max_abs_error", "MaxAE ↓", higher_is_better=False, inputs="distributions",
                       conventions=(Convention("paper", max_abs_error),), description="largest |truth - pred|")

TOKEN_VS_TEXT = MetricTable(
    "token_vs_text", "Token level vs text level (extension)", "04_token_extraction",
    ("report_extension:MAX_ABS_ERROR", "kl"),
    rows=(Row("Text", "Ours", DistributionKey("text", "ambiguous")),
          Row("Token-level ({configured})", "Ours", DistributionKey("token", "ambiguous", "all", CONFIGURED))))
