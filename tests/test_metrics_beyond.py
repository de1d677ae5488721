"""ECE, soft-label NLL and Brier against hand-computed values; registered with CIs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emologits import metrics as M

# paper4 order: anger, happiness, sadness, neutral
TRUTH = np.array([[1.0, 0, 0, 0], [0, 0.5, 0, 0.5], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
PRED = np.array([[0.9, 0.1, 0, 0], [0.1, 0.3, 0.1, 0.5], [0.45, 0, 0.35, 0.2], [0.3, 0.3, 0.1, 0.3]])


def test_ece_by_hand():
    # confidences 0.9, 0.5, 0.45, 0.3; correct: yes; (truth tie happiness/neutral -> neutral under the
    # paper order, pred neutral) yes; no (anger vs sadness); row 4: pred tie anger/happiness/neutral ->
    # neutral (paper order), truth neutral: yes.
    # 5 bins (lower, upper]: 0.9 -> (0.8, 1]; 0.5, 0.45 -> (0.4, 0.6]; 0.3 -> (0.2, 0.4]
    expected = 0.25 * abs(0.9 - 1) + 0.5 * abs(0.475 - 0.5) + 0.25 * abs(0.3 - 1)
    assert M.expected_calibration_error(TRUTH, PRED) == pytest.approx(expected)
    # ties="first" gives row 4 to anger (set order) -> wrong, and row 2's truth to happiness -> wrong
    first = 0.25 * 0.1 + 0.5 * abs(0.475 - 0.0) + 0.25 * 0.3
    assert M.expected_calibration_error(TRUTH, PRED, ties="first") == pytest.approx(first)


def test_ece_bins_are_lower_open_upper_closed():
    truth = np.array([[1.0, 0], [1.0, 0]])
    pred = np.array([[0.6, 0.4], [0.8, 0.2]])  # 0.6 and 0.8 sit on bin edges of 5 bins
    # (0.4, 0.6] and (0.6, 0.8]: two bins with one utterance each, both correct
    assert M.expected_calibration_error(truth, pred, classes=["a", "b"]) == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)
    # one bin (0, 1]: |0.7 - 1|
    assert M.expected_calibration_error(truth, pred, n_bins=1, classes=["a", "b"]) == pytest.approx(0.3)


def test_ece_as_the_aer_llm_code_defines_it():
    """AER-LLM's ECE (Evaluation/eval_metrics.py): max prob, np.argmax of both in its column order
    (neutral, happy, angry, sad), 5 bins (lower, upper] -- rewritten here in that order."""
    rng = np.random.default_rng(3)
    truth = rng.dirichlet(np.ones(4) * 0.3, 200).round(1)
    truth = truth / truth.sum(1, keepdims=True)
    pred = rng.dirichlet(np.ones(4), 200).round(1)
    pred = np.where(pred.sum(1, keepdims=True) > 0, pred, 0.25)
    repo = [3, 1, 0, 2]  # repo column order as indices into paper4 (neutral, happiness, anger, sadness)
    t, p = truth[:, repo], pred[:, repo]
    conf = p.max(1)
    acc = p.argmax(1) == t.argmax(1)
    ref = 0.0
    for lo, hi in zip(np.linspace(0, 1, 6)[:-1], np.linspace(0, 1, 6)[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.mean() > 0:
            ref += abs(conf[m].mean() - acc[m].mean()) * m.mean()
    assert M.expected_calibration_error(truth, pred) == pytest.approx(ref)


def test_nll_and_brier_by_hand():
    nll = M.soft_nll(TRUTH, PRED)
    assert nll[0] == pytest.approx(-math.log(0.9))
    assert nll[1] == pytest.approx(-0.5 * math.log(0.3) - 0.5 * math.log(0.5))
    assert nll[3] == pytest.approx(-math.log(0.3))
    # a zero prediction where the truth has mass: finite, -ln(1e-12)
    assert M.soft_nll([[1.0, 0]], [[0.0, 1.0]])[0] == pytest.approx(-math.log(M.NLL_EPS))
    brier = M.brier_score(TRUTH, PRED)
    assert brier[0] == pytest.approx(0.01 + 0.01)
    assert brier[1] == pytest.approx(0.01 + 0.04 + 0.01 + 0.0)
    assert M.brier_score([[1.0, 0]], [[0.0, 1.0]])[0] == pytest.approx(2.0)


def test_registered_with_cis():
    for name in ("ece", "nll", "brier"):
        m = M.METRICS.get(name)
        assert m.inputs == "distributions" and not m.higher_is_better and m.conventions[0].name == "paper"
    rng = np.random.default_rng(0)
    truth, pred = rng.dirichlet(np.ones(4), 50), rng.dirichlet(np.ones(4), 50)
    res = M.evaluate_distributions(truth, pred, metrics=["ece", "nll", "brier"], n_boot=200, seed=1)
    for name in ("ece", "nll", "brier"):
        v = res[name]
        assert v.ci_low <= v.value <= v.ci_high and v.ci_low < v.ci_high
    assert res["nll"].value == pytest.approx(M.soft_nll(truth, pred).mean())
    assert res["ece"].value == pytest.approx(M.expected_calibration_error(truth, pred))


def test_dataframes_give_class_names_for_ties():
    cols = ["anger", "happiness", "sadness", "neutral"]
    truth = pd.DataFrame(TRUTH, columns=[f"gt_{c}" for c in cols])
    pred = pd.DataFrame(PRED, columns=[f"p_{c}" for c in cols])
    assert M.expected_calibration_error(truth, pred) == pytest.approx(M.expected_calibration_error(TRUTH, PRED))
