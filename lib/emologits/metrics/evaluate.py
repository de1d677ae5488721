"""Evaluation of one method (one table row): registered metrics with percentile-bootstrap CIs.

* :func:`bootstrap_ci` -- percentile bootstrap CI of any ``metric_fn(*arrays) -> float``,
  resampling utterances (rows) jointly; deterministic by ``seed``.
* :func:`evaluate_distributions` -- the ``"distributions"`` metrics of (truth, pred) arrays.
* :func:`evaluate_labels` -- the ``"labels"`` metrics vs the majority label; utterances without
  one are excluded and counted (``n_no_majority``).
* :func:`evaluate_predictions` -- join a predicted-distribution table with the manifest on
  ``utt_id``, omit and count invalid rows (sec. 5.1), evaluate both kinds (what artefacts call).

Each returns an :class:`EvaluationResult`: ``result["kl"]`` is a :class:`MetricValue`
``(value, ci_low, ci_high)``; ``n``, ``n_invalid``, ``n_label``, ``n_no_majority``; ``conventions``.
Which metrics: a list of names (``METRICS``) or ``package.module:OBJECT``; None: every registered one.
Resamples are shared by all metrics of a kind (paired), from ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from emologits.metrics.functions import (
    Classes, _label_names, _pair, argmax_labels, check_choice, confusion, label_codes, TIE_CONVENTIONS,
)
from emologits.metrics.spec import METRICS, Metric


class BootstrapCI(NamedTuple):
    """A point estimate on the full sample and its percentile-bootstrap interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class MetricValue:
    """One metric of one row: the value on the full sample and its 95 % bootstrap CI (NaN: not
    computable, e.g. nothing valid to score)."""

    value: float
    ci_low: float
    ci_high: float

    @classmethod
    def missing(cls) -> MetricValue:
        return cls(math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class EvaluationResult:
    """Everything one method scored: metric name -> :class:`MetricValue`, and the counts.

    ``n``: utterances scored on distributions; ``n_invalid``: rows without a valid prediction
    (None when not known, e.g. arrays given directly); ``n_label``: of those, with a majority
    label; ``n_no_majority``: without one (excluded from label metrics)."""

    values: Mapping[str, MetricValue]
    n: int
    n_invalid: int | None = None
    n_label: int = 0
    n_no_majority: int = 0
    conventions: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> MetricValue:
        return self.values[metric]

    def __contains__(self, metric: object) -> bool:
        return metric in self.values

    def get(self, metric: str) -> MetricValue:
        """The metric's value, or a missing (NaN) one when it was not computed."""
        return self.values.get(metric, MetricValue.missing())

    def count(self, metric: Metric) -> int:
        """Utterances behind ``metric``: ``n_label`` for label metrics, else ``n``."""
        return self.n_label if metric.inputs == "labels" else self.n

    def merged(self, other: EvaluationResult) -> EvaluationResult:
        """This result with ``other``'s metrics and label counts added (one row, both kinds)."""
        return EvaluationResult({**self.values, **other.values}, self.n, self.n_invalid, other.n_label,
                                other.n_no_majority, {**self.conventions, **other.conventions})

    def row(self) -> dict[str, Any]:
        """Flat ``{m: value, m_ci_low, m_ci_high, ..., n, n_invalid, n_label, n_no_majority}``."""
        out: dict[str, Any] = {}
        for m, v in self.values.items():
            out.update({m: v.value, f"{m}_ci_low": v.ci_low, f"{m}_ci_high": v.ci_high})
        return {**out, "n": self.n, "n_invalid": self.n_invalid, "n_label": self.n_label,
                "n_no_majority": self.n_no_majority}


def resolve_metrics(names: Iterable[str | Metric] | None, inputs: str | None = None) -> list[Metric]:
    """Metric specs for names (registered or ``package.module:OBJECT``; None: all registered),
    keeping those scoring ``inputs`` when given."""
    specs = [n if isinstance(n, Metric) else METRICS.get(n) for n in (METRICS.names() if names is None else names)]
    return [m for m in specs if inputs is None or m.inputs == inputs]


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


def _value(ci: BootstrapCI) -> MetricValue:
    return MetricValue(ci.value, ci.low, ci.high)


def _chosen(metrics: Sequence[Metric], conventions: Mapping[str, str] | None) -> dict[str, str]:
    conventions = dict(conventions or {})
    return {m.name: m.convention(conventions.get(m.name)).name for m in metrics}


def evaluate_distributions(
    truth: Any,
    pred: Any,
    *,
    metrics: Iterable[str | Metric] | None = None,
    conventions: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> EvaluationResult:
    """The ``"distributions"`` metrics of one method (paper sec. 4.2), with bootstrap CIs.

    ``conventions``: metric name -> convention (default: each metric's first, ``"paper"``).
    Utterance-level metrics report the mean of the per-utterance values (CI: bootstrap of the
    mean), corpus-level ones recompute on each resample. All use the same resamples (``seed``).
    """
    t, p = _pair(truth, pred)
    specs = resolve_metrics(metrics, "distributions")
    chosen = _chosen(specs, conventions)
    idx = _resample_indices(len(t), n_boot, seed)
    values = {}
    for m in specs:
        conv = m.convention(chosen[m.name])
        if conv.level == "utterance":
            per_utt = np.asarray(conv.fn(t, p), dtype=np.float64)
            ci = _interval(float(per_utt.mean()), per_utt[idx].mean(axis=1), alpha)
        else:
            ci = _interval(float(conv.fn(t, p)), np.array([conv.fn(t[i], p[i]) for i in idx]), alpha)
        values[m.name] = _value(ci)
    return EvaluationResult(values, n=int(len(t)), conventions=chosen)


def _has_label(labels: np.ndarray) -> np.ndarray:
    return np.array([not (v is None or (isinstance(v, float) and np.isnan(v))) for v in labels], dtype=bool)


def evaluate_labels(
    true_labels: Any,
    pred_labels: Any,
    *,
    metrics: Iterable[str | Metric] | None = None,
    classes: Classes = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> EvaluationResult:
    """The ``"labels"`` metrics of one method vs the majority label (sec. 5.4), with bootstrap CIs.

    Utterances whose true label is missing (None/NaN: no majority) are excluded and counted in
    ``n_no_majority``; ``n_label`` are scored; metric values are fractions in [0, 1], NaN when no
    utterance has a majority label. ``classes``: the emotion set's class names (default set when None).
    """
    t_all = np.asarray(true_labels, dtype=object).ravel()
    p_all = np.asarray(pred_labels, dtype=object).ravel()
    if t_all.shape != p_all.shape:
        raise ValueError(f"true_labels and pred_labels differ in length: {t_all.size} vs {p_all.size}")
    specs = resolve_metrics(metrics, "labels")
    has = _has_label(t_all)
    counts = {"n": int(len(t_all)), "n_label": int(has.sum()), "n_no_majority": int((~has).sum())}
    chosen = _chosen(specs, None)
    if not has.any():  # no utterance with a majority label (e.g. a small subset): NaN metrics
        return EvaluationResult({m.name: MetricValue.missing() for m in specs}, conventions=chosen, **counts)
    tc, pc = label_codes(t_all[has], p_all[has], classes)
    k = len(_label_names(classes))
    idx = _resample_indices(len(tc), n_boot, seed)
    cms = [confusion(tc[i], pc[i], k) for i in idx]
    cm = confusion(tc, pc, k)
    values = {}
    for m in specs:
        fn = m.convention().fn
        values[m.name] = _value(_interval(fn(cm), np.array([fn(c) for c in cms]), alpha))
    return EvaluationResult(values, conventions=chosen, **counts)


def evaluate_predictions(
    manifest: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    metrics: Iterable[str | Metric] | None = None,
    conventions: Mapping[str, str] | None = None,
    ties: str = "paper",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> EvaluationResult:
    """Everything for one method (one table row): pair ``predictions`` (a predicted-distribution
    table) with the manifest by ``utt_id`` (:func:`emologits.artifacts.align_with_truth`: rows
    with ``valid == False`` and manifest utterances without a prediction are omitted and counted,
    paper sec. 5.1), then :func:`evaluate_distributions` and :func:`evaluate_labels` (argmax of
    the prediction, :func:`~emologits.metrics.functions.argmax_labels` with ``ties``). The classes
    are the manifest's ``gt_<class>`` columns.
    """
    from emologits.artifacts import align_with_truth

    check_choice(ties, TIE_CONVENTIONS, "tie rule")
    specs = resolve_metrics(metrics)
    dist_specs = [m for m in specs if m.inputs == "distributions"]
    label_specs = [m for m in specs if m.inputs == "labels"]
    aligned = align_with_truth(manifest, predictions)
    classes = aligned["classes"]
    chosen = {**_chosen(dist_specs, conventions), **_chosen(label_specs, None), "ties": ties}
    if len(aligned["truth"]) == 0:
        # Nothing to score (e.g. eq. 2 invalid everywhere): an empty row that still counts the
        # invalid predictions, so a table shows "n/a" with n_invalid instead of the run failing.
        return EvaluationResult({m.name: MetricValue.missing() for m in specs}, n=0,
                                n_invalid=aligned["n_invalid"], conventions=chosen)
    dist = evaluate_distributions(aligned["truth"], aligned["pred"], metrics=dist_specs, conventions=conventions,
                                  n_boot=n_boot, seed=seed, alpha=alpha)
    labels = evaluate_labels(aligned["labels"], argmax_labels(aligned["pred"], ties, classes), metrics=label_specs,
                             classes=classes, n_boot=n_boot, seed=seed, alpha=alpha)
    both = dist.merged(labels)
    return EvaluationResult(both.values, both.n, aligned["n_invalid"], both.n_label, both.n_no_majority, chosen)
