"""Evaluation metrics (paper sec. 4.2 "Evaluation"): ambiguity-based and accuracy-based.

* :mod:`emologits.metrics.functions` -- the functions, ``f(truth, pred)`` on ``(n, N)`` arrays over
  any emotion set (KL, BD, R², JS, entropy; argmax labels, accuracy, UA, F1; reliability bins).
* :mod:`emologits.metrics.spec` -- :class:`Metric` (name, label, direction, level, conventions)
  and the ``METRICS`` registry; :mod:`emologits.metrics.builtin` the paper's metrics;
  :mod:`emologits.metrics.probabilistic` ECE, soft-label NLL and Brier (beyond the paper).
* :mod:`emologits.metrics.evaluate` -- bootstrap CIs and :func:`evaluate_predictions` ->
  :class:`EvaluationResult` (what the paper's artefacts call).

Example::

    from emologits import metrics
    res = metrics.evaluate_predictions(manifest, preds, metrics=["kl", "bd", "r2"],
                                       conventions={"kl": "paper"}, n_boot=1000, seed=0)
    res["kl"].value, res["kl"].ci_low, res["kl"].ci_high, res.n, res.n_invalid
"""
from emologits.metrics.evaluate import (
    BootstrapCI, EvaluationResult, MetricValue, bootstrap_ci, evaluate_distributions, evaluate_labels,
    evaluate_predictions, resolve_metrics,
)
from emologits.metrics.functions import (
    BD_EPS, F1_AVERAGES, KL_CONVENTIONS, KL_EPS, PAPER_TIE_ORDER, R2_CONVENTIONS, R2_EPS, TIE_CONVENTIONS,
    accuracy, argmax_labels, bhattacharyya_coefficient, bhattacharyya_distance, class_names, entropy, f1_score,
    js_distance, kl_divergence, r2_score, reliability_bins, squared_pearson, tie_order, unweighted_accuracy,
)
from emologits.metrics.probabilistic import ECE_BINS, NLL_EPS, brier_score, expected_calibration_error, soft_nll
from emologits.metrics.spec import METRICS, Convention, Metric

__all__ = [
    "BD_EPS", "BootstrapCI", "ECE_BINS", "NLL_EPS", "brier_score", "expected_calibration_error", "soft_nll", "Convention", "EvaluationResult", "F1_AVERAGES", "KL_CONVENTIONS", "KL_EPS",
    "METRICS", "Metric", "MetricValue", "PAPER_TIE_ORDER", "R2_CONVENTIONS", "R2_EPS", "TIE_CONVENTIONS",
    "accuracy", "argmax_labels", "bhattacharyya_coefficient", "bhattacharyya_distance", "bootstrap_ci",
    "class_names", "entropy", "evaluate_distributions", "evaluate_labels", "evaluate_predictions", "f1_score",
    "js_distance", "kl_divergence", "r2_score", "reliability_bins", "resolve_metrics", "squared_pearson",
    "tie_order", "unweighted_accuracy",
]
