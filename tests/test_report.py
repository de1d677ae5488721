"""emologits.report: paper values, Tables 1-3, file formats, figures, run README."""
from __future__ import annotations

import math
import re

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from emologits import metrics as M
from emologits.report import figures, paper, readme, tables
from emologits.report.stamp import PIPELINE_CHECK_STAMP, pipeline_check_stamp

PAPER_LINES = [  # Tables 1-3 as printed in the paper (shared/paper.txt)
    ("Zero-Shot [15]", None, 0.51, 0.51), ("Text", 2.05, 0.51, 0.34), ("Token-level", 0.99, 0.47, 0.38),
]


def _nan_eq(a, b) -> bool:
    return (a is None and math.isnan(b)) or a == b


def _result(kl=1.0, bd=0.4, r2=0.5, n=30, n_invalid=2) -> M.EvaluationResult:
    values = {k: M.MetricValue(v, v - 0.1, v + 0.1) for k, v in (("kl", kl), ("bd", bd), ("r2", r2), ("js", 0.3))}
    return M.EvaluationResult(values, n=n, n_invalid=n_invalid)


def _label_result(acc=0.5, f1=0.4, n=30, n_invalid=1) -> M.EvaluationResult:
    values = {k: M.MetricValue(v, v - 0.05, v + 0.05)
              for k, v in (("accuracy", acc), ("f1_weighted", f1), ("ua", 0.45), ("f1_macro", 0.35))}
    return M.EvaluationResult(values, n=33, n_invalid=n_invalid, n_label=n, n_no_majority=3)


DIST = ("kl", "bd", "r2")
LABELS = ("accuracy", "f1_weighted", "ua", "f1_macro")


def table1(text, token, extra=None):
    """Table 1's layout (reference row, Text, Token-level, extras) from results, as its spec does."""
    rows = [tables.TableRow("Baseline", "Zero-Shot [15]", None, paper.PAPER_TABLE1["Zero-Shot [15]"]),
            tables.TableRow("Proposed", "Text", text, paper.PAPER_TABLE1["Text"]),
            tables.TableRow("Proposed", "Token-level", token, paper.PAPER_TABLE1["Token-level"])]
    rows += [tables.TableRow("Extra", name, res) for name, res in (extra or {}).items()]
    return tables.metric_table(rows, DIST, DIST)


def table2(ambiguous, single):
    return tables.metric_table([tables.TableRow("Token-level", "Ambiguous", ambiguous, paper.PAPER_TABLE2["Ambiguous"]),
                                tables.TableRow("Token-level", "Single", single, paper.PAPER_TABLE2["Single"])],
                               DIST, DIST)


# ------------------------------------------------------------------ paper values
def test_paper_tables_as_printed():
    for method, kl, bd, r2 in PAPER_LINES:
        row = paper.PAPER_TABLE1[method]
        assert _nan_eq(kl, row["kl"]) and row["bd"] == bd and row["r2"] == r2
    assert paper.PAPER_TABLE2["Ambiguous"] == {"type": "Token-level", "kl": 0.99, "bd": 0.47, "r2": 0.38}
    assert paper.PAPER_TABLE2["Single"] == {"type": "Token-level", "kl": 0.75, "bd": 0.31, "r2": 0.53}
    t3 = {m: (r["accuracy"], r["f1_weighted"]) for m, r in paper.PAPER_TABLE3.items()}
    assert list(t3) == ["Fine-Tuned LLM [28]", "LLM Few-Shot [15]", "LLM Zero-Shot [15]", "LLM Zero-Shot [29]",
                        "Text (Single)", "Text (Ambiguous)", "Token-Level (Ambiguous)", "Token-Level (Single)"]
    assert t3["Fine-Tuned LLM [28]"][0] == 65.20 and math.isnan(t3["Fine-Tuned LLM [28]"][1])
    assert t3["LLM Few-Shot [15]"] == (58.75, 0.59) and t3["LLM Zero-Shot [15]"] == (48.12, 0.49)
    assert t3["LLM Zero-Shot [29]"][0] == 51.40 and math.isnan(t3["LLM Zero-Shot [29]"][1])
    assert t3["Text (Single)"] == (58.06, 0.39) and t3["Text (Ambiguous)"] == (35.83, 0.06)
    assert t3["Token-Level (Ambiguous)"] == (52.64, 0.31) and t3["Token-Level (Single)"] == (55.90, 0.30)


# ------------------------------------------------------------------ tables
def test_metric_table_rows_columns_and_values():
    df = table1(_result(kl=2.5), _result(kl=1.2, n=28, n_invalid=4),
                extra={"Label likelihood": _result(kl=0.8), "Token-level (softmax)": None})
    assert list(df["method"]) == ["Zero-Shot [15]", "Text", "Token-level", "Label likelihood", "Token-level (softmax)"]
    assert list(df["type"]) == ["Baseline", "Proposed", "Proposed", "Extra", "Extra"]
    assert list(df.columns) == ["type", "method", *(f"{m}{s}" for m in DIST for s in ("", "_ci_low", "_ci_high",
                                                                                     "_paper")), "n", "n_invalid"]
    base, text, token = df.iloc[0], df.iloc[1], df.iloc[2]
    assert math.isnan(base["kl"]) and math.isnan(base["kl_paper"]) and base["bd_paper"] == 0.51
    assert base["r2_paper"] == 0.51 and pd.isna(base["n"])
    assert (text["kl"], text["kl_paper"], text["bd_paper"], text["r2_paper"]) == (2.5, 2.05, 0.51, 0.34)
    assert (token["kl"], token["kl_ci_low"], token["kl_paper"]) == (1.2, pytest.approx(1.1), 0.99)
    assert (token["n"], token["n_invalid"]) == (28, 4)
    assert df.iloc[3]["kl"] == 0.8 and math.isnan(df.iloc[3]["kl_paper"])
    assert math.isnan(df.iloc[4]["kl"])


def test_label_table_percent_and_label_count():
    rows = [tables.TableRow("Adaptation", "Fine-Tuned LLM [28]", None, paper.PAPER_TABLE3["Fine-Tuned LLM [28]"]),
            tables.TableRow("Proposed", "Text (Single)", _label_result(0.6), paper.PAPER_TABLE3["Text (Single)"]),
            tables.TableRow("Proposed", "Token-Level (Single)", None, paper.PAPER_TABLE3["Token-Level (Single)"])]
    df = tables.metric_table(rows, LABELS, ("accuracy", "f1_weighted")).set_index("method")
    assert math.isnan(df.loc["Fine-Tuned LLM [28]", "accuracy"]) and df.loc["Fine-Tuned LLM [28]", "accuracy_paper"] == 65.2
    text_single = df.loc["Text (Single)"]
    assert text_single["accuracy"] == pytest.approx(60.0) and text_single["accuracy_ci_high"] == pytest.approx(65.0)
    assert text_single["f1_weighted"] == pytest.approx(0.4) and text_single["f1_weighted_paper"] == 0.39
    assert text_single["ua"] == pytest.approx(45.0) and text_single["n"] == 30  # n_label, not n
    assert math.isnan(df.loc["Token-Level (Single)", "accuracy"])
    assert "ua_paper" not in df.columns and "f1_macro" in df.columns


def test_tables_from_real_metric_results():
    rng = np.random.default_rng(0)
    t, p = rng.dirichlet([1] * 4, 50), rng.dirichlet([1] * 4, 50)
    res = M.evaluate_distributions(t, p, n_boot=50)
    df = table1(res, res)
    assert df.iloc[1]["kl"] == pytest.approx(res["kl"].value) and df.iloc[1]["n"] == 50
    assert pd.isna(df.iloc[1]["n_invalid"])  # not given -> empty, never a made-up 0


def test_write_table_csv_markdown_latex(tmp_path):
    df = table1(_result(kl=1.234), _result(), extra={"50% & more_x": _result()})
    paths = tables.write_table(df, tmp_path / "figs", "table1", caption="Table 1: Performance for ambiguous SER")
    assert [p.name for p in paths] == ["table1.csv", "table1.md", "table1.tex"]
    back = pd.read_csv(paths[0])
    assert list(back.columns) == list(df.columns)
    assert back.loc[1, "kl"] == 1.234 and back.loc[1, "kl_paper"] == 2.05 and back.loc[0, "bd_paper"] == 0.51

    md = paths[1].read_text()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines() if line.startswith("|")]
    assert cells[0][:4] == ["Type", "Method", "KL ↓", "KL ↓ (paper)"]
    assert [c.startswith(":") for c in cells[1][:3]] == [True, True, False] and cells[1][2].endswith(":")
    assert ["Proposed", "Text", "1.23 [1.13, 1.33]", "2.05"] == cells[3][:4]
    assert ["Baseline", "Zero-Shot [15]", "–", "–", "–", "0.51"] == cells[2][:6]
    assert len({line.count("|") for line in md.splitlines() if line.startswith("|")}) == 1
    assert len({len(line) for line in md.splitlines() if line.startswith("|")}) == 1  # padded columns

    tex = paths[2].read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    assert r"\begin{tabular}{llrrrrrrrr}" in tex and r"50\% \& more\_x" in tex
    rows = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(rows) == 1 + len(df) and {r.count(" & ") for r in rows} == {9}  # 10 display columns
    assert re.search(r"(?<!\\)%", tex.replace("{%\n", "")) is None  # every % escaped
    assert not list((tmp_path / "figs").glob(".*"))  # no temp files left


def test_write_table_stamp_in_every_file_and_csv_reads_back(tmp_path):
    """A pipeline-check table says so in all three files; the CSV still reads back with comment="#"."""
    df = table1(_result(kl=1.234), _result(), extra={"rows #2 & 50%": _result()})
    plain = tables.write_table(df, tmp_path / "plain", "table1", caption="Table 1: Performance for ambiguous SER")
    stamped = tables.write_table(df, tmp_path / "demo", "table1", caption="Table 1: Performance for ambiguous SER",
                                 stamp=PIPELINE_CHECK_STAMP)
    for path in plain:
        assert "PIPELINE CHECK" not in path.read_text(), path.name
    csv_text, md, tex = (p.read_text() for p in stamped)
    assert csv_text.splitlines()[0] == "# " + PIPELINE_CHECK_STAMP
    assert "synthetic corpus" in csv_text.splitlines()[0] and "not the paper's" in csv_text.splitlines()[0]
    assert md.startswith("**Table 1: Performance for ambiguous SER**\n\n_PIPELINE CHECK: offline demo")
    assert md.index("PIPELINE CHECK") < md.index("| Type ")
    caption = next(line for line in tex.splitlines() if line.startswith(r"\caption{"))
    assert "Table 1: Performance for ambiguous SER -- PIPELINE CHECK: offline demo" in caption
    assert "synthetic corpus" in caption and tex.startswith("% PIPELINE CHECK")
    back, back_plain = pd.read_csv(stamped[0], comment="#"), pd.read_csv(plain[0])
    pd.testing.assert_frame_equal(back, back_plain)
    assert list(back.columns) == list(df.columns) and back.loc[3, "method"] == "rows #2 & 50%"
    assert back.loc[1, "kl"] == 1.234 and back.loc[0, "bd_paper"] == 0.51


def test_write_table_without_caption_still_carries_the_stamp(tmp_path):
    _, md, tex = tables.write_table(table2(_result(), None), tmp_path, "t2", stamp=PIPELINE_CHECK_STAMP)
    assert md.read_text().startswith("_PIPELINE CHECK")
    assert r"\caption{PIPELINE CHECK: offline demo" in tex.read_text()


def test_write_csv_stamp_line(tmp_path):
    report = pd.DataFrame({"reason": ["no_percentages", "total"], "count": [2, 24]})
    path = tables.write_csv(report, tmp_path / "r.csv", stamp=PIPELINE_CHECK_STAMP)
    assert path.read_text().startswith("# PIPELINE CHECK")
    pd.testing.assert_frame_equal(pd.read_csv(path, comment="#"), report)
    assert not tables.write_csv(report, tmp_path / "p.csv").read_text().startswith("#")


def test_pipeline_check_stamp_follows_the_config():
    from emologits.config import config_from_dict
    from conftest import PROJECT_ROOT

    demo = config_from_dict({"run": "d", "pipeline_check": True, "model": {"backend": "qwen2-audio"}})
    real = config_from_dict({"run": "r", "pipeline_check": False, "model": {"backend": "qwen2-audio"}})
    tiny = config_from_dict({"run": "t", "pipeline_check": False, "model": {"backend": "tiny-demo"}})
    assert pipeline_check_stamp(demo) == PIPELINE_CHECK_STAMP == pipeline_check_stamp(tiny)
    assert pipeline_check_stamp(real) is None
    from emologits.config import load_config
    assert pipeline_check_stamp(load_config(PROJECT_ROOT / "configs" / "demo.yaml")) == PIPELINE_CHECK_STAMP


_WRITERS = {"write_table", "write_csv", "save_figure", "metric_bars", "reliability_diagram", "class_scatter",
            "entropy_histogram", "to_csv", "savefig", "to_latex", "to_markdown", "write_distributions"}


def test_notebooks_write_through_the_library_only():
    """Notebooks 03-07: a parameters cell, one setup call, then one library call per product (no
    writer called directly, no f-strings, no loops, no defs); the stamp is the session's."""
    import ast
    import json

    from conftest import PROJECT_ROOT

    for stem in ("03_text_extraction", "04_token_extraction", "05_prompt_ablation", "06_token_subset_ablation",
                 "07_single_label_eval"):
        cells = [c for c in json.loads((PROJECT_ROOT / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
                 if c["cell_type"] == "code"]
        assert "parameters" in cells[0]["metadata"]["tags"]
        assert "session = setup(config_path, output_root, limit)" in "".join(cells[1]["source"])
        for cell in cells[2:]:
            tree = ast.parse("".join(cell["source"]))
            assert len(tree.body) == 1, (stem, "".join(cell["source"]))
            for node in ast.walk(tree):
                assert not isinstance(node, (ast.JoinedStr, ast.For, ast.FunctionDef, ast.Lambda)), stem
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "attr", getattr(node.func, "id", None))
                    assert name not in _WRITERS, (stem, name)
                    assert name in ("build_artefact", "build_distributions", "distribution_keys"), (stem, name)


def test_display_table_merges_ci_and_paper():
    d = tables.display_table(table2(_result(kl=0.5), None))
    assert list(d.columns) == ["Type", "Method", "KL ↓", "KL ↓ (paper)", "BD ↓", "BD ↓ (paper)", "R² ↑",
                               "R² ↑ (paper)", "n", "invalid"]
    assert d.iloc[0]["KL ↓"] == "0.50 [0.40, 0.60]" and d.iloc[1]["KL ↓"] == "–" and d.iloc[1]["KL ↓ (paper)"] == "0.75"


# ------------------------------------------------------------------ figures
def _check_written(paths, stem):
    png, pdf = paths
    assert (png.name, pdf.name) == (f"{stem}.png", f"{stem}.pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > 5000 and pdf.stat().st_size > 1000
    h, w = mpimg.imread(png).shape[:2]
    assert 0.8 * 3.4 * 300 < w < 1.05 * 3.4 * 300  # one paper column at 300 dpi


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 4, size=(120, 3))
    truth = np.stack([(votes == k).mean(axis=1) for k in range(4)], axis=1)
    pred = 0.6 * truth + 0.4 * rng.dirichlet([1] * 4, size=120)
    return truth, pred


def test_figures_written_as_png_and_pdf(tmp_path, arrays):
    truth, pred = arrays
    a = M.evaluate_distributions(truth, pred, n_boot=50)
    b = M.evaluate_distributions(truth, np.roll(pred, 1, axis=0), n_boot=50)
    bars = [("All generated tokens", a), ("Emotion-word tokens only", b)]
    _check_written(figures.metric_bars(bars, M.resolve_metrics(DIST), tmp_path, "figure3_token_subset"),
                   "figure3_token_subset")
    _check_written(figures.reliability_diagram(truth, pred, tmp_path, title="token-level"), "reliability")
    _check_written(figures.class_scatter(truth, pred, tmp_path, name="scatter"), "scatter")
    _check_written(figures.entropy_histogram(truth, tmp_path), "gt_entropy")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{s}.{e}" for s in ("figure3_token_subset", "reliability", "scatter", "gt_entropy") for e in ("png", "pdf"))


def _pdf_text(path) -> str:
    """The PDF's bytes as text, with its UTF-16 hex strings decoded and literal-string escapes undone
    (so a check does not depend on how the writer encoded the metadata)."""
    text = path.read_bytes().decode("latin-1")
    decoded = [bytes.fromhex(h).decode("utf-16") for h in re.findall(r"<(FEFF[0-9A-Fa-f]+)>", text)]
    return (text + "\n".join(decoded)).replace("\\(", "(").replace("\\)", ")")


def _draw_all(out, arrays, **kw):
    truth, pred = arrays
    res = M.evaluate_distributions(truth, pred, n_boot=20)
    bars = figures.metric_bars([("a", res), ("b", res)], M.resolve_metrics(DIST), out, "bars", **kw)
    return [bars, figures.reliability_diagram(truth, pred, out, **kw),
            figures.class_scatter(truth, pred, out, **kw), figures.entropy_histogram(truth, out, **kw),
            figures.class_scatter(truth[:0], pred[:0], out, name="empty", **kw)]


def test_a_rerun_writes_the_same_pdf(tmp_path):
    """No creation date in the PDFs: rerunning the demo leaves the committed figures/demo/ unchanged."""
    from matplotlib.figure import Figure

    from emologits.report.figures import save_figure

    for stamp in (None, PIPELINE_CHECK_STAMP):
        fig = Figure()
        fig.add_subplot().plot([0, 1], [1, 0])
        _, pdf = save_figure(fig, tmp_path / str(bool(stamp)), "f", stamp=stamp)
        assert b"/CreationDate" not in pdf.read_bytes()


def test_stamped_figures_show_the_stamp_and_carry_it_in_their_metadata(tmp_path, arrays, monkeypatch):
    from matplotlib.figure import Figure
    from PIL import Image

    shown = []
    real_savefig = Figure.savefig

    def spy(fig, *args, **kwargs):
        shown.append([t.get_text() for t in fig.texts if t.get_visible() and (t.get_alpha() or 1) > 0])
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    stamped = _draw_all(tmp_path / "demo", arrays, stamp=PIPELINE_CHECK_STAMP)
    n_stamped = len(shown)
    plain = _draw_all(tmp_path / "real", arrays)
    assert n_stamped == 10 and len(shown) == 20  # PNG + PDF per figure
    for texts in shown[:n_stamped]:
        joined = " ".join(" ".join(texts).split())
        assert "PIPELINE CHECK" in texts and PIPELINE_CHECK_STAMP in joined  # the words and the reason
    for texts in shown[n_stamped:]:
        assert not any("PIPELINE CHECK" in t for t in texts)
    for (png, pdf), (plain_png, plain_pdf) in zip(stamped, plain):
        assert Image.open(png).text["Description"] == PIPELINE_CHECK_STAMP
        assert Image.open(png).text["Comment"] == PIPELINE_CHECK_STAMP
        assert PIPELINE_CHECK_STAMP in _pdf_text(pdf)
        assert "PIPELINE CHECK" not in " ".join(Image.open(plain_png).text.values())
        assert "PIPELINE CHECK" not in _pdf_text(plain_pdf)
        assert Image.open(png).size[1] > Image.open(plain_png).size[1]  # the sentence is drawn above the plot
    for png, _ in stamped[:4]:
        _check_written((png, png.with_suffix(".pdf")), png.stem)  # still one paper column wide


def test_entropy_histogram_accepts_a_manifest(tmp_path, arrays):
    truth, _ = arrays
    manifest = pd.DataFrame(truth, columns=["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"])
    _check_written(figures.entropy_histogram(manifest, tmp_path, "manifest_entropy"), "manifest_entropy")


# ------------------------------------------------------------------ run README
def _write_readme(tmp_path, pipeline_check):
    out = tmp_path / "figures" / "demo"
    t1 = table1(_result(), _result())
    md_path = tables.write_table(table2(_result(), _result()), out, "table2")[1]
    figs = figures.entropy_histogram(np.eye(4), out, "gt_entropy")
    prov = readme.collect_provenance(config={"run": "demo", "model": {"backend": "tiny-demo"}},
                                     model="tiny-demo", dataset="synthetic")
    return readme.write_run_readme(out, tables={"Table 1: Performance for ambiguous SER": t1,
                                                "Table 2: Impact of prompts": md_path},
                                   figures={"Ground-truth entropy": figs}, provenance=prov,
                                   pipeline_check=pipeline_check)


def test_run_readme_banner_iff_pipeline_check(tmp_path):
    demo = _write_readme(tmp_path / "a", True).read_text()
    real = _write_readme(tmp_path / "b", False).read_text()
    assert "NOT THE PAPER'S RESULTS" in demo and "synthetic" in demo.split("## Tables")[0]
    assert demo.index("NOT THE PAPER'S RESULTS") < demo.index("## Tables")
    assert "NOT THE PAPER'S RESULTS" not in real and "[!WARNING]" not in real


def test_run_readme_shows_tables_figures_and_provenance(tmp_path):
    path = _write_readme(tmp_path, True)
    text = path.read_text()
    assert "### Table 1: Performance for ambiguous SER" in text and re.search(r"\| Baseline +\| Zero-Shot \[15\] +\|", text)
    assert re.search(r"\| Token-level +\| Single +\|", text) and "[csv](table2.csv)" in text and "[tex](table2.tex)" in text
    assert "![Ground-truth entropy](gt_entropy.png)" in text and "[PDF](gt_entropy.pdf)" in text
    for link in re.findall(r"\]\(([^)]+)\)", text):
        assert (path.parent / link).exists(), link
    prov = text.split("## Provenance")[1]
    for key in ("git_commit", "torch", "transformers", "tiny-demo", "synthetic", "backend: tiny-demo"):
        assert key in prov


def test_figures_with_no_valid_predictions_say_so_instead_of_failing(tmp_path):
    from emologits.report import figures
    empty = np.zeros((0, 4))
    for draw in (figures.reliability_diagram, figures.class_scatter):
        png, pdf = draw(empty, empty, tmp_path, name=draw.__name__)
        assert png.stat().st_size > 1000 and pdf.stat().st_size > 500
