"""Beyond the paper (notebook 09): the rows of table_beyond from synthetic records and tables --
calibrated rows cross-fitted (each group from a map fitted on the others), ensembles as the mean of
the per-prompt distributions, the model-seconds column, and the artefacts built from a run."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from emologits import calibration
from emologits import metrics as M
from emologits.artifacts import DistributionKey, write_distributions
from emologits.config import config_from_dict
from emologits.emotions import get_emotion_set
from emologits.errors import ConfigError
from emologits.notebook import Session
from emologits.report import ARTEFACTS, build_artefact
from emologits.report.beyond import (
    NO_VALID_PROMPT, NOT_IN_MANIFEST, SECONDS, MethodRow, beyond_table, cross_fitted_table, ensemble_table,
    model_seconds, softmax_table,
)
from emologits.report.stamp import PIPELINE_CHECK_STAMP

ES = get_emotion_set("paper4")
CLASSES = list(ES.names)


def _truth(rng, n):
    votes = rng.integers(0, ES.n, size=(n, 3))
    return np.stack([(votes == k).mean(axis=1) for k in range(ES.n)], axis=1)


def _manifest(truth, groups):
    labels = M.argmax_labels(truth, ties="first", classes=ES)
    labels[truth.max(axis=1) < 0.5] = None
    return pd.DataFrame(truth, columns=ES.gt_columns).assign(
        utt_id=[f"u{i:03d}" for i in range(len(truth))], label=labels, session=groups)


def _scores(values, utt_ids, invalid=()):
    df = pd.DataFrame(values, columns=[f"s_{c}" for c in CLASSES]).assign(utt_id=list(utt_ids), valid=True, reason=None)
    for i in invalid:
        df.loc[i, [f"s_{c}" for c in CLASSES]] = np.nan
        df.loc[i, ["valid", "reason"]] = [False, "nonfinite_logit"]
    return df[["utt_id", *(f"s_{c}" for c in CLASSES), "valid", "reason"]]


def _dist(probs, utt_ids, invalid=()):
    df = pd.DataFrame(probs, columns=ES.pred_columns).assign(utt_id=list(utt_ids), valid=True, reason=None)
    for i in invalid:
        df.loc[i, list(ES.pred_columns)] = np.nan
        df.loc[i, ["valid", "reason"]] = [False, "no_percentages"]
    return df[["utt_id", *ES.pred_columns, "valid", "reason"]]


def test_softmax_table_is_the_identity_map_and_keeps_invalid_rows():
    s = np.random.default_rng(0).normal(size=(5, 4))
    table = softmax_table(_scores(s, [f"u{i}" for i in range(5)], invalid=[2]))
    keep = [0, 1, 3, 4]
    assert np.allclose(table.loc[keep, list(ES.pred_columns)].to_numpy(), softmax(s[keep], axis=1))
    assert table["valid"].tolist() == [True, True, False, True, True]
    assert table.loc[2, "reason"] == "nonfinite_logit" and table.loc[2, list(ES.pred_columns)].isna().all()


@pytest.mark.parametrize("method", calibration.CALIBRATION_METHODS)
def test_cross_fitted_rows_of_a_group_equal_a_fit_on_the_other_groups(method):
    rng = np.random.default_rng(1)
    n = 60
    truth = _truth(rng, n)
    groups = np.repeat([1, 2, 3], n // 3)
    manifest = _manifest(truth, groups)
    s = 3.0 * np.log(truth + 0.2) + rng.normal(scale=0.5, size=(n, 4))
    ids = list(manifest["utt_id"]) + ["stranger"]  # an utterance the manifest lacks
    scores = _scores(np.vstack([s, rng.normal(size=(1, 4))]), ids, invalid=[7])
    table = cross_fitted_table(scores, manifest.sample(frac=1.0, random_state=0), method, groups="session", l2=0.01)
    assert list(table["utt_id"]) == ids
    assert table.loc[7, "reason"] == "nonfinite_logit" and table.loc[n, "reason"] == NOT_IN_MANIFEST
    usable = np.ones(n, dtype=bool)
    usable[7] = False
    for g in (1, 2, 3):
        held, train = usable & (groups == g), usable & (groups != g)
        want = calibration.fit(method, s[train], truth[train], l2=0.01).transform(s[held])
        assert np.allclose(table.loc[np.flatnonzero(held), list(ES.pred_columns)].to_numpy(), want, atol=1e-10)
        # the group's own utterances never reach its map: a fit on everything gives other numbers
        leaked = calibration.fit(method, s[usable], truth[usable], l2=0.01).transform(s[held])
        assert not np.allclose(want, leaked, atol=1e-6)


def test_utterances_without_a_group_are_counted_invalid_and_never_fitted_on():
    rng = np.random.default_rng(7)
    truth = _truth(rng, 12)
    manifest = _manifest(truth, [1.0] * 5 + [np.nan] + [2.0] * 6)
    s = rng.normal(size=(12, 4))
    table = cross_fitted_table(_scores(s, manifest["utt_id"]), manifest, "temperature")
    assert table["valid"].tolist() == [True] * 5 + [False] + [True] * 6
    assert table.loc[5, "reason"] == "no_calibration_group"
    keep = np.arange(12) != 5
    g1, g2 = keep & (np.arange(12) < 5), keep & (np.arange(12) > 5)
    want = calibration.fit("temperature", s[g2], truth[g2]).transform(s[g1])
    assert np.allclose(table.loc[np.flatnonzero(g1), list(ES.pred_columns)].to_numpy(), want)


def test_cross_fitting_names_the_config_key_when_the_group_column_is_missing():
    rng = np.random.default_rng(2)
    manifest = _manifest(_truth(rng, 6), [1, 1, 1, 2, 2, 2])
    with pytest.raises(ConfigError, match=r"evaluation\.calibration\.groups: the manifest has no column 'speakr'.*session"):
        cross_fitted_table(_scores(rng.normal(size=(6, 4)), manifest["utt_id"]), manifest, "temperature",
                           groups="speakr")


def test_an_ensemble_is_the_mean_of_the_per_prompt_distributions():
    rng = np.random.default_rng(3)
    ids = [f"u{i}" for i in range(6)]
    a, b, c = (rng.dirichlet([1.0] * 4, size=6) for _ in range(3))
    table = ensemble_table([_dist(a, ids, invalid=[1, 4]), _dist(b, ids, invalid=[4]), _dist(c, ids, invalid=[4])])
    probs = table[list(ES.pred_columns)].to_numpy()
    for i in (0, 2, 3, 5):
        assert np.allclose(probs[i], (a[i] + b[i] + c[i]) / 3)
    assert np.allclose(probs[1], (b[1] + c[1]) / 2)  # an invalid answer is left out of its utterance's mean
    assert table["valid"].tolist() == [True, True, True, True, False, True]
    assert table.loc[4, "reason"] == NO_VALID_PROMPT
    assert np.allclose(probs[[0, 1, 2, 3, 5]].sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="at least two prompts"):
        ensemble_table([_dist(a, ids)])


def test_model_seconds_and_the_cost_column():
    records = pd.DataFrame({"utt_id": ["a", "b", "c", "d"], "seconds": [0.5, 0.25, 0.25, 0.0]})
    assert model_seconds(records) == pytest.approx(0.25)
    assert np.isnan(model_seconds(records.iloc[:0]))
    rng = np.random.default_rng(4)
    truth = _truth(rng, 30)
    manifest = _manifest(truth, np.repeat([1, 2], 15))
    tables = [_dist(rng.dirichlet([1.0] * 4, size=30), manifest["utt_id"], invalid=range(i)) for i in range(2)]
    df = beyond_table([MethodRow("Paper", "A", tables[0], 0.5), MethodRow("Ensemble", "B", tables[1], 1.25)],
                      manifest, ("kl", "ece", "nll", "brier", "ua"), n_boot=20, seed=0)
    assert df[SECONDS].tolist() == [0.5, 1.25] and df["method"].tolist() == ["A", "B"]
    want = M.evaluate_predictions(manifest, tables[1], metrics=["kl", "ece", "nll", "brier", "ua"], n_boot=20, seed=0)
    assert df.loc[1, "nll"] == want["nll"].value and df.loc[1, "ece"] == want["ece"].value
    assert (df.loc[1, "n"], df.loc[1, "n_invalid"]) == (29, 1)


# --------------------------------------------------------------------------------------------
# the artefacts, from a run with synthetic records
# --------------------------------------------------------------------------------------------
CLASS_IDS = {c: [[10 + k]] for k, c in enumerate(CLASSES)}
SECONDS_PER = {("generate", "ambiguous"): 0.02, ("generate", "single"): 0.01, ("likelihood", "ambiguous"): 0.004}


def _write_records(session, prompt_id, method, rows, **info):
    from emologits.inference.runner import output_dir

    out = output_dir(session.run_dir, prompt_id, method)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(out / "part-00000.parquet", index=False)
    info = {"manifest": {"n_utterances": len(rows)}, "tracked_ids": [10, 11, 12, 13], "class_token_ids": CLASS_IDS,
            **info}
    (out / "run.json").write_text(json.dumps(info))


def _answer(p):
    return ", ".join(f"{c.capitalize()}: {round(100 * v)}%" for c, v in zip(CLASSES, p))


def _add_sampling_and_contextual(session, rng, n_samples=10):
    """``sampling`` records (n answers each) and ``contextual`` records (two content-free inputs)."""
    session.cfg.pipeline["methods"] = ["generate", "likelihood", "sampling", "contextual"]
    session.cfg.pipeline["sampling"] = {"n": n_samples}
    ids = list(session.manifest["utt_id"])
    samples = {u: [_answer(rng.dirichlet([1.0] * 4)) for _ in range(n_samples)] for u in ids}
    _write_records(session, "ambiguous", "sampling", [
        {"utt_id": u, "status": "ok", "error": None, "texts": samples[u], "seconds": 0.5} for u in ids],
        prompt={"id": "ambiguous", "kind": "distribution"})
    cf = rng.normal(size=(2, 4))
    _write_records(session, "ambiguous", "contextual", [
        {"utt_id": u, "status": "ok", "error": None, "generated_token_ids": [10], "tracked_logits": [list(cf[i])],
         **{f"logprob_{c}": [float(cf[i, k] - 2)] for k, c in enumerate(CLASSES)},
         **{f"n_tokens_{c}": [1] for c in CLASSES}, "seconds": 0.9}
        for i, u in enumerate(["noise-0", "silence"])], own_inputs=True)
    return samples, cf


def _run(tmp_path, groups, n=45, seed=5) -> tuple[Session, np.ndarray, np.ndarray]:
    """A pipeline-check run: manifest, generate and likelihood records, every distribution table."""
    cfg = config_from_dict({"run": "beyond", "pipeline_check": True,
                            "evaluation": {"token_normalize": "softmax", "bootstrap": 30,
                                           "calibration": {"groups": "session", "l2": 0.01},
                                           "ensemble": {"prompts": ["ambiguous", "single"]}}})
    cfg.output_root = tmp_path
    session = Session.from_config(cfg)
    rng = np.random.default_rng(seed)
    truth = _truth(rng, n)
    session.manifest = _manifest(truth, groups(n))
    ids = list(session.manifest["utt_id"])
    z = {p: 2.0 * np.log(truth + 0.1) + rng.normal(scale=0.7, size=(n, 4)) for p in ("ambiguous", "single")}
    for p in ("ambiguous", "single"):
        _write_records(session, p, "generate", [
            {"utt_id": u, "status": "ok", "error": None, "generated_token_ids": [10, 12],
             "tracked_logits": [list(z[p][i] - 0.5), list(z[p][i] + 0.5)], "seconds": SECONDS_PER[("generate", p)]}
            for i, u in enumerate(ids)])
        write_distributions(cfg, f"token__{p}__all__softmax", _dist(softmax(z[p], axis=1), ids))
        invalid = [0, 1] if p == "ambiguous" else [1, 2]
        write_distributions(cfg, f"text__{p}", _dist(rng.dirichlet([1.0] * 4, size=n), ids, invalid=invalid))
    logp = np.log(softmax(np.log(truth + 0.3) + rng.normal(scale=0.5, size=(n, 4)), axis=1))
    _write_records(session, "ambiguous", "likelihood", [
        {"utt_id": u, "status": "ok", "error": None, **{f"logprob_{c}": [float(logp[i, k])] for k, c in enumerate(CLASSES)},
         **{f"n_tokens_{c}": [1] for c in CLASSES}, "seconds": SECONDS_PER[("likelihood", "ambiguous")]}
        for i, u in enumerate(ids)])
    write_distributions(cfg, "likelihood__ambiguous", _dist(np.exp(logp), ids))
    return session, z["ambiguous"], truth


def test_table_beyond_rows_values_costs_and_files(tmp_path):
    from PIL import Image

    session, z, truth = _run(tmp_path, lambda n: np.repeat([1, 2, 3], n // 3))
    built = build_artefact("table_beyond", session)
    df = built.table.set_index("method")
    assert list(df.index) == [
        "Text (paper)", "Token-level (softmax, paper)", "Token-level + temperature", "Token-level + vector",
        "Token-level + Dirichlet", "Text ensemble (2 prompts)", "Token-level ensemble (2 prompts)",
        "Label likelihood", "Label likelihood + temperature", "Label likelihood + vector", "Label likelihood + Dirichlet"]
    # the calibrated row scores the cross-fitted distributions of the class logits (eq. 1, before eq. 2)
    groups = session.manifest["session"].to_numpy()
    want = np.empty_like(z)
    for g in (1, 2, 3):
        want[groups == g] = calibration.fit("dirichlet", z[groups != g], truth[groups != g], l2=0.01).transform(
            z[groups == g])
    dist = _dist(want, session.manifest["utt_id"])
    expected = M.evaluate_predictions(session.manifest, dist, metrics=["kl", "nll", "ece"], **session.evaluation)
    assert df.loc["Token-level + Dirichlet", "nll"] == pytest.approx(expected["nll"].value, rel=1e-6)
    assert df.loc["Token-level + Dirichlet", "kl"] == pytest.approx(expected["kl"].value, rel=1e-6)
    # costs: text/token = the generation, calibration adds none, an ensemble costs the sum of its prompts
    assert df.loc["Text (paper)", SECONDS] == pytest.approx(0.02) == df.loc["Token-level + vector", SECONDS]
    assert df.loc["Token-level ensemble (2 prompts)", SECONDS] == pytest.approx(0.03)
    assert df.loc["Label likelihood + temperature", SECONDS] == pytest.approx(0.004)
    assert (df.loc["Text (paper)", "n"], df.loc["Text (paper)", "n_invalid"]) == (43, 2)
    assert df.loc["Text ensemble (2 prompts)", "n_invalid"] == 1  # only u001 is invalid under both prompts
    for m in ("kl", "bd", "r2", "js", "ece", "nll", "brier", "accuracy", "ua"):
        assert {m, f"{m}_ci_low", f"{m}_ci_high"} <= set(df.columns)
    assert "contextual" in built.caption and "sampling" in built.caption and "Not in this table" in built.caption
    md = (session.figures_dir / "table_beyond.md").read_text()
    assert "model-s/utt" in md and "0.03" in md and PIPELINE_CHECK_STAMP in md and "3 groups" in md
    assert (session.figures_dir / "table_beyond.csv").read_text().startswith("# PIPELINE CHECK")
    for name in ("reliability_calibration_token", "reliability_calibration_likelihood"):
        png = [p for p in build_artefact(name, session).paths if p.suffix == ".png"][0]
        assert png.stat().st_size > 1000 and Image.open(png).text["Description"] == PIPELINE_CHECK_STAMP


def test_one_group_or_no_likelihood_leaves_rows_out_and_says_so(tmp_path):
    session, _, _ = _run(tmp_path, lambda n: np.ones(n, dtype=int), n=12)
    session.cfg.pipeline["methods"] = ["generate"]
    built = build_artefact("table_beyond", session)
    assert list(built.table["method"]) == ["Text (paper)", "Token-level (softmax, paper)",
                                           "Text ensemble (2 prompts)", "Token-level ensemble (2 prompts)"]
    assert "cross-fitting needs at least two groups in the manifest column `session`" in built.caption
    assert "columns with two or more: none" in built.caption
    assert "label likelihood rows (`likelihood` is not in pipeline.methods)" in built.caption
    assert DistributionKey("likelihood", "ambiguous") not in ARTEFACTS.get("table_beyond").inputs(session)


def test_sampling_and_contextual_rows_values_and_costs(tmp_path):
    from emologits.extract.contextual import contextual_correction
    from emologits.extract.text import text_distributions
    from emologits.extract.token import token_class_scores

    session, z, _ = _run(tmp_path, lambda n: np.repeat([1, 2, 3], n // 3))
    samples, cf = _add_sampling_and_contextual(session, np.random.default_rng(6))
    n = len(session.manifest)
    df = build_artefact("table_beyond", session).table.set_index("method")
    assert "Not in this table" not in build_artefact("table_beyond", session).caption
    assert {"Token-level + contextual", "Sampling (N = 10)", "Label likelihood + contextual"} <= set(df.index)
    # contextual: the content-free softmax divided out; cost = generation + content-free seconds per utterance
    ids = session.manifest["utt_id"]
    scores = token_class_scores(pd.DataFrame({"utt_id": ids, "status": "ok", "error": None,
                                              "generated_token_ids": [[10, 12]] * n,
                                              "tracked_logits": [[list(r - 0.5), list(r + 0.5)] for r in z]}),
                                [10, 11, 12, 13], CLASS_IDS)
    p_cf = softmax(cf, axis=1).mean(axis=0)
    q = softmax(z, axis=1) / p_cf
    assert np.allclose(contextual_correction(scores, _scores(cf, ["noise-0", "silence"]))[list(ES.pred_columns)],
                       q / q.sum(axis=1, keepdims=True))
    want = M.evaluate_predictions(session.manifest, _dist(q / q.sum(axis=1, keepdims=True), ids), metrics=["nll"],
                                  **session.evaluation)
    assert df.loc["Token-level + contextual", "nll"] == pytest.approx(want["nll"].value, rel=1e-9)
    assert df.loc["Token-level + contextual", SECONDS] == pytest.approx(0.02 + 2 * 0.9 / n)
    assert df.loc["Label likelihood + contextual", SECONDS] == pytest.approx(0.004 + 2 * 0.9 / n)
    # sampling: the mean of the parsed answers; N = 1, 3, 10 on the same records, cost N / n of the measured
    sampled = build_artefact("table_sampling", session).table.set_index("method")
    assert list(sampled.index) == ["Sampling (N = 1)", "Sampling (N = 3)", "Sampling (N = 10)"]
    assert sampled[SECONDS].tolist() == pytest.approx([0.05, 0.15, 0.5])
    assert sampled.loc["Sampling (N = 10)", "kl"] == df.loc["Sampling (N = 10)", "kl"]
    first = text_distributions(pd.DataFrame({"utt_id": ids, "status": "ok", "error": None,
                                             "text": [samples[u][0] for u in ids]}), "distribution")
    want = M.evaluate_predictions(session.manifest, first, metrics=["kl"], **session.evaluation)
    assert sampled.loc["Sampling (N = 1)", "kl"] == pytest.approx(want["kl"].value)


def test_without_sampling_there_is_no_sampling_table_and_the_caption_says_why(tmp_path):
    session, _, _ = _run(tmp_path, lambda n: np.repeat([1, 2, 3], n // 3), n=12)
    built = build_artefact("table_sampling", session)
    assert built.paths == [] and "add `sampling` to pipeline.methods" in built.caption
    caption = build_artefact("table_beyond", session).caption
    assert "contextual calibration (add `contextual` to pipeline.methods" in caption
    assert caption.count("contextual calibration (add") == 1


def test_a_session_reads_each_prompts_records_once_for_every_row_and_figure(tmp_path, monkeypatch):
    import emologits.inference as inference

    session, _, _ = _run(tmp_path, lambda n: np.repeat([1, 2, 3], n // 3), n=12)
    _add_sampling_and_contextual(session, np.random.default_rng(6))
    reads: list[tuple[str, str]] = []
    load = inference.load_records
    monkeypatch.setattr(inference, "load_records",
                        lambda run_dir, prompt, method="generate": reads.append((prompt, method)) or load(
                            run_dir, prompt, method=method))
    for name in ("table_beyond", "table_sampling", "reliability_calibration_token",
                 "reliability_calibration_likelihood"):
        build_artefact(name, session)
    assert sorted(reads) == [("ambiguous", "contextual"), ("ambiguous", "generate"), ("ambiguous", "likelihood"),
                             ("ambiguous", "sampling"), ("single", "generate")]
