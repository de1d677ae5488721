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


# ---------------------------------------------------------------- class scores from the records
def test_token_class_scores_are_the_logits_before_eq2():
    from emologits.extract.token import token_class_scores, token_distributions
    from test_extract_token import CLASS_IDS, TRACKED, records_frame

    records = records_frame()
    scores = token_class_scores(records, TRACKED, CLASS_IDS)
    assert list(scores.columns) == ["utt_id", *(f"s_{c}" for c in CLASS_IDS), "valid", "reason"]
    dist = token_distributions(records, TRACKED, CLASS_IDS, normalize="softmax")
    assert list(scores["valid"]) == list(dist["valid"]) and list(scores["reason"]) == list(dist["reason"])
    ok = scores["valid"].to_numpy()
    s = scores.loc[ok, [f"s_{c}" for c in CLASS_IDS]].to_numpy()
    np.testing.assert_allclose(softmax(s, axis=1), dist.loc[ok, [f"p_{c}" for c in CLASS_IDS]].to_numpy())
    ratio = token_distributions(records, TRACKED, CLASS_IDS, normalize="ratio")
    np.testing.assert_allclose((s / s.sum(1, keepdims=True))[ratio.loc[ok, "valid"].to_numpy()],
                               ratio.loc[ratio["valid"], [f"p_{c}" for c in CLASS_IDS]].to_numpy())


def test_likelihood_class_scores_are_log_probabilities():
    import pandas as pd

    from emologits.extract.likelihood import likelihood_class_scores, likelihood_distributions

    classes = ("anger", "happiness", "sadness", "neutral")
    rows = [{"utt_id": "a", "status": "ok", "error": None,
             **{f"logprob_{c}": [-1.0 - i, -2.5] for i, c in enumerate(classes)},
             **{f"n_tokens_{c}": [1, 2] for c in classes}},
            {"utt_id": "b", "status": "failed", "error": "oom",
             **{f"logprob_{c}": None for c in classes}, **{f"n_tokens_{c}": None for c in classes}}]
    records = pd.DataFrame(rows)
    scores = likelihood_class_scores(records)
    dist = likelihood_distributions(records)
    assert list(scores["valid"]) == [True, False] and scores.loc[1, "reason"] == dist.loc[1, "reason"]
    s = scores.loc[[0], [f"s_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(np.exp(s), dist.loc[[0], [f"p_{c}" for c in classes]].to_numpy())
