"""emologits.metrics: hand-computed values, scipy/sklearn cross-checks, zeros, ties, bootstrap."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import pearsonr
from sklearn import metrics as skm

from emologits import metrics as M
from emologits.emotions import EMOTIONS, GT_COLUMNS, PRED_COLUMNS

# columns: anger, happiness, sadness, neutral
T_AMB = [1 / 3, 2 / 3, 0, 0]
P_HALF = [0.5, 0.5, 0, 0]
UNIFORM = [0.25] * 4
ONE_HOT_A = [1, 0, 0, 0]
ONE_HOT_H = [0, 1, 0, 0]


def _random_pairs(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    votes = rng.integers(0, 4, size=(n, 3))
    truth = np.stack([(votes == k).mean(axis=1) for k in range(4)], axis=1)  # has zeros
    pred = rng.dirichlet([0.7] * 4, size=n)
    pred[: n // 5, 2] = 0.0  # some exact zeros in the prediction too
    return truth, pred / pred.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ KL
def test_kl_paper_hand_values():
    kl = M.kl_divergence([T_AMB, ONE_HOT_A, UNIFORM], [P_HALF, P_HALF, ONE_HOT_A], "paper")
    # KL(pred || truth + 1e-8), zeros of pred skipped
    assert kl[0] == pytest.approx(0.5 * math.log(1.5) + 0.5 * math.log(0.75), abs=1e-6)  # 0.0588915
    assert kl[0] == pytest.approx(0.0588915, abs=1e-6)
    # truth zero under a non-zero prediction: 0.5 ln(0.5/1) + 0.5 ln(0.5/1e-8)
    assert kl[1] == pytest.approx(0.5 * math.log(2.5e7), abs=1e-6)  # 8.517193
    assert kl[1] == pytest.approx(8.517193, abs=1e-5)
    # prediction zeros contribute nothing: ln(1 / 0.25)
    assert kl[2] == pytest.approx(math.log(4), abs=1e-6)


def test_kl_paper_is_prediction_first_and_matches_scipy():
    truth, pred = _random_pairs()
    kl = M.kl_divergence(truth, pred, "paper")
    assert np.allclose(kl, rel_entr(pred, truth + 1e-8).sum(axis=1))
    # prediction is p_a: swapping the arguments changes the value
    assert not np.allclose(kl, M.kl_divergence(pred, truth, "paper"))
    assert np.all(np.isfinite(kl)) and np.all(kl >= -1e-7)


def test_kl_textbook_truth_first_matches_scipy_including_inf():
    truth, pred = _random_pairs()
    kl = M.kl_divergence(truth, pred, "textbook")
    ref = rel_entr(truth, pred).sum(axis=1)
    assert np.array_equal(np.isinf(kl), np.isinf(ref)) and np.isinf(ref).any()
    fin = np.isfinite(ref)
    assert np.allclose(kl[fin], ref[fin])
    # hand value: 1/3 ln(2/3) + 2/3 ln(4/3)
    assert M.kl_divergence([T_AMB], [P_HALF], "textbook")[0] == pytest.approx(0.0566330, abs=1e-6)
    assert M.kl_divergence([ONE_HOT_A], [ONE_HOT_H], "textbook")[0] == math.inf


def test_kl_identical_is_zero():
    assert M.kl_divergence([T_AMB], [T_AMB], "paper")[0] == pytest.approx(0.0, abs=1e-7)


# ------------------------------------------------------------------ Bhattacharyya
def test_bhattacharyya_hand_values():
    bc = M.bhattacharyya_coefficient([T_AMB, ONE_HOT_A], [P_HALF, ONE_HOT_H])
    assert bc[0] == pytest.approx(math.sqrt(1 / 6) + math.sqrt(1 / 3))  # 0.985599
    assert bc[1] == 0.0
    bd = M.bhattacharyya_distance([T_AMB, ONE_HOT_A, UNIFORM], [P_HALF, ONE_HOT_H, ONE_HOT_A])
    assert bd[0] == pytest.approx(0.0145061, abs=1e-6)
    assert bd[1] == pytest.approx(-math.log(1e-10))  # 23.0259: disjoint, kept finite by eps
    assert bd[2] == pytest.approx(math.log(2))  # BC = sqrt(0.25) = 0.5
    assert M.bhattacharyya_distance([ONE_HOT_A], [ONE_HOT_H], eps=0)[0] == math.inf
    assert M.bhattacharyya_distance([T_AMB], [T_AMB])[0] == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------ R^2
def test_squared_pearson_hand_values():
    r2 = M.squared_pearson([T_AMB, ONE_HOT_A, T_AMB], [P_HALF, [0.7, 0.1, 0.1, 0.1], UNIFORM])
    # cov 1/16, var_t 11/144, var_p 1/16: (1/16)^2 / (11/144 * 1/16 + 1e-10) = 9/11 - 1.7e-8
    assert r2[0] == pytest.approx((1 / 16) ** 2 / (11 / 144 / 16 + 1e-10), abs=1e-12)
    assert r2[0] == pytest.approx(9 / 11, abs=1e-7)
    assert r2[1] == pytest.approx(1.0, abs=1e-7)
    assert r2[2] == 0.0  # constant prediction: no correlation (eps keeps it finite)


def test_squared_pearson_matches_scipy_and_r2_paper_is_its_mean():
    truth, pred = _random_pairs(60)
    ref = np.array([pearsonr(t, p)[0] ** 2 for t, p in zip(truth, pred)])
    got = M.squared_pearson(truth, pred)
    assert np.allclose(got, ref, atol=1e-7)
    assert M.r2_score(truth, pred, "paper") == pytest.approx(ref.mean(), abs=1e-7)


def test_r2_sklearn_convention_is_sklearn_uniform_average():
    truth, pred = _random_pairs()
    assert M.r2_score(truth, pred, "sklearn") == pytest.approx(skm.r2_score(truth, pred))
    cols = [skm.r2_score(truth[:, k], pred[:, k]) for k in range(4)]
    assert M.r2_score(truth, pred, "sklearn") == pytest.approx(np.mean(cols))
    assert M.r2_score(truth, truth, "sklearn") == pytest.approx(1.0)


# ------------------------------------------------------------------ JS, entropy
def test_js_distance_matches_scipy_and_hand_values():
    truth, pred = _random_pairs()
    ref = np.array([jensenshannon(t, p) for t, p in zip(truth, pred)])
    assert np.allclose(M.js_distance(truth, pred), ref)
    assert M.js_distance([ONE_HOT_A], [ONE_HOT_H])[0] == pytest.approx(math.sqrt(math.log(2)))  # 0.832555
    assert M.js_distance([T_AMB], [T_AMB])[0] == pytest.approx(0.0, abs=1e-7)
    assert np.allclose(M.js_distance(truth, pred), M.js_distance(pred, truth))


def test_entropy_bits():
    h = M.entropy([ONE_HOT_A, T_AMB, [1 / 3, 1 / 3, 0, 1 / 3], UNIFORM])
    assert np.allclose(h, [0.0, 0.9182958, math.log2(3), 2.0], atol=1e-6)


# ------------------------------------------------------------------ labels
def test_argmax_ties():
    pred = [P_HALF, [0, 0, 0.5, 0.5], [0.5, 0, 0.5, 0], UNIFORM, [0.1, 0.2, 0.6, 0.1]]
    # paper: AER-LLM column order neutral, happiness, anger, sadness decides ties
    assert list(M.argmax_labels(pred)) == ["happiness", "neutral", "anger", "neutral", "sadness"]
    assert list(M.argmax_labels(pred, ties="first")) == ["anger", "sadness", "anger", "anger", "sadness"]


TRUE = ["anger", "anger", "anger", "anger", "happiness", "sadness"]
PRED = ["anger", "anger", "anger", "happiness", "happiness", "anger"]


def test_label_metrics_hand_values():
    assert M.accuracy(TRUE, PRED) == pytest.approx(4 / 6)
    # recall: anger 3/4, happiness 1/1, sadness 0/1; neutral absent from the truth
    assert M.unweighted_accuracy(TRUE, PRED) == pytest.approx((0.75 + 1 + 0) / 3)
    # F1: anger 0.75 (support 4), happiness 2/3 (1), sadness 0 (1)
    assert M.f1_score(TRUE, PRED) == pytest.approx((4 * 0.75 + 2 / 3) / 6)  # 0.611111
    assert M.f1_score(TRUE, PRED, average="macro") == pytest.approx((0.75 + 2 / 3 + 0) / 3)  # 0.472222


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_label_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    t = rng.choice(["anger", "happiness", "sadness"], size=200)  # neutral never true
    p = rng.choice(list(EMOTIONS), size=200, p=[0.1, 0.2, 0.3, 0.4])
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    assert M.unweighted_accuracy(t, p) == pytest.approx(skm.balanced_accuracy_score(t, p))
    for avg in ("weighted", "macro"):
        assert M.f1_score(t, p, average=avg) == pytest.approx(skm.f1_score(t, p, average=avg, zero_division=0))


def test_evaluate_labels_excludes_and_counts_no_majority():
    res = M.evaluate_labels(TRUE + [None, float("nan")], PRED + ["anger", "anger"], n_boot=50)
    assert res.n_label == 6 and res.n_no_majority == 2 and res.n == 8
    assert res["accuracy"].value == pytest.approx(4 / 6)
    assert res["f1_weighted"].value == pytest.approx(0.6111111, abs=1e-6)
    assert res["f1_macro"].value == pytest.approx(0.4722222, abs=1e-6)
    assert res["ua"].value == pytest.approx(0.5833333, abs=1e-6)
    for k in ("accuracy", "ua", "f1_weighted", "f1_macro"):
        assert 0 <= res[k].ci_low <= res[k].ci_high <= 1


def test_evaluate_labels_without_any_majority_label_is_nan_not_an_error():
    res = M.evaluate_labels([None, float("nan"), None], ["anger", "sadness", "neutral"], n_boot=20)
    assert res.n_label == 0 and res.n_no_majority == 3
    assert set(res.values) == {"accuracy", "ua", "f1_weighted", "f1_macro"}
    assert all(math.isnan(x) for v in res.values.values() for x in (v.value, v.ci_low, v.ci_high))


# ------------------------------------------------------------------ bootstrap and summaries
def test_bootstrap_ci_deterministic_contains_estimate_and_has_normal_width():
    x = np.random.default_rng(0).normal(1.0, 2.0, size=2000)
    a = M.bootstrap_ci(np.mean, x, n_boot=500, seed=7)
    b = M.bootstrap_ci(np.mean, x, n_boot=500, seed=7)
    c = M.bootstrap_ci(np.mean, x, n_boot=500, seed=8)
    assert a == b and a != c
    assert a.value == pytest.approx(x.mean())
    assert a.low < a.value < a.high
    half = 1.96 * x.std() / math.sqrt(len(x))  # normal-theory half width, 0.088
    assert (a.high - a.low) / 2 == pytest.approx(half, rel=0.15)


def test_bootstrap_ci_resamples_arrays_jointly():
    t = np.array(["anger"] * 50 + ["sadness"] * 50, dtype=object)
    ci = M.bootstrap_ci(M.accuracy, t, t.copy(), n_boot=100)  # paired rows: always 1
    assert ci == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        M.bootstrap_ci(M.accuracy, t, t[:10])


def test_evaluate_distributions_values_and_shared_resamples():
    truth, pred = _random_pairs()
    res = M.evaluate_distributions(truth, pred, n_boot=300, seed=5)
    assert res.n == len(truth) and set(res.values) == {"kl", "bd", "r2", "js", "ece", "nll", "brier"}
    assert res["kl"].value == pytest.approx(M.kl_divergence(truth, pred).mean())
    assert res["bd"].value == pytest.approx(M.bhattacharyya_distance(truth, pred).mean())
    assert res["r2"].value == pytest.approx(M.r2_score(truth, pred))
    assert res["js"].value == pytest.approx(M.js_distance(truth, pred).mean())
    kl_ci = M.bootstrap_ci(np.mean, M.kl_divergence(truth, pred), n_boot=300, seed=5)
    assert (res["kl"].ci_low, res["kl"].ci_high) == pytest.approx((kl_ci.low, kl_ci.high))
    for m in ("kl", "bd", "r2", "js"):
        assert res[m].ci_low <= res[m].value <= res[m].ci_high
    assert res == M.evaluate_distributions(truth, pred, n_boot=300, seed=5)
    only = M.evaluate_distributions(truth, pred, metrics=["bd"], n_boot=300, seed=5)
    assert set(only.values) == {"bd"} and only["bd"] == res["bd"]  # the same resamples, whatever the list

    alt = M.evaluate_distributions(truth, pred, conventions={"kl": "textbook", "r2": "sklearn"}, n_boot=50)
    assert alt.conventions == {"kl": "textbook", "bd": "paper", "r2": "sklearn", "js": "paper",
                               "ece": "paper", "nll": "paper", "brier": "paper"}
    assert alt["r2"].value == pytest.approx(skm.r2_score(truth, pred))
    boots = [skm.r2_score(truth[i], pred[i]) for i in np.random.default_rng(0).integers(0, len(truth), (50, len(truth)))]
    assert alt["r2"].ci_low == pytest.approx(np.quantile(boots, 0.025, method="inverted_cdf"))  # corpus level
    assert math.isinf(alt["kl"].value) and math.isinf(alt["kl"].ci_high)  # pred 0 where truth is not
    with pytest.raises(ValueError, match="unknown kl convention 'sym'"):
        M.evaluate_distributions(truth, pred, conventions={"kl": "sym"})


def test_dataframe_inputs_use_gt_and_p_columns():
    truth, pred = _random_pairs(20)
    tdf = pd.DataFrame(truth, columns=GT_COLUMNS).assign(utt_id=range(20))
    pdf = pd.DataFrame(pred, columns=PRED_COLUMNS)
    assert np.allclose(M.kl_divergence(tdf, pdf), M.kl_divergence(truth, pred))
    with pytest.raises(ValueError, match="neither"):
        M.entropy(pd.DataFrame({"x": [1.0]}))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"differ in shape"):
        M.kl_divergence(np.ones((3, 5)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"shape \(n, N\)"):
        M.kl_divergence(np.ones((3, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        M.js_distance([UNIFORM], [[np.nan, 0, 0, 1]])
    with pytest.raises(ValueError, match="unknown KL convention"):
        M.kl_divergence([UNIFORM], [UNIFORM], "sym")
    with pytest.raises(ValueError, match="outside"):
        M.accuracy(["angry"], ["anger"])


def _tables(n: int = 40):
    truth, pred = _random_pairs(n, seed=4)
    labels = M.argmax_labels(truth, ties="first")
    labels[truth.max(axis=1) < 0.5] = None  # no majority
    manifest = pd.DataFrame(truth, columns=GT_COLUMNS).assign(utt_id=[f"u{i}" for i in range(n)], label=labels)
    preds = pd.DataFrame(pred, columns=PRED_COLUMNS).assign(utt_id=manifest["utt_id"], valid=True, reason=None)
    preds.loc[:4, "valid"] = False
    preds.loc[:4, PRED_COLUMNS] = np.nan
    return manifest, preds.iloc[:-3], truth, pred  # last 3 utterances have no prediction row


def test_evaluate_predictions_counts_invalid_and_scores_the_rest():
    manifest, preds, truth, pred = _tables()
    res = M.evaluate_predictions(manifest, preds, n_boot=50)
    assert res.n == 40 - 5 - 3 and res.n_invalid == 5 + 3
    keep = slice(5, 37)
    assert res["kl"].value == pytest.approx(M.kl_divergence(truth[keep], pred[keep]).mean())
    has = manifest["label"].notna().to_numpy()[keep]
    assert res.n_label == has.sum() and res.n_no_majority == (~has).sum()
    want = M.accuracy(manifest["label"].to_numpy()[keep][has], M.argmax_labels(pred[keep])[has])
    assert res["accuracy"].value == pytest.approx(want)
    assert set(res.values) == set(M.METRICS.names()) and res.conventions["ties"] == "paper"
    row = res.row()
    assert row["kl"] == res["kl"].value and row["f1_macro_ci_high"] == res["f1_macro"].ci_high
    assert (row["n"], row["n_invalid"], row["n_label"]) == (res.n, res.n_invalid, res.n_label)


def test_evaluate_predictions_with_nothing_valid_is_an_empty_counted_row():
    manifest, preds, _, _ = _tables()
    result = M.evaluate_predictions(manifest, preds.assign(valid=False), n_boot=10)
    assert result.n == 0 and result.n_invalid == len(manifest)
    assert np.isnan(result["kl"].value) and np.isnan(result["accuracy"].ci_high)
    from emologits.report import tables
    row = tables.metric_table([tables.TableRow("Proposed", "Text", result)], ["kl", "bd"]).iloc[0]
    assert row["n"] == 0 and row["n_invalid"] == len(manifest) and np.isnan(row["kl"])


def test_evaluate_predictions_when_no_scored_utterance_has_a_majority_label():
    manifest, preds, truth, pred = _tables()
    result = M.evaluate_predictions(manifest.assign(label=None), preds, n_boot=10)
    assert result.n == 32 and result.n_label == 0 and result.n_no_majority == 32
    assert result["kl"].value == pytest.approx(M.kl_divergence(truth[5:37], pred[5:37]).mean())
    assert np.isnan(result["accuracy"].value) and np.isnan(result["f1_macro"].ci_high)


def test_reliability_bins():
    truth = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=float)
    pred = np.array([[0.95, 0.05, 0, 0], [0.55, 0.45, 0, 0]])
    bins = M.reliability_bins(truth, pred, n_bins=10)
    anger = bins[bins["class"] == "anger"].set_index("bin")
    assert list(anger.index) == [5, 9]
    assert anger.loc[9, "mean_true"] == 1.0 and anger.loc[5, "mean_true"] == 0.0
    pooled = bins[bins["class"] == "all"]
    assert pooled["count"].sum() == 8
    assert bins.loc[(bins["class"] == "all") & (bins["bin"] == 0), "mean_true"].item() == 0.0


# ------------------------------------------------------------------ registry, any emotion set
def test_every_registered_metric_declares_itself():
    assert M.METRICS.names() == ["kl", "bd", "r2", "js", "accuracy", "f1_weighted", "ua", "f1_macro", "ece", "nll", "brier"]
    for name in M.METRICS:
        m = M.METRICS.get(name)
        assert m.name == name and m.inputs in ("distributions", "labels") and m.conventions[0].name == "paper"
        assert m.label.endswith("↑" if m.higher_is_better else "↓"), m.label
        assert all(c.level in ("utterance", "corpus") for c in m.conventions)
    kl, r2 = M.METRICS.get("kl"), M.METRICS.get("r2")
    assert kl.convention_names == M.KL_CONVENTIONS and r2.convention_names == M.R2_CONVENTIONS
    assert [c.level for c in r2.conventions] == ["utterance", "corpus"]
    assert (kl.latex, r2.latex) == (r"KL ($\downarrow$)", r"$R^2$ ($\uparrow$)")
    assert M.METRICS.get("accuracy").percent and M.METRICS.get("accuracy").latex == r"Accuracy (\%) ($\uparrow$)"


def test_a_metric_from_outside_the_package_is_evaluated_by_name():
    manifest, preds, truth, pred = _tables()
    res = M.evaluate_predictions(manifest, preds, metrics=["report_extension:MAX_ABS_ERROR", "accuracy"], n_boot=20)
    assert set(res.values) == {"max_abs_error", "accuracy"}
    assert res["max_abs_error"].value == pytest.approx(np.abs(truth[5:37] - pred[5:37]).max(axis=1).mean())
    with pytest.raises(Exception, match="unknown metric 'kld'.*did you mean 'kl'"):
        M.evaluate_predictions(manifest, preds, metrics=["kld"])


def test_six_classes_from_the_manifest_columns():
    """N comes from the data: a cremad6 manifest and p_<class> table score without any class list."""
    from emologits.emotions import get_emotion_set

    six = get_emotion_set("cremad6")
    rng = np.random.default_rng(2)
    truth = rng.dirichlet([0.5] * 6, size=30)
    pred = rng.dirichlet([1.0] * 6, size=30)
    labels = np.array(six.names, dtype=object)[truth.argmax(axis=1)]
    manifest = pd.DataFrame(truth, columns=six.gt_columns).assign(utt_id=range(30), label=labels)
    preds = pd.DataFrame(pred, columns=six.pred_columns).assign(utt_id=range(30), valid=True, reason=None)
    res = M.evaluate_predictions(manifest, preds, n_boot=20)
    assert res.n == 30 and res["kl"].value == pytest.approx(M.kl_divergence(truth, pred).mean())
    assert res["accuracy"].value == pytest.approx(np.mean(truth.argmax(1) == pred.argmax(1)))
    assert M.reliability_bins(manifest, preds)["class"].nunique() == 7  # six classes and "all"
    with pytest.raises(Exception, match="same emotion set"):
        M.evaluate_predictions(manifest, preds.rename(columns={"p_fear": "p_surprise"}))


def test_paper_tie_order_for_any_set():
    # AER-LLM's order first (neutral, happiness, anger, sadness among the set's classes), then the set's order
    assert M.tie_order(("anger", "disgust", "fear", "happiness", "neutral", "sadness")) == (
        "neutral", "happiness", "anger", "sadness", "disgust", "fear")
    assert M.tie_order(("fear", "anger"), "first") == ("fear", "anger")
    pred = pd.DataFrame({"p_fear": [0.5, 0.2], "p_anger": [0.5, 0.8]})
    assert list(M.argmax_labels(pred)) == ["anger", "anger"]
    assert list(M.argmax_labels(pred, ties="first")) == ["fear", "anger"]
