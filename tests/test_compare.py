"""Model comparison (emologits.compare, notebook 08, the leaderboard): the strict comparison schema,
the leaderboard's shape from fake evaluations, and configs/compare_demo.yaml end to end on a small
subset (tiny-demo against an untrained tiny Audio Flamingo 3: about a minute on 2 cores)."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import PROJECT_ROOT
from emologits.artifacts import COMPARISON_NOTEBOOKS, NOTEBOOKS, DistributionKey
from emologits.compare import (LEADERBOARD_METHODS, ComparedModel, ComparisonSchema, LeaderboardSection,
                               is_comparison_config, leaderboard_keys, load_comparison)
from emologits.errors import ConfigError

DEMO = PROJECT_ROOT / "configs" / "compare_demo.yaml"
#: Utterances of the end-to-end run (a seeded subset of the demo corpus).
N_E2E = 12


def _write(tmp_path, raw: dict, name: str = "cmp.yaml"):
    (tmp_path / "configs").mkdir(exist_ok=True)
    path = tmp_path / "configs" / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _raw(**extra) -> dict:
    demo = str(PROJECT_ROOT / "configs" / "demo.yaml")
    return {"comparison": "c", "data": {"dataset": "synthetic", "root": ".cache/data/synthetic_iemocap"},
            "models": [{"name": "a", "config": demo}, {"name": "b", "config": demo}], **extra}


def _error(tmp_path, raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_comparison(_write(tmp_path, raw), output_root=tmp_path / "out")
    return str(info.value)


# ------------------------------------------------------------------------------------------------
# the schema
# ------------------------------------------------------------------------------------------------
def test_shipped_comparison_configs_load_and_are_recognised(tmp_path):
    for name in ("compare_demo.yaml", "compare_iemocap.yaml"):
        path = PROJECT_ROOT / "configs" / name
        assert is_comparison_config(path)
        comparison = load_comparison(path, output_root=tmp_path)
        assert len(comparison.models) >= 2
        assert {m.cfg.run for m in comparison.models} == {f"{comparison.name}__{m.name}" for m in comparison.models}
        assert len({json.dumps(m.cfg.data, sort_keys=True) for m in comparison.models}) == 1  # one data set
    assert not is_comparison_config(PROJECT_ROOT / "configs" / "demo.yaml")
    demo = load_comparison(DEMO, output_root=tmp_path)
    assert demo.stamp and "PIPELINE CHECK" in demo.stamp
    assert [m.cfg.model["backend"] for m in demo.models] == ["tiny-demo", "tiny-floor"]


def test_an_unknown_key_is_named_with_its_dotted_path(tmp_path):
    raw = _raw()
    raw["models"][1]["labl"] = "B"
    raw["leaderboard"] = {"metrics": ["kl", "no_such_metric"], "figure_metrik": ["kl"]}
    message = _error(tmp_path, raw)
    assert "models[1].labl: unknown key (did you mean 'label'?)" in message
    assert "leaderboard.figure_metrik: unknown key (did you mean 'figure_metrics'?)" in message
    assert "leaderboard.metrics" in message and "no_such_metric" in message
    assert str(tmp_path / "configs" / "cmp.yaml") in message


def test_data_evaluation_and_structure_problems(tmp_path):
    assert "data.roots: unknown key (did you mean 'root'?)" in _error(tmp_path, _raw(data={"roots": "x"}))
    assert "evaluation.bootstrap" in _error(tmp_path, _raw(evaluation={"bootstrap": 0}))
    one = _raw()
    one["models"] = one["models"][:1]
    assert "models: must hold at least 2 item(s)" in _error(tmp_path, one)
    twice = _raw()
    twice["models"][1]["name"] = "a"
    assert "repeated: ['a']" in _error(tmp_path, twice)
    assert "must include ['03_text_extraction'" in _error(tmp_path, _raw(notebooks=["01", "02", "04"]))
    assert "not a model notebook" in _error(tmp_path, _raw(notebooks=["01", "02", "03", "04", "08"]))
    shared = _raw()
    shared["models"][0]["overrides"] = {"data": {"root": "elsewhere"}}
    assert "models[0].overrides: may not set ['data']" in _error(tmp_path, shared)
    slash = _raw()
    slash["models"][0]["name"] = "a/b"
    assert "models[0].name: must be a short id" in _error(tmp_path, slash)


def test_a_model_configs_problem_names_the_model_and_where_it_comes_from(tmp_path):
    raw = _raw()
    raw["models"][1]["overrides"] = {"model": {"batch_size": -1, "backend": "tiny-demo"}}
    raw["models"][0]["config"] = "configs/missing.yaml"
    message = _error(tmp_path, raw)
    assert "models[0] (a)" in message and "missing.yaml: model config file not found" in message
    assert f"models[1] (b): {tmp_path / 'configs' / 'cmp.yaml'}: models[1].overrides.model.batch_size: must be " \
           "greater than or equal to 1" in message


def test_the_written_model_configs_hold_absolute_paths_and_load_alone(tmp_path):
    from emologits.config import load_config

    comparison = load_comparison(DEMO, output_root=tmp_path / "out")
    for path, model in zip(comparison.write_configs(), comparison.models):
        assert path == tmp_path / "out" / "runs" / "compare_demo" / "configs" / f"{model.name}.yaml"
        cfg = load_config(path, output_root=tmp_path / "out")
        assert cfg.run_dir == model.cfg.run_dir and cfg.pipeline_check
        assert cfg.model["name_or_path"].startswith(str(PROJECT_ROOT))
        assert cfg.data["root"] == str(PROJECT_ROOT / ".cache" / "data" / "synthetic_iemocap")
        assert cfg.evaluation == comparison.spec.evaluation.model_dump()


def test_every_comparison_key_is_documented():
    doc = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    keys = list(ComparisonSchema.model_fields)
    keys += [f"models[].{k}" for k in ComparedModel.model_fields]
    keys += [f"leaderboard.{k}" for k in LeaderboardSection.model_fields]
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert not missing, f"docs/configuration.md does not mention {missing}"


def test_notebook_08_runs_only_for_a_comparison():
    """(Thin and parameterised like every notebook: tests/test_notebooks.py.)"""
    from emologits.pipeline import select_notebooks

    assert "08_model_comparison" in COMPARISON_NOTEBOOKS and "08_model_comparison" not in NOTEBOOKS
    with pytest.raises(ConfigError, match="no such notebook"):
        select_notebooks(["08"])  # a single model's run has no notebook 08


# ------------------------------------------------------------------------------------------------
# the leaderboard from fake evaluations
# ------------------------------------------------------------------------------------------------
def _fake_entries(models=("m1", "m2", "m3"), n=40, seed=0):
    from emologits.metrics import evaluate_predictions
    from emologits.report.leaderboard import Entry

    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.ones(4), size=n)
    classes = ["anger", "happiness", "sadness", "neutral"]
    manifest = pd.DataFrame(truth, columns=[f"gt_{c}" for c in classes]).assign(
        utt_id=[f"u{i}" for i in range(n)], label=[classes[i] for i in truth.argmax(axis=1)])
    entries, results = [], {}
    spec = LeaderboardSection()
    for k, model in enumerate(models):
        for method, key in leaderboard_keys(spec):
            if model == "m3" and method == "likelihood":  # e.g. pipeline.methods without likelihood
                entries.append(Entry(model, method, key, None))
                continue
            pred = pd.DataFrame(rng.dirichlet(np.ones(4) * (k + 1), size=n), columns=[f"p_{c}" for c in classes])
            pred = pred.assign(utt_id=manifest["utt_id"], valid=np.arange(n) >= k, reason=None)
            result = evaluate_predictions(manifest, pred, metrics=spec.metrics, n_boot=50)
            results[(model, key.name)] = result
            entries.append(Entry(model, method, key, result, rng.uniform(0.1, 0.2, n - k)))
    return entries, results, spec


def test_leaderboard_shape_columns_and_values_from_fake_evaluations():
    from emologits.report.leaderboard import leaderboard_table

    entries, results, spec = _fake_entries()
    df = leaderboard_table(entries, spec.metrics, n_boot=50)
    assert len(df) == 3 * len(spec.prompts) * len(LEADERBOARD_METHODS) == 24
    assert list(df.columns[:5]) == ["model", "method", "method_id", "prompt", "distribution"]
    for m in spec.metrics:
        assert {m, f"{m}_ci_low", f"{m}_ci_high"} <= set(df.columns)
    assert {"seconds_per_utt", "seconds_per_utt_ci_low", "seconds_per_utt_ci_high", "n", "n_invalid"} <= set(df.columns)
    assert df.groupby("model").size().to_dict() == {"m1": 8, "m2": 8, "m3": 8}
    assert set(df["method"]) >= {"Text (ambiguous)", "Token-level (softmax) (single)", "Label likelihood (single)"}
    row = df[(df["model"] == "m2") & (df["distribution"] == "token__single__all__ratio")].iloc[0]
    want = results[("m2", "token__single__all__ratio")]
    assert row["bd"] == pytest.approx(want["bd"].value) and row["ua"] == pytest.approx(100 * want["ua"].value)
    assert row["n"] == 39 and row["n_invalid"] == 1
    assert 0.1 <= row["seconds_per_utt_ci_low"] <= row["seconds_per_utt"] <= row["seconds_per_utt_ci_high"] <= 0.2
    missing = df[(df["model"] == "m3") & (df["method_id"] == "likelihood")]
    assert len(missing) == 2 and missing["kl"].isna().all() and missing["n"].isna().all()


def test_leaderboard_files_and_figure_carry_the_stamp(tmp_path):
    from PIL import Image

    from emologits.metrics import resolve_metrics
    from emologits.report.leaderboard import leaderboard_figure, leaderboard_table, write_leaderboard
    from emologits.report.stamp import PIPELINE_CHECK_STAMP

    entries, _, spec = _fake_entries(models=("m1", "m3"))
    df = leaderboard_table(entries, spec.metrics, n_boot=50)
    metrics = resolve_metrics(spec.metrics)
    paths = write_leaderboard(df, tmp_path, caption="Leaderboard", stamp=PIPELINE_CHECK_STAMP, metrics=metrics)
    paths += leaderboard_figure(df, [m for m in metrics if m.name in ("bd", "ua")], tmp_path,
                                stamp=PIPELINE_CHECK_STAMP)
    assert [p.name for p in paths] == ["leaderboard.csv", "leaderboard.md", "leaderboard.tex", "leaderboard.png",
                                       "leaderboard.pdf"]
    back = pd.read_csv(paths[0], comment="#")
    assert back.shape == df.shape and list(back["model"]) == list(df["model"])
    md, tex = paths[1].read_text(), paths[2].read_text()
    assert re.search(r"^\| Model\s+\| Method", md, re.M) and "model-s/utt" in md
    assert "Model & Method" in tex and "\\toprule" in tex
    for p in paths[:3]:
        assert b"PIPELINE CHECK" in p.read_bytes()
    assert Image.open(paths[3]).text["Description"] == PIPELINE_CHECK_STAMP


def test_leaderboard_keys_follow_the_registered_methods():
    keys = leaderboard_keys(LeaderboardSection(methods=["token_ratio", "likelihood"], prompts=["single"]))
    assert keys == [("token_ratio", DistributionKey("token", "single", "all", "ratio")),
                    ("likelihood", DistributionKey("likelihood", "single"))]


# ------------------------------------------------------------------------------------------------
# configs/compare_demo.yaml end to end (notebooks 01-04 per model, then 08), on a small subset
# ------------------------------------------------------------------------------------------------
@pytest.mark.notebooks
def test_compare_demo_end_to_end_writes_the_leaderboard(tmp_path, capsys):
    from PIL import Image

    from emologits.pipeline import main

    out = tmp_path / "out"
    assert main([str(DEMO), "--limit", str(N_E2E), "--output-root", str(out)]) == 0
    comparison = load_comparison(DEMO, output_root=out)
    figures = out / "figures" / "compare_demo"
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.tex", "leaderboard.png", "leaderboard.pdf",
                 "README.md"):
        assert (figures / name).stat().st_size > 0, name
    board = pd.read_csv(figures / "leaderboard.csv", comment="#")
    assert len(board) == 2 * 2 * len(LEADERBOARD_METHODS)
    assert (board["n"] + board["n_invalid"] == N_E2E).all()
    assert (board["seconds_per_utt"] > 0).all()
    demo = board[board["model"].str.startswith("tiny-demo")]
    assert demo["bd"].notna().all() and (demo["ua"] > 0).all()
    floor = board[board["model"].str.contains("floor")].set_index("distribution")
    assert floor.loc["likelihood__ambiguous", "n"] == N_E2E  # the floor scores every label, by chance
    assert Image.open(figures / "leaderboard.png").text["Description"].startswith("PIPELINE CHECK")
    assert "PIPELINE CHECK" in (figures / "README.md").read_text()
    run_info = json.loads((comparison.models[1].cfg.run_dir / "inference" / "ambiguous" / "run.json").read_text())
    assert "untrained_floor" in json.dumps(run_info)
    executed = sorted(p.name for p in (out / "runs" / "compare_demo" / "notebooks").glob("*.ipynb"))
    assert executed == ["08_model_comparison.ipynb"]
    for model in comparison.models:
        assert sorted(p.stem for p in (model.cfg.run_dir / "notebooks").glob("*.ipynb")) == list(
            comparison.spec.notebooks)
    assert "leaderboard" in capsys.readouterr().out
    # resumable: each model's inference again (what notebook 02 runs) computes nothing new
    from emologits.inference import run_configured

    before = {p: p.stat().st_mtime_ns for m in comparison.models for p in m.cfg.run_dir.glob("*/*/part-*.parquet")}
    for model in comparison.models:
        summary = run_configured(model.cfg, progress=False)
        assert (summary["utterances"] == N_E2E).all() and (summary["ok"] == N_E2E).all(), summary
    after = {p: p.stat().st_mtime_ns for m in comparison.models for p in m.cfg.run_dir.glob("*/*/part-*.parquet")}
    assert before and after == before
