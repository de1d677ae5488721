"""Post-hoc calibration: each map recovers the parameters the soft labels were generated with;
cross-fitting predicts a group with a calibrator fitted on the other groups only."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax, softmax

from emologits import calibration as C


def _scores(n: int = 400, k: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 2.0, size=(n, k))


def test_temperature_recovers_the_generating_temperature():
    s = _scores()
    cal = C.fit("temperature", s, softmax(s / 2.5, axis=1))
    assert cal.params["T"][0] == pytest.approx(2.5, rel=1e-4)
    np.testing.assert_allclose(cal.transform(s), softmax(s / 2.5, axis=1), atol=1e-5)


def test_vector_recovers_scales_and_bias():
    s = _scores(seed=1)
    a, b = np.array([0.5, 1.0, 2.0, 1.5]), np.array([0.3, -0.2, 0.0, 0.4])
    cal = C.fit("vector", s, softmax(s * a + b, axis=1))
    np.testing.assert_allclose(cal.params["a"], a, atol=1e-3)
    # the softmax ignores a common shift of the bias: compare centred biases
    np.testing.assert_allclose(cal.params["b"] - cal.params["b"].mean(), b - b.mean(), atol=1e-3)


def test_dirichlet_recovers_a_matrix_and_bias_without_penalty():
    s = _scores(seed=2)
    w = np.eye(4) + np.array([[0.2, 0, 0.1, 0], [0, -0.3, 0, 0.1], [0.1, 0, 0.4, 0], [0, 0.2, 0, 0]])
    b = np.array([0.5, 0.0, -0.5, 0.2])
    truth = softmax(log_softmax(s, axis=1) @ w.T + b, axis=1)
    cal = C.fit("dirichlet", s, truth, l2=0.0)
    np.testing.assert_allclose(cal.transform(s), truth, atol=1e-4)
    # rows of W and b are identified up to a shift common to all classes (the softmax)
    def centred(m):
        return m - m.mean(axis=0, keepdims=True)
    np.testing.assert_allclose(centred(cal.params["W"]), centred(w), atol=1e-3)
    # the penalty shrinks towards the identity map
    strong = C.fit("dirichlet", s, truth, l2=10.0)
    assert np.abs(strong.params["W"] - np.eye(4)).sum() < np.abs(cal.params["W"] - np.eye(4)).sum()


def test_fit_is_deterministic_and_checks_inputs():
    s = _scores(50, seed=3)
    t = softmax(-s, axis=1)
    a, b = C.fit("vector", s, t), C.fit("vector", s, t)
    np.testing.assert_array_equal(a.params["a"], b.params["a"])
    with pytest.raises(ValueError, match="unknown calibration method"):
        C.fit("platt", s, t)
    with pytest.raises(ValueError, match="NaN"):
        C.fit("temperature", np.where(s > 3, np.nan, s), t)
    with pytest.raises(ValueError, match="distributions"):
        C.fit("temperature", s, t * 2)


@pytest.mark.parametrize("method", C.CALIBRATION_METHODS)
def test_cross_fit_predicts_each_group_from_the_others(method):
    rng = np.random.default_rng(4)
    s = _scores(120, seed=5)
    truth = np.array([rng.dirichlet(5 * q + 0.1) for q in softmax(s / 2, axis=1)])
    groups = np.array(["Ses01", "Ses02", "Ses03"] * 40)
    out = C.cross_fit(method, s, truth, groups)
    for g in ("Ses01", "Ses02", "Ses03"):
        held = groups == g
        expected = C.fit(method, s[~held], truth[~held]).transform(s[held])
        np.testing.assert_array_equal(out[held], expected)
        # not the in-sample fit: the group's own labels were never seen
        assert not np.allclose(out[held], C.fit(method, s, truth).transform(s[held]))
    with pytest.raises(ValueError, match="at least two groups"):
        C.cross_fit(method, s, truth, ["a"] * 120)
    with pytest.raises(ValueError, match="one group per utterance"):
        C.cross_fit(method, s, truth, groups[:10])
