"""The notebooks, executed by papermill on the full demo (150 utterances, about a minute).

This trains the tiny-demo model once (cached under .cache/tiny-demo) and runs every notebook into a
temporary output root; the assertions read the tables and figures the notebooks wrote, and compare
them with the committed figures/demo/ (the demo's numbers are pinned there).
"""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from conftest import PROJECT_ROOT
from emologits.artifacts import COMPARISON_NOTEBOOKS, NOTEBOOKS
from emologits.config import load_config

DEMO = PROJECT_ROOT / "configs" / "demo.yaml"
#: Utterances of the demo: the notebooks run on all of them, so the run can be compared with figures/demo/.
N_DEMO = 150
COMMITTED = PROJECT_ROOT / "figures" / "demo"


def test_notebooks_are_thin_and_parameterised():
    for stem in [*NOTEBOOKS, *COMPARISON_NOTEBOOKS]:
        nb = json.loads((PROJECT_ROOT / "notebooks" / f"{stem}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), stem
        for cell in code:
            src = "".join(cell["source"])
            assert not any(line.lstrip().startswith(("def ", "class ", "lambda")) for line in src.splitlines()), stem
            assert not cell.get("outputs"), f"{stem} committed with outputs"
        assert nb["metadata"]["kernelspec"]["name"] == "emologits"
        # nbformat 4.5 cell ids (without them every execution warns MissingIDFieldWarning)
        assert all("id" in c for c in nb["cells"]), f"{stem}: cells without an id (nbformat.validator.normalize)"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from emologits.pipeline import run_notebooks
    out = tmp_path_factory.mktemp("ci_run")
    run_notebooks(DEMO, output_root=out)
    return load_config(DEMO, output_root=out)


@pytest.mark.notebooks
def test_all_notebooks_executed(demo_run):
    executed = sorted(p.stem for p in (demo_run.run_dir / "notebooks").glob("*.ipynb"))
    assert executed == list(NOTEBOOKS)


def _finite_in_range(values, low, high):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    assert values, "no values"
    assert all(low <= float(v) <= high for v in values), values


def _table(cfg, name):
    path = cfg.figures_dir / f"{name}.csv"
    for ext in ("csv", "md", "tex"):
        assert (cfg.figures_dir / f"{name}.{ext}").stat().st_size > 0, (name, ext)
    return pd.read_csv(path, comment="#").set_index("method")  # a demo table starts with "# PIPELINE CHECK ..."


@pytest.mark.notebooks
def test_table1_has_the_papers_rows_columns_and_values(demo_run):
    t1 = _table(demo_run, "table1")
    assert {"Zero-Shot [15]", "Text", "Token-level", "Label likelihood"} <= set(t1.index)
    for m in ("kl", "bd", "r2"):
        assert {m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_paper"} <= set(t1.columns)
    assert t1.loc["Text", ["kl_paper", "bd_paper", "r2_paper"]].tolist() == [2.05, 0.51, 0.34]
    assert t1.loc["Token-level", ["kl_paper", "bd_paper", "r2_paper"]].tolist() == [0.99, 0.47, 0.38]
    assert t1.loc["Zero-Shot [15]", ["bd_paper", "r2_paper"]].tolist() == [0.51, 0.51]
    ours = t1.loc[["Text", "Token-level", "Label likelihood"]]
    assert (ours["n"] + ours["n_invalid"] == N_DEMO).all()
    assert (ours["n"] > 0).all()
    _finite_in_range(ours["kl"], 0, 50)
    _finite_in_range(ours["bd"], 0, 50)
    _finite_in_range(ours["r2"], 0, 1)
    assert (ours["kl_ci_low"] <= ours["kl"]).all() and (ours["kl"] <= ours["kl_ci_high"]).all()
    latex = (demo_run.figures_dir / "table1.tex").read_text()
    assert "\\toprule" in latex and "\\bottomrule" in latex


@pytest.mark.notebooks
def test_table2_and_figure3(demo_run):
    t2 = _table(demo_run, "table2")
    assert t2.loc["Ambiguous", ["kl_paper", "bd_paper", "r2_paper"]].tolist() == [0.99, 0.47, 0.38]
    assert t2.loc["Single", ["kl_paper", "bd_paper", "r2_paper"]].tolist() == [0.75, 0.31, 0.53]
    _finite_in_range(t2.loc[["Ambiguous", "Single"], "r2"], 0, 1)
    f3 = _table(demo_run, "figure3")
    assert list(f3.index) == ["All generated tokens", "Emotion-word tokens only"]
    _finite_in_range(f3["bd"], 0, 50)
    for ext in ("png", "pdf"):
        assert (demo_run.figures_dir / f"figure3_token_subset.{ext}").stat().st_size > 1000


@pytest.mark.notebooks
def test_table3_rows_and_ranges(demo_run):
    t3 = _table(demo_run, "table3")
    proposed = ["Text (Single)", "Text (Ambiguous)", "Token-Level (Ambiguous)", "Token-Level (Single)"]
    assert set(proposed) <= set(t3.index)
    assert t3.loc["LLM Few-Shot [15]", "accuracy_paper"] == 58.75
    assert t3.loc["Token-Level (Single)", "accuracy_paper"] == 55.90
    _finite_in_range(t3.loc[proposed, "accuracy"], 0, 100)
    _finite_in_range(t3.loc[proposed, "f1_weighted"], 0, 1)


@pytest.mark.notebooks
def test_run_readme_banner_figures_and_reports(demo_run):
    readme = (demo_run.figures_dir / "README.md").read_text()
    assert "PIPELINE CHECK" in readme and "NOT THE PAPER'S RESULTS" in readme
    for name in ("figure3_token_subset.png", "reliability_token.png", "class_scatter_token.png",
                 "ground_truth_entropy.png", "table1.csv"):
        assert name in readme and (demo_run.figures_dir / name).exists(), name
    invalid = pd.read_csv(demo_run.run_dir / "reports" / "invalid_text__ambiguous.csv",
                          comment="#").set_index("reason")
    assert invalid.loc["total", "count"] == N_DEMO
    assert 0 <= invalid.loc["total_invalid", "count"] <= N_DEMO
    failures = readme.split("## Failures at inference", 1)[1].split("## Provenance", 1)[0]
    for label in ("inference ambiguous", "inference single", "likelihood ambiguous", "likelihood single"):
        assert f"| `{label}` | {N_DEMO} | 0 | – |" in failures, failures


@pytest.mark.notebooks
def test_every_method_of_the_demo_carries_signal(demo_run):
    """Text, token level (both prompts; softmax, and ratio where defined) and label likelihood each
    reach UA >= 40 % against the majority label (chance: 25 %): a broken path falls to chance."""
    from emologits.notebook import Session
    from test_demo_signal import methods_at_chance, unweighted_accuracies

    uas = unweighted_accuracies(Session.from_config(demo_run))
    assert {"text__ambiguous", "text__single", "likelihood__ambiguous", "likelihood__single",
            "token__ambiguous__all__softmax", "token__ambiguous__all__ratio", "token__single__all__softmax",
            "token__single__all__ratio"} <= set(uas), uas
    # the paraphrases (generation only): text and both token-level tables each
    assert len(uas) == 8 + 3 * 4 and uas["token__ambiguous__all__softmax"][1] > 100, uas
    assert methods_at_chance(uas) == {}, uas


@pytest.mark.notebooks
def test_executed_inference_notebook_keeps_a_short_summary_not_the_progress_bars(demo_run):
    nb = json.loads((demo_run.run_dir / "notebooks" / "02_inference.ipynb").read_text())
    streams = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", [])
                      if o.get("output_type") == "stream")
    assert "%|" not in streams and "it/s]" not in streams, streams
    for label in ("inference ambiguous", "inference single", "likelihood ambiguous", "likelihood single"):
        assert f"{label}: {N_DEMO}/{N_DEMO} utt in " in streams, streams
    # two lines (speed, counts) per record set of the run (prompt x method), a line or two around them
    record_sets = sum(demo_run.runs(m, pid) for pid in demo_run.prompts["ids"] for m in demo_run.pipeline["methods"])
    assert len(streams.splitlines()) <= 2 * record_sets + 3, streams


def test_a_notebook_without_its_inputs_names_the_one_to_run_first(tmp_path):
    from emologits.errors import EmologitsError
    from emologits.pipeline import run_notebooks
    with pytest.raises(EmologitsError, match=r"notebooks/01_data_prep\.ipynb first"):
        run_notebooks(DEMO, output_root=tmp_path, only=["05"])


@pytest.mark.notebooks
def test_table1_token_row_uses_the_configured_normalisation(demo_run, tmp_path):
    """With token_normalize: ratio (the paper's default), Table 1's "Token-level" row must be the
    ratio distributions and the extra row the softmax ones (the demo config uses softmax)."""
    import shutil

    import numpy as np
    import yaml

    from emologits import artifacts, metrics
    from emologits.data import read_manifest
    from emologits.pipeline import run_notebooks

    raw = yaml.safe_load(DEMO.read_text())
    raw["evaluation"]["token_normalize"] = "ratio"
    raw["prompts"]["file"] = str(PROJECT_ROOT / "prompts" / "prompts.yaml")
    (tmp_path / "configs").mkdir()
    cfg_path = tmp_path / "configs" / "ratio.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    shutil.copytree(demo_run.run_dir, tmp_path / "out" / "runs" / demo_run.run)
    run_notebooks(cfg_path, output_root=tmp_path / "out", only=["04"])

    cfg = load_config(cfg_path, output_root=tmp_path / "out")
    manifest = read_manifest(artifacts.manifest_path(cfg))
    t1 = _table(cfg, "table1")
    for method, variant in (("Token-level", "ratio"), ("Token-level (softmax)", "softmax")):
        expected = metrics.evaluate_predictions(
            manifest, artifacts.read_distributions(cfg, f"token__ambiguous__all__{variant}"),
            **artifacts.evaluation_kwargs(cfg))
        assert t1.loc[method, "n"] == expected.n and t1.loc[method, "n_invalid"] == expected.n_invalid
        assert np.allclose(t1.loc[method, ["kl", "bd", "r2"]].astype(float),
                           [expected[m].value for m in ("kl", "bd", "r2")], equal_nan=True)


@pytest.mark.notebooks
def test_every_table_and_figure_of_the_demo_says_pipeline_check(demo_run):
    from PIL import Image

    files = sorted(p for p in demo_run.figures_dir.iterdir() if p.suffix in (".csv", ".md", ".tex", ".png", ".pdf"))
    files += sorted((demo_run.run_dir / "reports").glob("*.csv"))
    assert len(files) >= 20
    for path in files:
        if path.suffix == ".png":
            assert "PIPELINE CHECK" in Image.open(path).text.get("Description", ""), path.name
        else:
            assert b"PIPELINE CHECK" in path.read_bytes(), path.name


@pytest.mark.notebooks
def test_committed_demo_figures_equal_a_fresh_run(demo_run):
    """figures/demo/ in the repository is what ./run_all.sh produces: the same table files with
    exactly the same numbers (but the measured model-seconds, which are wall clock), the same figures
    (by existence and size)."""
    fresh = demo_run.figures_dir
    committed = {p.name for p in COMMITTED.iterdir()}
    assert committed == {p.name for p in fresh.iterdir()}
    for name in sorted(n for n in committed if n.endswith(".csv")):
        old, new = (pd.read_csv(d / name, comment="#") for d in (COMMITTED, fresh))
        timed = [c for c in old.columns if c == "seconds_per_utt"]
        assert (new[timed] > 0).all().all(), name
        pd.testing.assert_frame_equal(old.drop(columns=timed), new.drop(columns=timed), check_exact=True, obj=name)
    for name in sorted(n for n in committed if n.endswith((".md", ".tex", ".png", ".pdf"))):
        size, new = (COMMITTED / name).stat().st_size, (fresh / name).stat().st_size
        assert size > 0 and new / 3 < size < new * 3, (name, size, new)


@pytest.mark.notebooks
def test_notebook_09_scores_every_method_of_the_demo_side_by_side(demo_run):
    """table_beyond on the demo: the paper's rows, cross-fitted and contextual calibration, prompt
    ensembles, sampling and the label likelihood, each over all utterances with its cost; nothing is
    left out of the caption; table_sampling has N = 1, 3 and 10 on the same records."""
    beyond = _table(demo_run, "table_beyond")
    assert {"Text (paper)", "Token-level (softmax, paper)", "Token-level + temperature", "Token-level + Dirichlet",
            "Token-level + contextual", "Text ensemble (5 prompts)", "Token-level ensemble (5 prompts)", "Sampling (N = 10)",
            "Label likelihood", "Label likelihood + Dirichlet", "Label likelihood + contextual"} <= set(beyond.index)
    assert (beyond["n"] + beyond["n_invalid"] == N_DEMO).all()
    assert (beyond["seconds_per_utt"] > 0).all()
    for m in ("ece", "nll", "brier"):
        _finite_in_range(beyond[m], 0, 50)
    md = (demo_run.figures_dir / "table_beyond.md").read_text()
    assert "Not in this table" not in md and "model-s/utt" in md
    sampled = _table(demo_run, "table_sampling")
    assert list(sampled.index) == ["Sampling (N = 1)", "Sampling (N = 3)", "Sampling (N = 10)"]
    assert sampled.loc["Sampling (N = 10)", "kl"] == beyond.loc["Sampling (N = 10)", "kl"]
    assert sampled.loc["Sampling (N = 1)", "seconds_per_utt"] == pytest.approx(
        sampled.loc["Sampling (N = 10)", "seconds_per_utt"] / 10)
    readme = (demo_run.figures_dir / "README.md").read_text()
    for name in ("table_beyond.csv", "table_sampling.csv", "reliability_calibration_token.png",
                 "reliability_calibration_likelihood.png"):
        assert name in readme and (demo_run.figures_dir / name).exists(), name
