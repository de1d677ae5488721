"""Post-hoc calibration of class scores against multi-rater soft labels (beyond the paper).

The class scores are what a method computes before it normalises: the token level's class logits
(eq. 1 averaged over the steps, before eq. 2; :func:`emologits.extract.token.token_class_scores`)
or the label likelihood's class log-probabilities (:func:`emologits.extract.likelihood.likelihood_class_scores`).
A calibrator maps an ``(n, N)`` score matrix to distributions:

* ``temperature`` -- ``softmax(s / T)``, one scalar ``T > 0`` (Guo et al. 2017);
* ``vector`` -- ``softmax(a * s + b)``, a scale and a bias per class;
* ``dirichlet`` -- ``softmax(W log_softmax(s) + b)``, a full matrix on the log-probabilities
  with the L2 penalty ``l2 * (||W - I||^2 + ||b||^2)`` (Kull et al. 2019).

:func:`fit` minimises the mean soft-label NLL ``-sum_k truth_k ln q_k`` (plus the penalty) with
L-BFGS (``scipy.optimize.minimize``, analytic gradients) from the identity map, so it is
deterministic. :func:`cross_fit` never fits on the utterances it predicts: each group (a speaker-
independent fold, e.g. an IEMOCAP session; config ``evaluation.calibration.groups``) is predicted
by a calibrator fitted on all the other groups. Conventions: docs/conventions.md, "Calibration".
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

#: The calibration maps, in the order tables show them.
CALIBRATION_METHODS: tuple[str, ...] = ("temperature", "vector", "dirichlet")
#: Default L2 weight of the Dirichlet map (on ``W - I`` and ``b``).
DIRICHLET_L2 = 1e-3


def _scores(class_scores: Any) -> np.ndarray:
    s = np.asarray(class_scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"class scores must have shape (n, N) with N >= 2, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("class scores hold NaN or inf (drop invalid utterances before calibrating)")
    return s


def _truth(truth: Any, n: int, k: int) -> np.ndarray:
    t = np.asarray(truth, dtype=np.float64)
    if t.shape != (n, k):
        raise ValueError(f"truth must have shape {(n, k)} like the class scores, got {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(t < 0) or not np.allclose(t.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("truth rows must be distributions (non-negative, summing to 1)")
    return t


def _check_method(method: str) -> str:
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {', '.join(CALIBRATION_METHODS)}")
    return method


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map: ``method`` and its parameters (``temperature``: ``T``;
    ``vector``: ``a``, ``b``; ``dirichlet``: ``W``, ``b``)."""

    method: str
    params: dict[str, np.ndarray]

    def logits(self, class_scores: Any) -> np.ndarray:
        """The calibrated logits (before the softmax), ``(n, N)``."""
        return _apply(self.method, self.params, _inputs(self.method, _scores(class_scores)))

    def transform(self, class_scores: Any) -> np.ndarray:
        """Calibrated distributions of ``(n, N)`` class scores."""
        return softmax(self.logits(class_scores), axis=1)


def _inputs(method: str, s: np.ndarray) -> np.ndarray:
    """What the map acts on: the scores, or (``dirichlet``) their log-softmax."""
    return log_softmax(s, axis=1) if method == "dirichlet" else s


def _apply(method: str, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The map's logits of its inputs ``x`` (:func:`_inputs`) with parameters ``p``."""
    if method == "temperature":
        return x / p["T"][0]
    if method == "vector":
        return x * p["a"] + p["b"]
    return x @ p["W"].T + p["b"]


def _unpack(method: str, theta: np.ndarray, k: int) -> dict[str, np.ndarray]:
    if method == "temperature":
        return {"T": np.exp(theta[:1])}
    if method == "vector":
        return {"a": theta[:k], "b": theta[k:]}
    return {"W": theta[: k * k].reshape(k, k), "b": theta[k * k:]}


def _start(method: str, k: int) -> np.ndarray:
    if method == "temperature":
        return np.zeros(1)  # log T = 0
    if method == "vector":
        return np.concatenate([np.ones(k), np.zeros(k)])
    return np.concatenate([np.eye(k).ravel(), np.zeros(k)])


def fit(method: str, class_scores: Any, truth: Any, *, l2: float = DIRICHLET_L2) -> Calibrator:
    """Fit ``method`` (``temperature``, ``vector``, ``dirichlet``) on ``(n, N)`` class scores
    against ``(n, N)`` soft labels by minimising the mean soft-label NLL (module doc). ``l2``:
    the Dirichlet map's penalty weight (ignored by the others)."""
    _check_method(method)
    s = _scores(class_scores)
    n, k = s.shape
    t = _truth(truth, n, k)
    if n == 0:
        raise ValueError("no utterances to fit a calibrator on")
    x = _inputs(method, s)
    eye = np.eye(k)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = _unpack(method, theta, k)
        u = _apply(method, p, x)
        logq = log_softmax(u, axis=1)
        value = -(t * logq).sum() / n
        g = (np.exp(logq) - t) / n  # d loss / d u
        if method == "temperature":
            grad = np.array([-(g * u).sum()])  # d u / d log T = -u
        elif method == "vector":
            grad = np.concatenate([(g * x).sum(axis=0), g.sum(axis=0)])
        else:
            w, b = p["W"], p["b"]
            value += l2 * (((w - eye) ** 2).sum() + (b**2).sum())
            grad = np.concatenate([(g.T @ x + 2 * l2 * (w - eye)).ravel(), g.sum(axis=0) + 2 * l2 * b])
        return float(value), grad

    res = minimize(loss, _start(method, k), jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-14})
    return Calibrator(method, {name: np.array(v, dtype=np.float64) for name, v in _unpack(method, res.x, k).items()})


def cross_fit(method: str, class_scores: Any, truth: Any, groups: Sequence[Any], *,
              l2: float = DIRICHLET_L2) -> np.ndarray:
    """Out-of-fold calibrated distributions ``(n, N)``: the rows of each group are transformed by
    a calibrator :func:`fit` on the rows of every other group only. Needs at least two groups."""
    s = _scores(class_scores)
    t = _truth(truth, *s.shape)
    g = np.asarray(list(groups), dtype=object)
    if g.shape != (len(s),):
        raise ValueError(f"groups must give one group per utterance ({len(s)}), got {g.shape}")
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in g):
        raise ValueError("groups hold missing values: every utterance needs its group")
    names = list(dict.fromkeys(g.tolist()))
    if len(names) < 2:
        raise ValueError(f"cross-fitting needs at least two groups, got {names}")
    out = np.empty_like(s)
    for name in names:
        held = g == name
        out[held] = fit(method, s[~held], t[~held], l2=l2).transform(s[held])
    return out


__all__ = ["CALIBRATION_METHODS", "DIRICHLET_L2", "Calibrator", "cross_fit", "fit"]
