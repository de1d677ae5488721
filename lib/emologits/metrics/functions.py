"""The metric functions (paper sec. 4.2 "Evaluation"): ambiguity-based and accuracy-based.

Every distribution array is ``(n, N)`` over one emotion set's N classes, in the set's order; every
function is called ``f(truth, pred)``. A DataFrame is accepted too: its ``gt_<class>`` columns
(manifest) or ``p_<class>`` columns (predicted distributions), in their order. The paper does not
define its conventions; the defaults ("paper") follow the same group's public AER-LLM evaluation
code (``Evaluation/eval_metrics.py``, the paper's baseline [15]), the alternatives are named
options. Evidence for each choice: ``docs/conventions.md``.

Ambiguity-based (per utterance, ``(n,)`` arrays; a table reports their mean):

* :func:`kl_divergence` -- ``convention="paper"``: KL(pred || truth) as AER-LLM computes it,
  ``sum_{pred_k > 0} pred_k * ln(pred_k / (truth_k + 1e-8))`` = ``rel_entr(pred, truth + 1e-8).sum(1)``;
  ``"textbook"``: KL(truth || pred) = ``scipy.special.rel_entr(truth, pred).sum(1)`` (inf where
  pred is 0 and truth is not).
* :func:`bhattacharyya_coefficient` ``sum_k sqrt(truth_k * pred_k)``;
  :func:`bhattacharyya_distance` ``-ln(BC + 1e-10)`` (``eps=0`` for the textbook value).
* :func:`squared_pearson` -- the paper's per-utterance R^2: squared Pearson correlation of the
  two N-vectors, population (co)variances, ``cov^2 / (var_t * var_p + 1e-10)``.
* :func:`js_distance` -- Jensen-Shannon distance, natural log (= ``scipy.spatial.distance.jensenshannon``).
* :func:`entropy` -- Shannon entropy of each distribution (bits by default), for data summaries.

:func:`r2_score` is the one corpus-level summary: ``"paper"`` = mean of :func:`squared_pearson`;
``"sklearn"`` = ``sklearn.metrics.r2_score(truth, pred)`` on the ``(n, N)`` arrays (the coefficient
of determination of each class column, uniformly averaged over the N columns).

Accuracy-based (single label vs the majority label; labels are class names):

* :func:`argmax_labels` -- most likely class; ties -> the first class in AER-LLM's column order
  (neutral, happiness, anger, sadness, then the set's other classes in its order) by default
  (``ties="paper"``), or the first in the set's order (``ties="first"``).
* :func:`accuracy`, :func:`unweighted_accuracy` (mean per-class recall over classes present in
  the truth), :func:`f1_score` (``average="weighted"`` (paper) or ``"macro"``); each is also a
  function of the confusion matrix (``*_from_confusion``), which is what the bootstrap resamples.
* :func:`reliability_bins` -- binned predicted vs observed probability (reliability diagram).

Class names: where a function needs them (labels, reliability bins) it takes ``classes`` (names or
an :class:`~emologits.emotions.EmotionSet`); without it, the DataFrame's column names, else the
default emotion set when N matches.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import entr, rel_entr

from emologits.emotions import EmotionSet, get_emotion_set

#: Added to the second argument of AER-LLM's KL (the ground truth under the paper convention).
KL_EPS = 1e-8
#: Added to the Bhattacharyya coefficient before the log (AER-LLM ``BC``).
BD_EPS = 1e-10
#: Added to the product of variances in the paper's R^2 (AER-LLM ``R``).
R2_EPS = 1e-10
#: AER-LLM's array column order; ``np.argmax`` there breaks ties towards the earliest of these.
PAPER_TIE_ORDER: tuple[str, ...] = ("neutral", "happiness", "anger", "sadness")

KL_CONVENTIONS = ("paper", "textbook")
R2_CONVENTIONS = ("paper", "sklearn")
TIE_CONVENTIONS = ("paper", "first")
F1_AVERAGES = ("weighted", "macro")

Classes = Sequence[str] | EmotionSet | None


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def distribution_columns(df: pd.DataFrame, prefix: str) -> list[str]:
    """The ``<prefix><class>`` columns of a table, in its order (``gt_`` manifest, ``p_`` predictions)."""
    return [c for c in df.columns if isinstance(c, str) and c.startswith(prefix) and len(c) > len(prefix)]


def class_names(x: Any, n_classes: int, classes: Classes = None) -> tuple[str, ...]:
    """The class names of ``x``: ``classes`` when given, else a DataFrame's ``gt_``/``p_`` column
    names, else the default emotion set's when it has ``n_classes`` classes."""
    if classes is not None:
        names = classes.names if isinstance(classes, EmotionSet) else tuple(classes)
    elif isinstance(x, pd.DataFrame):
        cols = distribution_columns(x, "p_") or distribution_columns(x, "gt_")
        names = tuple(c.split("_", 1)[1] for c in cols)
    else:
        names = get_emotion_set(None).names
    if len(names) != n_classes:
        raise ValueError(f"{n_classes} columns but {len(names)} class names {list(names)}: pass classes=")
    return names


def _distributions(x: Any, name: str) -> np.ndarray:
    if isinstance(x, pd.DataFrame):  # a manifest (gt_*) or a predicted-distribution table (p_*)
        prefixes = ("p_", "gt_") if name == "pred" else ("gt_", "p_")
        cols = next((c for c in (distribution_columns(x, p) for p in prefixes) if c), None)
        if cols is None:
            raise ValueError(f"{name} table has neither gt_<class> nor p_<class> columns")
        x = x[cols]
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] >= 2:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n, N) with N >= 2 classes, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or inf (drop invalid predictions before scoring)")
    if np.any(arr < 0):
        raise ValueError(f"{name} holds negative probabilities")
    return arr


def _pair(truth: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _distributions(truth, "truth"), _distributions(pred, "pred")
    if t.shape != p.shape:
        raise ValueError(f"truth and pred differ in shape: {t.shape} vs {p.shape}")
    return t, p


def check_choice(value: str, allowed: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else a ValueError listing them."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
    return value


# --------------------------------------------------------------------------------------------
# ambiguity-based metrics, per utterance
# --------------------------------------------------------------------------------------------
def kl_divergence(truth: Any, pred: Any, convention: str = "paper") -> np.ndarray:
    """Per-utterance KL divergence, natural log, shape ``(n,)``.

    ``"paper"``: AER-LLM ``KL(a=pred, b=truth)`` = ``sum_{pred>0} pred * ln(pred / (truth + 1e-8))``
    (zeros of pred contribute 0; a zero of truth under a non-zero pred costs ~``pred * 18.4``).
    ``"textbook"``: KL(truth || pred) = ``sum_{truth>0} truth * ln(truth / pred)``; inf when pred
    is 0 where truth is not.
    """
    t, p = _pair(truth, pred)
    check_choice(convention, KL_CONVENTIONS, "KL convention")
    if convention == "paper":
        return rel_entr(p, t + KL_EPS).sum(axis=1)  # rel_entr(0, y) = 0: zeros of pred skipped
    return rel_entr(t, p).sum(axis=1)  # inf where t > 0 = p


def bhattacharyya_coefficient(truth: Any, pred: Any) -> np.ndarray:
    """Per-utterance Bhattacharyya coefficient ``sum_k sqrt(truth_k * pred_k)``, shape ``(n,)``."""
    t, p = _pair(truth, pred)
    return np.sqrt(t * p).sum(axis=1)


def bhattacharyya_distance(truth: Any, pred: Any, eps: float = BD_EPS) -> np.ndarray:
    """Per-utterance Bhattacharyya distance ``-ln(BC + eps)`` (paper's BD), shape ``(n,)``.

    ``eps=1e-10`` as in AER-LLM keeps disjoint distributions finite (BD = 23.03);
    ``eps=0`` gives the textbook value (inf when disjoint).
    """
    bc = bhattacharyya_coefficient(truth, pred)
    with np.errstate(divide="ignore"):
        return -np.log(bc + eps)


def squared_pearson(truth: Any, pred: Any) -> np.ndarray:
    """Paper R^2 of each utterance: squared Pearson correlation of its two N-vectors, ``(n,)``.

    ``cov(t, p)^2 / (var(t) * var(p) + 1e-10)`` with population (ddof=0) moments, as AER-LLM ``R``;
    0 when either vector is constant (e.g. a uniform prediction).
    """
    t, p = _pair(truth, pred)
    tc = t - t.mean(axis=1, keepdims=True)
    pc = p - p.mean(axis=1, keepdims=True)
    cov = (tc * pc).mean(axis=1)
    return cov**2 / ((tc**2).mean(axis=1) * (pc**2).mean(axis=1) + R2_EPS)


def r2_score(truth: Any, pred: Any, convention: str = "paper") -> float:
    """Corpus R^2, one number.

    ``"paper"``: mean over utterances of :func:`squared_pearson` (AER-LLM).
    ``"sklearn"``: ``sklearn.metrics.r2_score(truth, pred)`` on the ``(n, N)`` arrays, i.e. the
    coefficient of determination of each class column, uniformly averaged over the N columns
    (can be negative).
    """
    check_choice(convention, R2_CONVENTIONS, "R2 convention")
    t, p = _pair(truth, pred)
    if convention == "paper":
        return float(squared_pearson(t, p).mean())
    from sklearn.metrics import r2_score as sk_r2

    return float(sk_r2(t, p, multioutput="uniform_average"))


def js_distance(truth: Any, pred: Any) -> np.ndarray:
    """Per-utterance Jensen-Shannon distance (sqrt of JS divergence, natural log), ``(n,)``.

    Symmetric; equals ``scipy.spatial.distance.jensenshannon(truth_i, pred_i)``; in [0, sqrt(ln 2)].
    """
    t, p = _pair(truth, pred)
    t = t / t.sum(axis=1, keepdims=True)
    p = p / p.sum(axis=1, keepdims=True)
    m = 0.5 * (t + p)  # > 0 wherever t or p is, so both terms stay finite
    js = 0.5 * rel_entr(t, m).sum(axis=1) + 0.5 * rel_entr(p, m).sum(axis=1)
    return np.sqrt(np.maximum(js, 0.0))


def entropy(dist: Any, base: float = 2.0) -> np.ndarray:
    """Shannon entropy of each distribution (bits by default; AER-LLM ``cal_entropy``), ``(n,)``."""
    d = _distributions(dist, "dist")
    return entr(d).sum(axis=1) / np.log(base)


# --------------------------------------------------------------------------------------------
# accuracy-based metrics
# --------------------------------------------------------------------------------------------
def tie_order(classes: Sequence[str], ties: str = "paper") -> tuple[str, ...]:
    """The order in which tied classes win: ``"paper"`` -- AER-LLM's column order
    (:data:`PAPER_TIE_ORDER`, the classes of the set among them) then the set's other classes in
    its order; ``"first"`` -- the set's order."""
    check_choice(ties, TIE_CONVENTIONS, "tie rule")
    if ties == "first":
        return tuple(classes)
    head = tuple(c for c in PAPER_TIE_ORDER if c in classes)
    return head + tuple(c for c in classes if c not in head)


def argmax_labels(pred: Any, ties: str = "paper", classes: Classes = None) -> np.ndarray:
    """Most likely class name per row, ``(n,)`` object array.

    Ties: ``"paper"`` picks the first tied class in AER-LLM's column order
    (neutral, happiness, anger, sadness) -- what its ``np.argmax`` does; ``"first"`` picks the
    first tied class in the set's order (paper4: anger, happiness, sadness, neutral).
    """
    p = _distributions(pred, "pred")
    names = class_names(pred, p.shape[1], classes)
    return np.array([names[i] for i in argmax_columns(p, names, ties)], dtype=object)


def argmax_columns(p: np.ndarray, names: Sequence[str], ties: str = "paper") -> np.ndarray:
    """Column index of each row's largest value in ``p`` (columns named ``names``), ties broken
    by :func:`tie_order`."""
    cols = [list(names).index(e) for e in tie_order(names, ties)]
    return np.asarray(cols)[np.argmax(p[:, cols], axis=1)]  # np.argmax returns the first maximum


def _label_names(classes: Classes) -> tuple[str, ...]:
    if classes is None:
        return get_emotion_set(None).names
    return classes.names if isinstance(classes, EmotionSet) else tuple(classes)


def label_codes(true_labels: Any, pred_labels: Any, classes: Classes = None) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as class indices (``classes`` order); a ValueError for a label outside the
    classes, different lengths or no labels."""
    names = _label_names(classes)
    lut = {e: i for i, e in enumerate(names)}
    t = np.asarray(true_labels, dtype=object).ravel()
    p = np.asarray(pred_labels, dtype=object).ravel()
    for what, arr in (("true_labels", t), ("pred_labels", p)):
        bad = sorted({str(v) for v in arr if v not in lut})
        if bad:
            raise ValueError(f"{what} holds labels outside {list(names)}: {bad[:5]}")
    if t.shape != p.shape:
        raise ValueError(f"true_labels and pred_labels differ in length: {t.shape[0]} vs {p.shape[0]}")
    if t.size == 0:
        raise ValueError("no labels to score")
    return np.array([lut[v] for v in t], dtype=np.int64), np.array([lut[v] for v in p], dtype=np.int64)


def confusion(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix of class indices: rows truth, columns prediction."""
    k = n_classes
    return np.bincount(true_codes * k + pred_codes, minlength=k * k).reshape(k, k)


def accuracy_from_confusion(cm: np.ndarray) -> float:
    """Fraction on the diagonal."""
    return float(np.trace(cm) / cm.sum())


def ua_from_confusion(cm: np.ndarray) -> float:
    """Mean per-class recall over classes present in the truth."""
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def f1_from_confusion(cm: np.ndarray, average: str = "weighted") -> float:
    """F1 (``zero_division=0``), weighted by support or the macro mean over classes seen in truth
    or prediction (sklearn's default labels)."""
    check_choice(average, F1_AVERAGES, "F1 average")
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)   # true count per class
    predicted = cm.sum(axis=0).astype(np.float64)  # predicted count per class
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    if average == "weighted":
        return float(np.sum(f1 * support) / support.sum())
    return float(f1[denom > 0].mean())


def _cm(true_labels: Any, pred_labels: Any, classes: Classes) -> np.ndarray:
    return confusion(*label_codes(true_labels, pred_labels, classes), len(_label_names(classes)))


def accuracy(true_labels: Any, pred_labels: Any, classes: Classes = None) -> float:
    """Fraction of utterances whose predicted label equals the majority label."""
    return accuracy_from_confusion(_cm(true_labels, pred_labels, classes))


def unweighted_accuracy(true_labels: Any, pred_labels: Any, classes: Classes = None) -> float:
    """Unweighted accuracy: mean per-class recall over classes present in the truth
    (= ``sklearn.metrics.balanced_accuracy_score``)."""
    return ua_from_confusion(_cm(true_labels, pred_labels, classes))


def f1_score(true_labels: Any, pred_labels: Any, average: str = "weighted", classes: Classes = None) -> float:
    """F1 vs the majority label; ``"weighted"`` (paper / AER-LLM) or ``"macro"``.

    Same as ``sklearn.metrics.f1_score(..., average=average, zero_division=0)`` with its default
    label set (classes seen in truth or prediction).
    """
    check_choice(average, F1_AVERAGES, "F1 average")
    return f1_from_confusion(_cm(true_labels, pred_labels, classes), average)


# --------------------------------------------------------------------------------------------
# reliability diagram data
# --------------------------------------------------------------------------------------------
def reliability_bins(truth: Any, pred: Any, n_bins: int = 10, classes: Classes = None) -> pd.DataFrame:
    """Reliability-diagram data: predicted probabilities binned on [0, 1] (equal width, last bin
    closed), with the mean observed ground-truth probability in each bin.

    One row per (class, bin) with at least one entry; ``class`` is a class name or ``"all"``
    (the classes pooled). Columns: ``class, bin, bin_low, bin_high, mean_pred, mean_true, count``.
    """
    t, p = _pair(truth, pred)
    names = class_names(pred, p.shape[1], classes)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for name, tv, pv in [(e, t[:, k], p[:, k]) for k, e in enumerate(names)] + [("all", t.ravel(), p.ravel())]:
        b = np.clip(np.searchsorted(edges, pv, side="right") - 1, 0, n_bins - 1)
        for i in range(n_bins):
            m = b == i
            if m.any():
                rows.append((name, i, edges[i], edges[i + 1], pv[m].mean(), tv[m].mean(), int(m.sum())))
    return pd.DataFrame(rows, columns=["class", "bin", "bin_low", "bin_high", "mean_pred", "mean_true", "count"])
