"""Metric tables (ours beside the paper's) and their CSV / Markdown / LaTeX files.

* :func:`metric_table` -- rows (method names, each with an :class:`~emologits.metrics.EvaluationResult`
  or None for a reference row) x metrics -> a numeric DataFrame. Columns (CSV-friendly):
  ``type, method``, then per metric ``<m>, <m>_ci_low, <m>_ci_high, <m>_paper`` (``_paper`` only
  for the metrics the paper reports), then ``n, n_invalid``. Percent metrics (accuracy, UA) are
  x100, as the paper prints them. Which rows and metrics: an artefact spec
  (:mod:`emologits.report.spec`).
* :func:`display_table` -- strings ("0.99 [0.95, 1.03]", the paper's value beside ours) with each
  metric's label (``"KL ↓"``).
* :func:`write_table` -- ``<name>.csv``, ``<name>.md`` (pandas + tabulate) and ``<name>.tex``
  (pandas Styler, booktabs); :func:`write_csv` any other table file of a run. With ``stamp=`` (a
  pipeline-check run, see :mod:`emologits.report.stamp`) every file carries it: the CSV as a
  leading ``# ...`` comment line (read it back with ``pd.read_csv(path, comment="#")``; text cells
  are quoted, so a ``#`` inside one is kept), Markdown and LaTeX as a caption line.
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from emologits.atomic import write_text_atomic
from emologits.metrics import METRICS, EvaluationResult, Metric

#: Headers of the non-metric columns: (Markdown/notebook, LaTeX).
HEADERS: dict[str, tuple[str, str]] = {
    "type": ("Type", "Type"),
    "method": ("Method", "Method"),
    "n": ("n", "$n$"),
    "n_invalid": ("invalid", "invalid"),
    "seconds_per_utt": ("model-s/utt", "model-s/utt"),
}
_TEXT_COLUMNS = ("Type", "Method")


@dataclass(frozen=True)
class TableRow:
    """One row of a metric table: its Type and Method cells, our result (None: a reference row
    with the paper's values only) and the paper's values (metric -> value; None: none)."""

    type: str
    method: str
    result: EvaluationResult | None
    paper: Mapping[str, Any] | None = None


def _metric(m: str | Metric) -> Metric:
    return m if isinstance(m, Metric) else METRICS.get(m)


def metric_table(rows: Sequence[TableRow], metrics: Sequence[str | Metric],
                 paper_metrics: Sequence[str] = ()) -> pd.DataFrame:
    """The numeric table: one row per :class:`TableRow`, per metric value and 95 % CI (x100 for
    percent metrics) and, for ``paper_metrics``, the paper's value; ``n`` is the count behind the
    first metric (``n_label`` for label metrics), ``n_invalid`` the omitted rows (empty when not
    known, never a made-up 0)."""
    specs = [_metric(m) for m in metrics]
    records = []
    for row in rows:
        rec: dict[str, Any] = {"type": row.type, "method": row.method}
        res = row.result
        for m in specs:
            scale = 100.0 if m.percent else 1.0
            v = res.get(m.name) if res is not None else None
            rec[m.name] = math.nan if v is None else float(v.value) * scale
            rec[f"{m.name}_ci_low"] = math.nan if v is None else float(v.ci_low) * scale
            rec[f"{m.name}_ci_high"] = math.nan if v is None else float(v.ci_high) * scale
            if m.name in paper_metrics:
                rec[f"{m.name}_paper"] = float((row.paper or {}).get(m.name, math.nan))
        rec["n"] = math.nan if res is None else res.count(specs[0])
        rec["n_invalid"] = math.nan if res is None or res.n_invalid is None else res.n_invalid
        records.append(rec)
    df = pd.DataFrame(records)
    for c in ("n", "n_invalid"):
        df[c] = df[c].astype("Float64").astype("Int64")
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# display and files
# --------------------------------------------------------------------------------------------
def _metric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if f"{c}_ci_low" in df.columns]


def _fmt(x: Any, digits: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return "–"
    return f"{float(x):.{digits}f}"


def _label(column: str, latex: bool, metrics: Mapping[str, Metric]) -> str:
    if column in HEADERS:
        return HEADERS[column][int(latex)]
    m = metrics.get(column) or (METRICS.get(column) if column in METRICS else None)
    if m is None:
        return column
    return m.latex if latex else m.label


def display_table(df: pd.DataFrame, *, latex: bool = False, digits: int = 2,
                  metrics: Sequence[Metric] = ()) -> pd.DataFrame:
    """String version of a metric table: ``<m>`` becomes "value [low, high]" (95 % CI),
    ``<m>_paper`` a column "<label> (paper)" beside it, missing values "–". Headers are the
    metrics' labels (registered ones, or those of ``metrics``; ``latex=True``: LaTeX labels, "--"
    for missing)."""
    specs = {m.name: m for m in metrics}
    out: dict[str, list[str]] = {}
    for c in ("type", "method"):
        if c in df.columns:
            out[_label(c, latex, specs)] = [str(v) for v in df[c]]
    for m in _metric_columns(df):
        name = _label(m, latex, specs)
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
            out[_label(c, latex, specs)] = ["–" if pd.isna(v) else str(int(v)) for v in df[c]]
    if "seconds_per_utt" in df.columns:  # a method's cost (notebook 09), three significant digits
        out[_label("seconds_per_utt", latex, specs)] = ["–" if pd.isna(v) else f"{float(v):.3g}"
                                                        for v in df["seconds_per_utt"]]
    table = pd.DataFrame(out)
    return table.replace("–", "--") if latex else table


def to_markdown(df: pd.DataFrame, digits: int = 2, metrics: Sequence[Metric] = ()) -> str:
    """GitHub pipe table of :func:`display_table` (text columns left-, metric columns right-aligned)."""
    d = display_table(df, digits=digits, metrics=metrics).map(lambda s: str(s).replace("|", r"\|"))
    align = ["left" if c in _TEXT_COLUMNS else "right" for c in d.columns]
    return d.to_markdown(index=False, colalign=align, disable_numparse=True) + "\n"


def _blank_repeated_types(d: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """Blank a Type cell equal to the one above; the rows where a new Type group starts (after the first)."""
    if "Type" not in d.columns:
        return d, []
    types = list(d["Type"])
    starts = [i for i in range(1, len(types)) if types[i] != types[i - 1]]
    d = d.copy()
    d["Type"] = [t if i == 0 or t != types[i - 1] else "" for i, t in enumerate(types)]
    return d, starts


def to_latex(
    df: pd.DataFrame, digits: int = 2, caption: str | None = None, label: str | None = None,
    *, stamp: str | None = None, metrics: Sequence[Metric] = (),
) -> str:
    """Booktabs ``tabular`` (pandas Styler; needs ``\\usepackage{booktabs}``), a ``\\midrule``
    between Type groups, wrapped in a ``table`` float when ``caption`` or ``stamp`` is given.
    ``stamp`` ends the caption and heads the file as a ``%`` comment line."""
    d, starts = _blank_repeated_types(display_table(df, latex=True, digits=digits, metrics=metrics))
    text_cols = [c for c in d.columns if c in _TEXT_COLUMNS]
    spec = "".join("l" if c in _TEXT_COLUMNS else "r" for c in d.columns)
    tabular = (d.style.hide(axis="index").format(escape="latex", subset=text_cols)
               .to_latex(column_format=spec, hrules=True)).splitlines()
    first_row = tabular.index(r"\midrule") + 1
    for offset, i in enumerate(starts):
        tabular.insert(first_row + i + offset, r"\midrule")
    body = tabular
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


_CAPTION_SPECIALS = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_"}


def _tex_escape(s: str) -> str:
    """Escape a caption (the cells go through the Styler's LaTeX escaping)."""
    return "".join(_CAPTION_SPECIALS.get(ch, ch) for ch in s)


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
    stamp: str | None = None, metrics: Sequence[Metric] = (),
) -> list[Path]:
    """Write ``<name>.csv`` (numeric, full precision), ``<name>.md`` and ``<name>.tex`` (booktabs)
    under ``out_dir`` atomically; return the three paths (csv, md, tex). ``stamp`` (a
    pipeline-check run: :func:`emologits.report.stamp.pipeline_check_stamp`) goes into all three:
    a ``#`` comment line of the CSV, a caption line of the Markdown and the LaTeX caption.
    ``metrics``: specs of unregistered metric columns (for their labels)."""
    out = Path(out_dir)
    paths = [out / f"{name}.csv", out / f"{name}.md", out / f"{name}.tex"]
    write_csv(df, paths[0], stamp=stamp)
    md_head = (f"**{caption}**\n\n" if caption else "") + (f"_{_one_line(stamp)}_\n\n" if stamp else "")
    write_text_atomic(paths[1], md_head + to_markdown(df, digits, metrics))
    write_text_atomic(paths[2], to_latex(df, digits, caption=caption, label=f"tab:{name}" if caption else None,
                                         stamp=stamp, metrics=metrics))
    return paths
