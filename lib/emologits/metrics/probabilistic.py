"""Calibration and proper-scoring metrics (beyond the paper): ECE, soft-label NLL, Brier score.

* :func:`expected_calibration_error` -- top-label ECE against the ground truth's majority class:
  confidence = the largest predicted probability, correct = the predicted argmax equals the
  truth's argmax (both with the tie rule of :func:`~emologits.metrics.functions.argmax_labels`),
  ``n_bins`` uniform bins ``(lower, upper]`` on [0, 1], ``sum_b |B_b|/n * |acc(B_b) - conf(B_b)|``,
  a fraction. The ``"paper"`` convention is the one of the same group's AER-LLM evaluation code
  (``Evaluation/eval_metrics.py``, ``ECE``): 5 bins, ``np.argmax`` over its column order, every
  utterance counted (ties in the truth included). One number for the corpus.
* :func:`soft_nll` -- cross-entropy of the soft labels ``H(truth, pred) = -sum_k truth_k ln(pred_k + 1e-12)``
  (nats), per utterance; :data:`NLL_EPS` keeps a zero prediction finite (27.6 nats at most per unit
  of truth mass).
* :func:`brier_score` -- ``sum_k (pred_k - truth_k)^2`` per utterance (multi-class Brier against
  the soft labels, in [0, 2]).

Conventions and epsilons: docs/conventions.md, "Calibration metrics".
"""
from __future__ import annotations

from typing import Any

import numpy as np

from emologits.metrics.functions import (
    Classes, _distributions, _pair, argmax_columns, check_choice, class_names, TIE_CONVENTIONS,
)

#: Added to the prediction inside the log of the soft-label NLL.
NLL_EPS = 1e-12
#: AER-LLM's number of ECE bins (``ECE(samples, trues, n_bims=5)``).
ECE_BINS = 5


def argmax_codes(x: Any, ties: str = "paper", classes: Classes = None) -> np.ndarray:
    """Index (in ``x``'s column order) of each row's largest value, ties broken by ``ties``
    (:func:`~emologits.metrics.functions.tie_order`). Without class names (plain arrays whose N
    is not the default set's), ties go to the first column."""
    arr = _distributions(x, "pred")
    check_choice(ties, TIE_CONVENTIONS, "tie rule")
    try:
        names = class_names(x, arr.shape[1], classes)
    except ValueError:
        names = tuple(str(i) for i in range(arr.shape[1]))
    return argmax_columns(arr, names, ties)


def expected_calibration_error(truth: Any, pred: Any, n_bins: int = ECE_BINS, ties: str = "paper",
                               classes: Classes = None) -> float:
    """Top-label ECE against the truth's majority class (module doc), a fraction in [0, 1]."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    t, p = _pair(truth, pred)
    correct = argmax_codes(pred, ties, classes) == argmax_codes(truth, ties, classes)
    confidence = p.max(axis=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(ece)


def soft_nll(truth: Any, pred: Any, eps: float = NLL_EPS) -> np.ndarray:
    """Per-utterance cross-entropy ``-sum_k truth_k ln(pred_k + eps)`` in nats, shape ``(n,)``."""
    t, p = _pair(truth, pred)
    return -(t * np.log(p + eps)).sum(axis=1)


def brier_score(truth: Any, pred: Any) -> np.ndarray:
    """Per-utterance multi-class Brier score ``sum_k (pred_k - truth_k)^2``, shape ``(n,)``."""
    t, p = _pair(truth, pred)
    return ((p - t) ** 2).sum(axis=1)


__all__ = ["ECE_BINS", "NLL_EPS", "argmax_codes", "brier_score", "expected_calibration_error", "soft_nll"]
