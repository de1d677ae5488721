"""Tables 1-3 of the paper, ours beside the paper's, and their CSV / Markdown / LaTeX files.

Builders take result dicts from :func:`emologits.metrics.evaluate_predictions` (or
``evaluate_distributions`` / ``evaluate_labels`` plus an ``n_invalid`` key) and return a numeric
DataFrame, one row per method, row names as in the paper:

* :func:`table1` (``text``, ``token``) + the paper's baseline row -- KL, BD, R^2.
* :func:`table2` (``ambiguous``, ``single``; token level) -- KL, BD, R^2.
* :func:`table3` (``text_single``, ``text_ambiguous``, ``token_ambiguous``, ``token_single``)
  + the paper's four reference rows -- accuracy (%), weighted F1, plus UA (%) and macro F1.
* :func:`figure3_table` -- the numbers behind Figure 3 (all tokens vs emotion-word tokens).

Every builder takes ``extra={"Row name": result, ...}``: rows beyond the paper (label likelihood,
softmax normalisation), typed ``"Extra"``. A missing result (``None``) gives an empty row.

Columns (numeric, CSV-friendly): ``type, method``, then per metric ``<m>, <m>_ci_low, <m>_ci_high,
<m>_paper`` (``_paper`` only where the paper reports it), then ``n, n_invalid``.
:func:`display_table` turns one into strings ("0.99 [0.95, 1.03]") for notebooks and Markdown;
:func:`write_table` writes ``<name>.csv``, ``<name>.md`` and ``<name>.tex`` (booktabs), and
:func:`write_csv` any other table file of a run. With ``stamp=`` (a pipeline-check run, see
:mod:`emologits.report.stamp`) every file carries it: the CSV as a leading ``# ...`` comment line
(read it back with ``pd.read_csv(path, comment="#")``; text cells are quoted, so a ``#`` inside
one is kept), Markdown and LaTeX as a caption line.
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emologits.atomic import write_text_atomic
from emologits.report.paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3, PAPER_TABLE3_REFERENCES

Result = Mapping[str, Any] | None

DIST_METRICS: tuple[str, ...] = ("kl", "bd", "r2")
LABEL_METRICS: tuple[str, ...] = ("accuracy", "f1_weighted", "ua", "f1_macro")
#: Metrics reported in percent in Table 3 (the paper prints accuracy as a percentage).
PERCENT_METRICS: tuple[str, ...] = ("accuracy", "ua")

#: Display header of each metric: (Markdown/notebook, LaTeX).
HEADERS: dict[str, tuple[str, str]] = {
    "type": ("Type", "Type"),
    "method": ("Method", "Method"),
    "kl": ("KL ↓", r"KL ($\downarrow$)"),
    "bd": ("BD ↓", r"BD ($\downarrow$)"),
    "r2": ("R² ↑", r"$R^2$ ($\uparrow$)"),
    "js": ("JS ↓", r"JS ($\downarrow$)"),
    "accuracy": ("Accuracy (%) ↑", r"Accuracy (\%) ($\uparrow$)"),
    "f1_weighted": ("F1 (weighted) ↑", r"F1 (weighted) ($\uparrow$)"),
    "ua": ("UA (%) ↑", r"UA (\%) ($\uparrow$)"),
    "f1_macro": ("F1 (macro) ↑", r"F1 (macro) ($\uparrow$)"),
    "n": ("n", "$n$"),
    "n_invalid": ("invalid", "invalid"),
}


def _get(result: Result, key: str, scale: float = 1.0) -> float:
    if result is None or key not in result or result[key] is None:
        return math.nan
    return float(result[key]) * scale


def _row(
    type_: str,
    method: str,
    result: Result,
    metrics: Sequence[str],
    paper: Mapping[str, Any] | None,
    paper_metrics: Sequence[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {"type": type_, "method": method}
    for m in metrics:
        scale = 100.0 if m in PERCENT_METRICS else 1.0
        row[m] = _get(result, m, scale)
        row[f"{m}_ci_low"] = _get(result, f"{m}_ci_low", scale)
        row[f"{m}_ci_high"] = _get(result, f"{m}_ci_high", scale)
        if m in paper_metrics:
            row[f"{m}_paper"] = math.nan if paper is None else float(paper.get(m, math.nan))
    n_key = "n_label" if metrics[0] in LABEL_METRICS and result is not None and "n_label" in result else "n"
    row["n"] = _get(result, n_key)
    row["n_invalid"] = _get(result, "n_invalid")
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in ("n", "n_invalid"):
        df[c] = df[c].astype("Float64").astype("Int64")
    return df.reset_index(drop=True)


def _extras(extra: Mapping[str, Result] | None, metrics: Sequence[str], paper_metrics: Sequence[str]) -> list:
    return [_row("Extra", name, res, metrics, None, paper_metrics) for name, res in (extra or {}).items()]


def table1(text: Result, token: Result, *, extra: Mapping[str, Result] | None = None) -> pd.DataFrame:
    """Table 1 (ambiguous SER): the paper's baseline row (paper values only), Text, Token-level,
    then ``extra`` rows (e.g. "Token-level (softmax)", "Label likelihood")."""
    rows = [
        _row("Baseline", "Zero-Shot [15]", None, DIST_METRICS, PAPER_TABLE1["Zero-Shot [15]"], DIST_METRICS),
        _row("Proposed", "Text", text, DIST_METRICS, PAPER_TABLE1["Text"], DIST_METRICS),
        _row("Proposed", "Token-level", token, DIST_METRICS, PAPER_TABLE1["Token-level"], DIST_METRICS),
    ]
    return _frame(rows + _extras(extra, DIST_METRICS, DIST_METRICS))


def table2(ambiguous: Result, single: Result, *, extra: Mapping[str, Result] | None = None) -> pd.DataFrame:
    """Table 2 (impact of prompts, token level): Ambiguous and Single prompt, then ``extra`` rows."""
    rows = [
        _row("Token-level", "Ambiguous", ambiguous, DIST_METRICS, PAPER_TABLE2["Ambiguous"], DIST_METRICS),
        _row("Token-level", "Single", single, DIST_METRICS, PAPER_TABLE2["Single"], DIST_METRICS),
    ]
    return _frame(rows + _extras(extra, DIST_METRICS, DIST_METRICS))


def table3(
    text_single: Result,
    text_ambiguous: Result,
    token_ambiguous: Result,
    token_single: Result,
    *,
    extra: Mapping[str, Result] | None = None,
) -> pd.DataFrame:
    """Table 3 (single emotion recognition vs the majority label): the paper's four reference
    rows (paper values only), our four Proposed rows in the paper's order, then ``extra`` rows.
    Accuracy and UA in percent, F1 as a fraction (as printed)."""
    ours = {
        "Text (Single)": text_single,
        "Text (Ambiguous)": text_ambiguous,
        "Token-Level (Ambiguous)": token_ambiguous,
        "Token-Level (Single)": token_single,
    }
    paper_cols = ("accuracy", "f1_weighted")
    rows = []
    for method, ref in PAPER_TABLE3.items():
        result = None if method in PAPER_TABLE3_REFERENCES else ours[method]
        rows.append(_row(str(ref["type"]), method, result, LABEL_METRICS, ref, paper_cols))
    return _frame(rows + _extras(extra, LABEL_METRICS, paper_cols))


def figure3_table(all_tokens: Result, emotion_words: Result) -> pd.DataFrame:
    """Numbers behind Figure 3 (sec. 5.3): logits averaged over all generated tokens vs over the
    emotion-word tokens only (the paper gives no numbers for Figure 3)."""
    rows = [
        _row("Token-level", "All generated tokens", all_tokens, DIST_METRICS, None, ()),
        _row("Token-level", "Emotion-word tokens only", emotion_words, DIST_METRICS, None, ()),
    ]
    return _frame(rows)


# --------------------------------------------------------------------------------------------
# display and files
# --------------------------------------------------------------------------------------------
def _metric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if f"{c}_ci_low" in df.columns]


def _fmt(x: Any, digits: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return "–"
    return f"{float(x):.{digits}f}"


def display_table(df: pd.DataFrame, *, latex: bool = False, digits: int = 2) -> pd.DataFrame:
    """String version of a table built here: ``<m>`` becomes "value [low, high]" (95 % CI),
    ``<m>_paper`` a column "<m> (paper)" beside it, missing values "–". Headers are the paper's
    (``latex=True``: LaTeX headers, "\\%" and "$\\downarrow$")."""
    h = 1 if latex else 0
    dash = "--" if latex else "–"
    out: dict[str, list[str]] = {}
    metrics = _metric_columns(df)
    for c in ("type", "method"):
        if c in df.columns:
            out[HEADERS[c][h]] = [str(v) for v in df[c]]
    for m in metrics:
        name = HEADERS.get(m, (m, m))[h]
        cells = []
        for v, lo, hi in zip(df[m], df[f"{m}_ci_low"], df[f"{m}_ci_high"]):
            s = _fmt(v, digits)
            if s != "–" and not pd.isna(lo) and not pd.isna(hi):
                s += f" [{_fmt(lo, digits)}, {_fmt(hi, digits)}]"
            cells.append(s)
        out[name] = cells
        if f"{m}_paper" in df.columns:
            out[f"{name} (paper)"] = [_fmt(v, digits) for v in df[f"{m}_paper"]]
    for c in ("n", "n_invalid"):
        if c in df.columns:
            out[HEADERS[c][h]] = ["–" if pd.isna(v) else str(int(v)) for v in df[c]]
    table = pd.DataFrame(out)
    return table.replace("–", dash) if latex else table


def to_markdown(df: pd.DataFrame, digits: int = 2) -> str:
    """GitHub pipe table of :func:`display_table` (metric columns right-aligned)."""
    d = display_table(df, digits=digits)
    cols = list(d.columns)
    align = [":--" if c in ("Type", "Method") else "--:" for c in cols]
    esc = lambda s: str(s).replace("|", r"\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(c) for c in cols) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_"}


def _tex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in s)


def to_latex(
    df: pd.DataFrame, digits: int = 2, caption: str | None = None, label: str | None = None,
    *, stamp: str | None = None,
) -> str:
    """Booktabs ``tabular`` (``\\toprule``/``\\midrule``/``\\bottomrule``; needs
    ``\\usepackage{booktabs}``), wrapped in a ``table`` float when ``caption`` or ``stamp`` is
    given. ``stamp`` ends the caption and heads the file as a ``%`` comment line."""
    d = display_table(df, latex=True, digits=digits)
    cols = list(d.columns)
    spec = "".join("l" if c in ("Type", "Method") else "r" for c in cols)
    body = [r"\begin{tabular}{" + spec + "}", r"\toprule", " & ".join(cols) + r" \\", r"\midrule"]
    prev_type = None
    for row in d.itertuples(index=False):
        cells = [_tex_escape(str(v)) if c in ("Type", "Method") else str(v) for c, v in zip(cols, row)]
        if "Type" in cols:
            t = cells[cols.index("Type")]
            if prev_type is not None and t != prev_type:
                body.append(r"\midrule")
            if t == prev_type:
                cells[cols.index("Type")] = ""
            prev_type = t
        body.append(" & ".join(cells) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    if stamp:
        stamp = _one_line(stamp)
        caption = f"{caption} -- {stamp}" if caption else stamp
    if caption is None:
        return "\n".join(body) + "\n"
    head = [f"% {stamp}"] if stamp else []
    head += [r"\begin{table}[t]", r"\centering", r"\caption{" + _tex_escape(caption) + "}"]
    if label:
        head.append(r"\label{" + label + "}")
    return "\n".join(head + [r"\resizebox{\columnwidth}{!}{%"] + body + ["}", r"\end{table}"]) + "\n"


def _one_line(stamp: str) -> str:
    return " ".join(str(stamp).split())


def write_csv(df: pd.DataFrame, path: str | os.PathLike, *, stamp: str | None = None) -> Path:
    """Write ``df`` as CSV (no index, text cells quoted) atomically; with ``stamp`` the first line
    is ``# <stamp>``: read it back with ``pd.read_csv(path, comment="#")``."""
    path = Path(path)
    head = f"# {_one_line(stamp)}\n" if stamp else ""
    write_text_atomic(path, head + df.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC))
    return path


def write_table(
    df: pd.DataFrame, out_dir: str | os.PathLike, name: str, *, caption: str | None = None, digits: int = 2,
    stamp: str | None = None,
) -> list[Path]:
    """Write ``<name>.csv`` (numeric, full precision), ``<name>.md`` and ``<name>.tex`` (booktabs)
    under ``out_dir`` atomically; return the three paths (csv, md, tex). ``stamp`` (a
    pipeline-check run: :func:`emologits.report.stamp.pipeline_check_stamp`) goes into all three:
    a ``#`` comment line of the CSV, a caption line of the Markdown and the LaTeX caption."""
    out = Path(out_dir)
    paths = [out / f"{name}.csv", out / f"{name}.md", out / f"{name}.tex"]
    write_csv(df, paths[0], stamp=stamp)
    md_head = (f"**{caption}**\n\n" if caption else "") + (f"_{_one_line(stamp)}_\n\n" if stamp else "")
    write_text_atomic(paths[1], md_head + to_markdown(df, digits))
    write_text_atomic(paths[2], to_latex(df, digits, caption=caption, label=f"tab:{name}" if caption else None,
                                         stamp=stamp))
    return paths
