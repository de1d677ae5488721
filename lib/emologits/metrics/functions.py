"""Evaluation metrics (paper sec. 4.2 "Evaluation"): ambiguity-based and accuracy-based.

Every array is ``(n, 4)`` with columns in :data:`emologits.EMOTIONS` order
(anger, happiness, sadness, neutral); every function is called ``f(truth, pred)``. A DataFrame
is accepted too: its ``gt_*`` columns (manifest) or ``p_*`` columns (predicted distributions).
The paper does not define its conventions; the defaults ("paper") follow the same group's
public AER-LLM evaluation code (``Evaluation/eval_metrics.py``, the paper's baseline [15]),
the alternatives are named options. Evidence for each choice: ``docs/conventions.md``.

Ambiguity-based (per utterance, ``(n,)`` arrays; a table reports their mean):

* :func:`kl_divergence` -- ``convention="paper"``: KL(pred || truth) as AER-LLM computes it,
  ``sum_{pred_k > 0} pred_k * ln(pred_k / (truth_k + 1e-8))`` = ``rel_entr(pred, truth + 1e-8).sum(1)``;
  ``"textbook"``: KL(truth || pred) = ``scipy.special.rel_entr(truth, pred).sum(1)`` (inf where
  pred is 0 and truth is not).
* :func:`bhattacharyya_coefficient` ``sum_k sqrt(truth_k * pred_k)``;
  :func:`bhattacharyya_distance` ``-ln(BC + 1e-10)`` (``eps=0`` for the textbook value).
* :func:`squared_pearson` -- the paper's per-utterance R^2: squared Pearson correlation of the
  two 4-vectors, population (co)variances, ``cov^2 / (var_t * var_p + 1e-10)``.
* :func:`js_distance` -- Jensen-Shannon distance, natural log (= ``scipy.spatial.distance.jensenshannon``).
* :func:`entropy` -- Shannon entropy of each distribution (bits by default), for data summaries.

:func:`r2_score` is the one corpus-level summary: ``"paper"`` = mean of :func:`squared_pearson`;
``"sklearn"`` = ``sklearn.metrics.r2_score(truth, pred)`` on the ``(n, 4)`` arrays (the coefficient
of determination of each class column, uniformly averaged over the 4 columns).

Accuracy-based (single label vs the majority label; labels are emotion names):

* :func:`argmax_labels` -- most likely class; ties -> the first class in AER-LLM's column order
  (neutral, happiness, anger, sadness) by default (``ties="paper"``), or the first in EMOTIONS
  order (``ties="first"``).
* :func:`accuracy`, :func:`unweighted_accuracy` (mean per-class recall over classes present in
  the truth), :func:`f1_score` (``average="weighted"`` (paper) or ``"macro"``).

Summaries (what notebooks call; plain dicts, one per table row):

* :func:`bootstrap_ci` -- percentile bootstrap CI of any ``metric_fn(*arrays) -> float``,
  resampling utterances (rows) jointly; deterministic by ``seed``.
* :func:`evaluate_distributions` -- mean KL, BD, R^2, JS with 95 % CIs and ``n``.
* :func:`evaluate_labels` -- accuracy, UA, weighted/macro F1 with 95 % CIs, ``n`` and
  ``n_no_majority`` (utterances without a majority label, excluded).
* :func:`evaluate_predictions` -- join a predicted-distribution table with the manifest on
  ``utt_id``, omit and count invalid rows, and evaluate both families (what notebooks call).
* :func:`reliability_bins` -- binned predicted vs observed probability (reliability diagram).

Example::

    from emologits import metrics
    res = metrics.evaluate_predictions(manifest, preds, kl="paper", r2="paper", n_boot=1000, seed=0)
    res["kl"], res["kl_ci_low"], res["kl_ci_high"], res["n"], res["n_invalid"], res["accuracy"]
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import entr, rel_entr

from emologits.emotions import EMOTIONS, GT_COLUMNS, PRED_COLUMNS

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


class BootstrapCI(NamedTuple):
    """A point estimate on the full sample and its percentile-bootstrap interval."""

    value: float
    low: float
    high: float


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _distributions(x: Any, name: str) -> np.ndarray:
    if isinstance(x, pd.DataFrame):  # a manifest (gt_*) or a predicted-distribution table (p_*)
        options = (PRED_COLUMNS, GT_COLUMNS) if name == "pred" else (GT_COLUMNS, PRED_COLUMNS)
        cols = next((c for c in options if set(c) <= set(x.columns)), None)
        if cols is None:
            raise ValueError(f"{name} table has neither {list(GT_COLUMNS)} nor {list(PRED_COLUMNS)}")
        x = x[list(cols)]
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == len(EMOTIONS):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != len(EMOTIONS):
        raise ValueError(f"{name} must have shape (n, {len(EMOTIONS)}) in EMOTIONS order, got {arr.shape}")
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


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
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
    _choice(convention, KL_CONVENTIONS, "KL convention")
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
    """Paper R^2 of each utterance: squared Pearson correlation of its two 4-vectors, ``(n,)``.

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
    ``"sklearn"``: ``sklearn.metrics.r2_score(truth, pred)`` on the ``(n, 4)`` arrays, i.e. the
    coefficient of determination of each class column, uniformly averaged over the 4 columns
    (can be negative).
    """
    _choice(convention, R2_CONVENTIONS, "R2 convention")
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
def argmax_labels(pred: Any, ties: str = "paper") -> np.ndarray:
    """Most likely emotion name per row, ``(n,)`` object array.

    Ties: ``"paper"`` picks the first tied class in AER-LLM's column order
    (neutral, happiness, anger, sadness) -- what its ``np.argmax`` does; ``"first"`` picks the
    first tied class in EMOTIONS order (anger, happiness, sadness, neutral).
    """
    p = _distributions(pred, "pred")
    _choice(ties, TIE_CONVENTIONS, "tie rule")
    order = PAPER_TIE_ORDER if ties == "paper" else EMOTIONS
    cols = [EMOTIONS.index(e) for e in order]
    best = np.argmax(p[:, cols], axis=1)  # np.argmax returns the first maximum
    return np.array([order[i] for i in best], dtype=object)


def _labels(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=object).ravel()
    bad = sorted({str(v) for v in arr if v not in EMOTIONS})
    if bad:
        raise ValueError(f"{name} holds labels outside {EMOTIONS}: {bad[:5]}")
    return arr


def _label_pair(true_labels: Any, pred_labels: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(true_labels, "true_labels"), _labels(pred_labels, "pred_labels")
    if t.shape != p.shape:
        raise ValueError(f"true_labels and pred_labels differ in length: {t.shape[0]} vs {p.shape[0]}")
    if t.size == 0:
        raise ValueError("no labels to score")
    return t, p


def _codes(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lut = {e: i for i, e in enumerate(EMOTIONS)}
    return np.array([lut[v] for v in t], dtype=np.int64), np.array([lut[v] for v in p], dtype=np.int64)


def _confusion(tc: np.ndarray, pc: np.ndarray) -> np.ndarray:
    k = len(EMOTIONS)
    return np.bincount(tc * k + pc, minlength=k * k).reshape(k, k)  # rows: truth, cols: pred


def _accuracy_c(cm: np.ndarray) -> float:
    return float(np.trace(cm) / cm.sum())


def _ua_c(cm: np.ndarray) -> float:
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def _f1_c(cm: np.ndarray, average: str) -> float:
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)   # true count per class
    predicted = cm.sum(axis=0).astype(np.float64)  # predicted count per class
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)  # zero_division=0
    if average == "weighted":
        return float(np.sum(f1 * support) / support.sum())
    used = denom > 0  # sklearn's default labels: classes seen in truth or pred
    return float(f1[used].mean())


def accuracy(true_labels: Any, pred_labels: Any) -> float:
    """Fraction of utterances whose predicted label equals the majority label."""
    return _accuracy_c(_confusion(*_codes(*_label_pair(true_labels, pred_labels))))


def unweighted_accuracy(true_labels: Any, pred_labels: Any) -> float:
    """Unweighted accuracy: mean per-class recall over classes present in the truth
    (= ``sklearn.metrics.balanced_accuracy_score``)."""
    return _ua_c(_confusion(*_codes(*_label_pair(true_labels, pred_labels))))


def f1_score(true_labels: Any, pred_labels: Any, average: str = "weighted") -> float:
    """F1 vs the majority label; ``"weighted"`` (paper / AER-LLM) or ``"macro"``.

    Same as ``sklearn.metrics.f1_score(..., average=average, zero_division=0)`` with its default
    label set (classes seen in truth or prediction).
    """
    _choice(average, F1_AVERAGES, "F1 average")
    return _f1_c(_confusion(*_codes(*_label_pair(true_labels, pred_labels))), average)


# --------------------------------------------------------------------------------------------
# bootstrap and summaries
# --------------------------------------------------------------------------------------------
def _resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    if n < 1:
        raise ValueError("cannot bootstrap an empty sample")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _interval(value: float, boots: np.ndarray, alpha: float) -> BootstrapCI:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    boots = np.asarray(boots, dtype=np.float64)
    # order statistics without interpolation (Efron's percentile interval); inf resamples
    # (textbook KL with a zero prediction) then give inf bounds instead of nan
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    return BootstrapCI(float(value), float(lo), float(hi))


def bootstrap_ci(
    metric_fn: Callable[..., float],
    *arrays: Any,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Percentile bootstrap ``(1 - alpha)`` CI of ``metric_fn(*arrays)``.

    All arrays are resampled with the same row indices (utterances, with replacement);
    ``n_boot`` resamples from ``numpy.random.default_rng(seed)``, so the result is
    deterministic by seed and resamples are shared (paired) across metrics with the same seed.
    Bounds are the ``alpha/2`` and ``1 - alpha/2`` order statistics of the resampled values
    (no interpolation). Returns ``BootstrapCI(value, low, high)``, ``value`` on the full sample.
    """
    arrs = [np.asarray(a) for a in arrays]
    if not arrs:
        raise ValueError("bootstrap_ci needs at least one array")
    n = len(arrs[0])
    if any(len(a) != n for a in arrs):
        raise ValueError(f"arrays differ in length: {[len(a) for a in arrs]}")
    idx = _resample_indices(n, n_boot, seed)
    boots = np.array([metric_fn(*(a[i] for a in arrs)) for i in idx], dtype=np.float64)
    return _interval(float(metric_fn(*arrs)), boots, alpha)


def _mean_ci(values: np.ndarray, idx: np.ndarray, alpha: float) -> BootstrapCI:
    """Bootstrap CI of a mean; identical to ``bootstrap_ci(np.mean, values)`` with the same idx."""
    boots = values[idx].mean(axis=1)
    return _interval(float(values.mean()), boots, alpha)


def _put(out: dict[str, Any], key: str, ci: BootstrapCI) -> None:
    out[key], out[f"{key}_ci_low"], out[f"{key}_ci_high"] = ci.value, ci.low, ci.high


def evaluate_distributions(
    truth: Any,
    pred: Any,
    *,
    kl: str = "paper",
    r2: str = "paper",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Ambiguity-based metrics of one method (one table row), with bootstrap CIs.

    Returns ``{"n", "kl", "kl_ci_low", "kl_ci_high", "bd", ..., "r2", ..., "js", ...,
    "kl_convention", "r2_convention"}``; KL, BD, JS and paper-R^2 are means of the per-utterance
    values, sklearn-R^2 is the corpus score. All CIs use the same resamples (``seed``).
    """
    t, p = _pair(truth, pred)
    _choice(kl, KL_CONVENTIONS, "KL convention")
    _choice(r2, R2_CONVENTIONS, "R2 convention")
    idx = _resample_indices(len(t), n_boot, seed)
    out: dict[str, Any] = {"n": int(len(t))}
    _put(out, "kl", _mean_ci(kl_divergence(t, p, kl), idx, alpha))
    _put(out, "bd", _mean_ci(bhattacharyya_distance(t, p), idx, alpha))
    if r2 == "paper":
        _put(out, "r2", _mean_ci(squared_pearson(t, p), idx, alpha))
    else:
        boots = np.array([r2_score(t[i], p[i], "sklearn") for i in idx])
        _put(out, "r2", _interval(r2_score(t, p, "sklearn"), boots, alpha))
    _put(out, "js", _mean_ci(js_distance(t, p), idx, alpha))
    out["kl_convention"], out["r2_convention"] = kl, r2
    return out


#: Metric keys of :func:`evaluate_labels` (each with ``_ci_low`` / ``_ci_high``).
_LABEL_METRICS: tuple[str, ...] = ("accuracy", "ua", "f1_weighted", "f1_macro")
_CI_SUFFIXES: tuple[str, ...] = ("", "_ci_low", "_ci_high")


def evaluate_labels(
    true_labels: Any,
    pred_labels: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Accuracy-based metrics of one method vs the majority label, with bootstrap CIs.

    Utterances whose true label is missing (None/NaN: no majority) are excluded and counted in
    ``n_no_majority``. Returns ``{"n", "n_no_majority", "accuracy", "accuracy_ci_low", ...,
    "ua", ..., "f1_weighted", ..., "f1_macro", ...}``, all as fractions in [0, 1]; NaN (with
    ``n = 0``) when no utterance has a majority label.
    """
    t_all = np.asarray(true_labels, dtype=object).ravel()
    p_all = np.asarray(pred_labels, dtype=object).ravel()
    if t_all.shape != p_all.shape:
        raise ValueError(f"true_labels and pred_labels differ in length: {t_all.size} vs {p_all.size}")
    has = np.array([not (v is None or (isinstance(v, float) and np.isnan(v))) for v in t_all], dtype=bool)
    out: dict[str, Any] = {"n": int(has.sum()), "n_no_majority": int((~has).sum())}
    if not has.any():  # no utterance with a majority label (e.g. a small subset): NaN metrics
        return {**out, **{f"{m}{s}": math.nan for m in _LABEL_METRICS for s in _CI_SUFFIXES}}
    t, p = _label_pair(t_all[has], p_all[has])
    tc, pc = _codes(t, p)
    idx = _resample_indices(len(tc), n_boot, seed)
    cms = [_confusion(tc[i], pc[i]) for i in idx]
    cm = _confusion(tc, pc)
    for key, fn in (
        ("accuracy", _accuracy_c),
        ("ua", _ua_c),
        ("f1_weighted", lambda c: _f1_c(c, "weighted")),
        ("f1_macro", lambda c: _f1_c(c, "macro")),
    ):
        _put(out, key, _interval(fn(cm), np.array([fn(c) for c in cms]), alpha))
    return out


#: Metric keys of :func:`evaluate_predictions` (with their CI bounds), NaN when nothing is valid.
_EMPTY_RESULT_KEYS: tuple[str, ...] = tuple(
    f"{m}{suffix}" for m in ("kl", "bd", "r2", "js", *_LABEL_METRICS) for suffix in _CI_SUFFIXES)


def evaluate_predictions(
    manifest: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    kl: str = "paper",
    r2: str = "paper",
    ties: str = "paper",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Everything for one method (one table row): pair ``predictions`` (a predicted-distribution
    table) with the manifest by ``utt_id`` (:func:`emologits.artifacts.align_with_truth`: rows
    with ``valid == False`` and manifest utterances without a prediction are omitted and counted,
    paper sec. 5.1), then :func:`evaluate_distributions` and :func:`evaluate_labels` (argmax of
    the prediction, :func:`argmax_labels` with ``ties``).

    Keys: ``n`` (utterances scored on distributions), ``n_invalid``, ``n_label`` (of those, with
    a majority label), ``n_no_majority``, ``ties`` and the keys of both helpers.
    """
    from emologits.artifacts import align_with_truth

    aligned = align_with_truth(manifest, predictions)
    if len(aligned["truth"]) == 0:
        # Nothing to score (e.g. eq. 2 invalid everywhere): an empty row that still counts the
        # invalid predictions, so a table shows "n/a" with n_invalid instead of the run failing.
        empty = {k: math.nan for k in _EMPTY_RESULT_KEYS}
        return {**empty, "n": 0, "n_label": 0, "n_no_majority": 0, "n_invalid": aligned["n_invalid"],
                "ties": ties, "kl_convention": kl, "r2_convention": r2}
    out = evaluate_distributions(aligned["truth"], aligned["pred"], kl=kl, r2=r2, n_boot=n_boot, seed=seed,
                                 alpha=alpha)
    labels = evaluate_labels(aligned["labels"], argmax_labels(aligned["pred"], ties), n_boot=n_boot, seed=seed,
                             alpha=alpha)
    out["n_label"] = labels.pop("n")
    out.update(labels)
    out["n_invalid"] = aligned["n_invalid"]
    out["ties"] = ties
    return out


def reliability_bins(truth: Any, pred: Any, n_bins: int = 10) -> pd.DataFrame:
    """Reliability-diagram data: predicted probabilities binned on [0, 1] (equal width, last bin
    closed), with the mean observed ground-truth probability in each bin.

    One row per (class, bin) with at least one entry; ``class`` is an emotion name or ``"all"``
    (the four classes pooled). Columns: ``class, bin, bin_low, bin_high, mean_pred, mean_true,
    count``.
    """
    t, p = _pair(truth, pred)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for name, tv, pv in [(e, t[:, k], p[:, k]) for k, e in enumerate(EMOTIONS)] + [("all", t.ravel(), p.ravel())]:
        b = np.clip(np.searchsorted(edges, pv, side="right") - 1, 0, n_bins - 1)
        for i in range(n_bins):
            m = b == i
            if m.any():
                rows.append((name, i, edges[i], edges[i + 1], pv[m].mean(), tv[m].mean(), int(m.sum())))
    return pd.DataFrame(rows, columns=["class", "bin", "bin_low", "bin_high", "mean_pred", "mean_true", "count"])
