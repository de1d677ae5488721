"""The paper's artefacts as data: specs built and written without a Jupyter kernel, on synthetic
manifests and distribution tables (no model, no inference)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emologits import metrics as M
from emologits.artifacts import PRODUCERS, DistributionKey, producing_notebook, write_distributions
from emologits.config import config_from_dict
from emologits.emotions import get_emotion_set
from emologits.notebook import Session
from emologits.report import ARTEFACTS, build_artefact, distribution_keys
from emologits.report.paper import PAPER_TABLE1
from emologits.report.spec import MetricTable, PredictionFigure
from emologits.report.stamp import PIPELINE_CHECK_STAMP

#: The distribution tables a run of the paper's notebooks writes (names unchanged since the first release).
PAPER_TABLE_NAMES = {
    "03_text_extraction": {"text__ambiguous", "text__single"},
    "04_token_extraction": {f"token__{p}__all__{v}" for p in ("ambiguous", "single") for v in ("ratio", "softmax")}
    | {"likelihood__ambiguous", "likelihood__single"},
}


def _session(tmp_path, normalize="ratio", emotion_set="paper4", n=40, seed=0) -> Session:
    """A run with a synthetic manifest and every distribution table the specs read."""
    cfg = config_from_dict({"run": "unit", "pipeline_check": True,
                            "evaluation": {"token_normalize": normalize, "bootstrap": 50}})
    cfg.output_root = tmp_path
    session = Session.from_config(cfg)
    es = get_emotion_set(emotion_set)
    rng = np.random.default_rng(seed)
    votes = rng.integers(0, es.n, size=(n, 3))
    truth = np.stack([(votes == k).mean(axis=1) for k in range(es.n)], axis=1)
    labels = M.argmax_labels(truth, ties="first", classes=es)
    labels[truth.max(axis=1) < 0.5] = None
    session.manifest = pd.DataFrame(truth, columns=es.gt_columns).assign(
        utt_id=[f"u{i:03d}" for i in range(n)], label=labels)
    keys = {k for name in ARTEFACTS for k in ARTEFACTS.get(name).inputs(session)}
    for i, key in enumerate(sorted(keys, key=str)):
        pred = rng.dirichlet([1.0 + i] * es.n, size=n)  # each table different
        table = pd.DataFrame(pred, columns=es.pred_columns).assign(
            utt_id=session.manifest["utt_id"], valid=True, reason=None)
        table.loc[: i % 3, "valid"] = False  # a few invalid rows, a different number per table
        write_distributions(cfg, key.name, table[["utt_id", *es.pred_columns, "valid", "reason"]])
    return session


def _evaluate(session, name, metrics=("kl", "bd", "r2")):
    return M.evaluate_predictions(session.manifest, session.distributions(DistributionKey.parse(name)),
                                  metrics=list(metrics), **session.evaluation)


def _row(df, method):
    return df.set_index("method").loc[method]


def test_distribution_key_names_and_producing_notebook():
    key = DistributionKey("token", "ambiguous", "all", "ratio")
    assert key.name == "token__ambiguous__all__ratio" == str(key) and DistributionKey.parse(key.name) == key
    assert DistributionKey("text", "single").name == "text__single"
    assert DistributionKey("likelihood", "single").producing_notebook == "04_token_extraction"
    assert producing_notebook("token__ambiguous__emotion__softmax") == "06_token_subset_ablation"
    with pytest.raises(Exception, match="give both steps and normalize"):
        DistributionKey("token", "ambiguous", "all")
    with pytest.raises(Exception, match="no distribution table 'tokn'"):
        DistributionKey.parse("tokn__ambiguous")


@pytest.mark.parametrize("normalize,other", [("ratio", "softmax"), ("softmax", "ratio")])
def test_table1_token_row_is_the_configured_normalisation(tmp_path, normalize, other):
    """The "Token-level" row of Table 1 (and Table 2's and Figure 3's token rows) scores the
    distributions of ``evaluation.token_normalize``; the other variant is the extra row."""
    session = _session(tmp_path, normalize)
    t1 = build_artefact("table1", session).table
    for method, variant in (("Token-level", normalize), (f"Token-level ({other})", other)):
        want = _evaluate(session, f"token__ambiguous__all__{variant}")
        row = _row(t1, method)
        assert (row["kl"], row["bd"], row["r2"]) == (want["kl"].value, want["bd"].value, want["r2"].value)
        assert (row["n"], row["n_invalid"]) == (want.n, want.n_invalid)
    assert _row(t1, "Token-level")["kl_paper"] == PAPER_TABLE1["Token-level"]["kl"]
    assert _row(build_artefact("table2", session).table, "Single")["kl"] == _evaluate(
        session, f"token__single__all__{normalize}")["kl"].value
    f3 = build_artefact("figure3", session).table
    assert _row(f3, "Emotion-word tokens only")["kl"] == _evaluate(
        session, f"token__ambiguous__emotion__{normalize}")["kl"].value


def test_every_paper_artefact_builds_writes_and_carries_the_stamp(tmp_path):
    from PIL import Image

    session = _session(tmp_path)
    beyond = {name for name in ARTEFACTS if ARTEFACTS.get(name).notebook == "09_beyond_the_paper"}  # test_beyond.py
    built = {name: build_artefact(name, session) for name in ARTEFACTS if name != "readme" and name not in beyond}
    readme = build_artefact("readme", session).paths[0].read_text()
    for name, b in built.items():
        assert b.paths and all(p.stat().st_size > 0 for p in b.paths), name
        for p in b.paths:
            if p.suffix == ".png":
                assert Image.open(p).text["Description"] == PIPELINE_CHECK_STAMP
            else:
                assert b"PIPELINE CHECK" in p.read_bytes(), p.name
        spec = ARTEFACTS.get(name)
        if isinstance(spec, (MetricTable, PredictionFigure)):
            assert f"### {session.fill(spec.caption)}\n" in readme, name  # the one caption
    assert "<table" in built["table1"]._repr_html_() and "data:image/png" in built["figure3"]._repr_html_()
    t3 = built["table3"].table.set_index("method")
    want = M.evaluate_predictions(session.manifest, session.distributions(DistributionKey("text", "single")),
                                  **session.evaluation)
    assert t3.loc["Text (Single)", "accuracy"] == pytest.approx(100 * want["accuracy"].value)
    assert t3.loc["Text (Single)", "n"] == want.n_label
    assert t3.loc["LLM Few-Shot [15]", "accuracy_paper"] == 58.75
    invalid = pd.read_csv(session.reports_dir / "invalid_text__ambiguous.csv", comment="#").set_index("reason")
    assert invalid.loc["total", "count"] == 40


def test_which_distribution_tables_each_notebook_writes(tmp_path):
    session = _session(tmp_path, "softmax")
    for notebook, names in PAPER_TABLE_NAMES.items():
        assert {k.name for k in distribution_keys(session, notebook)} == names, notebook
    assert [k.name for k in distribution_keys(session, "06_token_subset_ablation")] == [
        "token__ambiguous__emotion__softmax"]
    # every table an artefact reads is one its producing notebook writes
    written = {k for notebook in set(PRODUCERS.values()) for k in distribution_keys(session, notebook)}
    for name in ARTEFACTS:
        for key in ARTEFACTS.get(name).inputs(session):
            assert key in written, (name, key.name)


def test_a_table_and_a_metric_from_outside_the_package(tmp_path):
    session = _session(tmp_path)
    b = build_artefact("report_extension:TOKEN_VS_TEXT", session)
    assert [p.name for p in b.paths] == ["token_vs_text.csv", "token_vs_text.md", "token_vs_text.tex"]
    text = _row(b.table, "Text")
    truth = session.manifest[["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"]].to_numpy()
    dist = session.distributions(DistributionKey("text", "ambiguous"))
    keep = dist["valid"].to_numpy()
    want = np.abs(truth[keep] - dist.loc[keep, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].to_numpy())
    assert text["max_abs_error"] == pytest.approx(want.max(axis=1).mean())
    assert "Token-level (ratio)" in set(b.table["method"])
    assert "MaxAE ↓" in b.paths[1].read_text()


def test_six_classes_tables_and_figures(tmp_path):
    """Nothing downstream hard-codes four classes: a cremad6 run builds every artefact."""
    session = _session(tmp_path, emotion_set="cremad6")
    t1 = build_artefact("table1", session).table
    assert _row(t1, "Text")["kl"] == _evaluate(session, "text__ambiguous")["kl"].value
    assert np.isfinite(build_artefact("table3", session).table.set_index("method").loc["Text (Single)", "accuracy"])
    for name in ("reliability_token", "class_scatter_token", "ground_truth_entropy", "figure3"):
        assert all(p.stat().st_size > 1000 for p in build_artefact(name, session).paths if p.suffix == ".png")


def test_build_from_a_config_and_a_missing_table_names_its_notebook(tmp_path):
    from emologits.artifacts import MissingInputError

    session = _session(tmp_path)
    (session.run_dir / "distributions" / "token__ambiguous__emotion__ratio.parquet").unlink()
    with pytest.raises(MissingInputError, match="06_token_subset_ablation"):
        build_artefact("figure3", session)
    with pytest.raises(Exception, match="unknown artefact 'tabel1'.*did you mean 'table1'"):
        build_artefact("tabel1", session)


def test_without_likelihood_in_pipeline_methods_its_rows_and_tables_are_left_out(tmp_path):
    session = _session(tmp_path, "softmax")
    session.cfg.pipeline["methods"] = ["generate"]
    names = {k.name for k in distribution_keys(session, "04_token_extraction")}
    assert names == {f"token__{p}__all__{v}" for p in ("ambiguous", "single") for v in ("ratio", "softmax")}
    table1 = build_artefact("table1", session).table
    assert "Label likelihood" not in set(table1["method"]) and "Token-level" in set(table1["method"])
    session.cfg.pipeline["methods"] = ["generate", "likelihood"]
    assert "Label likelihood" in set(build_artefact("table1", session).table["method"])


def test_run_page_shows_paths_inside_the_project_relative(tmp_path):
    """figures/<run>/README.md reads the same in every clone: run_dir relative to the project folder
    when the run is inside it, absolute when --output-root puts it elsewhere."""
    session = _session(tmp_path / "elsewhere")
    session.cfg.project_root = tmp_path
    readme = build_artefact("readme", session).paths[0].read_text()
    assert "| run_dir | `elsewhere/runs/unit` |" in readme, readme
    session.cfg.project_root = tmp_path / "project"
    readme = build_artefact("readme", session).paths[0].read_text()
    assert f"| run_dir | `{tmp_path / 'elsewhere' / 'runs' / 'unit'}` |" in readme
