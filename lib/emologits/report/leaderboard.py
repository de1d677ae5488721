"""The model-comparison leaderboard (notebook 08): models x methods x prompts x metrics.

One row per model, leaderboard method (text, sec. 3.4.1; token level with either eq. 2 variant,
sec. 3.4.2; label likelihood) and prompt: each metric with its 95 % bootstrap CI (the comparison's
``evaluation``: one seed and one number of resamples for every model), the utterances scored
(``n``), the invalid ones (``n_invalid``: omitted, sec. 5.1), and the model-seconds per utterance
with its bootstrap CI (``seconds_per_utt``: the records' ``seconds``, a batch's time shared by its
utterances; the text and token rows of a prompt come from the same generation pass, so they share it).

Files in ``figures/<comparison>/``: ``leaderboard.csv`` (numeric, full precision; a pipeline-check
run starts with the ``# PIPELINE CHECK`` line), ``leaderboard.md``, ``leaderboard.tex`` (booktabs),
``leaderboard.png``/``.pdf`` (one panel per ``figure_metrics``: value and CI per method and prompt,
one marker per model) and ``README.md`` (the models, the table, the figure).

It is not in ``ARTEFACTS``: an artefact there is built from one run's session, a leaderboard from
several runs (:class:`emologits.compare.Comparison`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from emologits.artifacts import DistributionKey
from emologits.metrics import EvaluationResult, Metric, resolve_metrics
from emologits.report.spec import Built

if TYPE_CHECKING:
    from emologits.compare import Comparison

#: The leaderboard's file stem.
NAME = "leaderboard"


@dataclass(frozen=True)
class Entry:
    """One leaderboard row: the model's label, the leaderboard method (``text``, ``token_ratio``,
    ``token_softmax``, ``likelihood``), its distribution table, the evaluation (None: not computed,
    e.g. label likelihood outside ``pipeline.methods``) and the model-seconds of each utterance."""

    model: str
    method: str
    key: DistributionKey
    result: EvaluationResult | None
    seconds: np.ndarray | None = None


def _mean_ci(values: np.ndarray | None, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Mean and 95 % percentile-bootstrap CI of ``values`` (NaN when empty)."""
    if values is None or len(values) == 0:
        return math.nan, math.nan, math.nan
    values = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(values), size=(n_boot, len(values)))
    boots = values[idx].mean(axis=1)
    return float(values.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def leaderboard_table(entries: Sequence[Entry], metrics: Sequence[str | Metric], *, n_boot: int = 1000,
                      seed: int = 0) -> pd.DataFrame:
    """The numeric leaderboard: columns ``model, method, method_id, prompt, distribution``, per
    metric ``<m>, <m>_ci_low, <m>_ci_high`` (:func:`emologits.report.tables.metric_table`: x100 for
    percent metrics, as every table here), then ``seconds_per_utt`` with its CI, ``n`` and
    ``n_invalid``; one row per entry, in order."""
    from emologits.compare import METHOD_LABELS
    from emologits.report.tables import TableRow, metric_table

    df = metric_table([TableRow(e.model, f"{METHOD_LABELS.get(e.method, e.method)} ({e.key.prompt})", e.result)
                       for e in entries], resolve_metrics(metrics)).rename(columns={"type": "model"})
    df.insert(2, "method_id", [e.method for e in entries])
    df.insert(3, "prompt", [e.key.prompt for e in entries])
    df.insert(4, "distribution", [e.key.name for e in entries])
    seconds = np.array([_mean_ci(e.seconds, n_boot, seed) for e in entries], dtype=float).reshape(-1, 3)
    at = df.columns.get_loc("n")
    for i, column in enumerate(("seconds_per_utt", "seconds_per_utt_ci_low", "seconds_per_utt_ci_high")):
        df.insert(at + i, column, seconds[:, i])
    return df


def _shown(df: pd.DataFrame) -> pd.DataFrame:
    """The columns the Markdown / LaTeX tables show (the model in the table writers' first column;
    model-seconds per utterance without its CI, as every table here)."""
    drop = ["method_id", "prompt", "distribution", "seconds_per_utt_ci_low", "seconds_per_utt_ci_high"]
    return df.drop(columns=[c for c in drop if c in df]).rename(columns={"model": "type"})


def write_leaderboard(df: pd.DataFrame, out_dir: str | Path, *, caption: str, stamp: str | None,
                      metrics: Sequence[Metric], name: str = NAME) -> list[Path]:
    """``<name>.csv`` (every column), ``<name>.md`` and ``<name>.tex`` (model, method, metrics with
    CIs, s/utt, n, invalid; ``stamp`` in all three, as :func:`emologits.report.tables.write_table`)."""
    from emologits.atomic import write_text_atomic
    from emologits.report.tables import write_csv, write_table

    out = Path(out_dir)
    paths = write_table(_shown(df), out, name, caption=caption, stamp=stamp, metrics=metrics)
    write_csv(df, paths[0], stamp=stamp)  # the CSV keeps the model / prompt / table columns by name
    for path in paths[1:]:  # the first column is the model
        write_text_atomic(path, path.read_text().replace("| Type ", "| Model", 1).replace("Type &", "Model &", 1))
    return paths


def leaderboard_figure(df: pd.DataFrame, metrics: Sequence[Metric], out_dir: str | Path, *,
                       stamp: str | None, name: str = NAME) -> list[Path]:
    """One panel per metric: for each method and prompt (rows) every model's value with its 95 %
    CI (one colour and marker per model); a missing value (nothing valid) is left out."""
    import seaborn as sns

    from emologits.report.figures import COLUMN_WIDTH, PALETTE, _new_figure, _styled, save_figure

    @_styled
    def draw() -> list[Path]:
        methods = list(dict.fromkeys(df["method"]))
        models = list(dict.fromkeys(df["model"]))
        colors = sns.color_palette(PALETTE, len(models))
        fig = _new_figure(0.6 + 0.22 * len(methods) + 0.12 * len(models), COLUMN_WIDTH * max(1, len(metrics)) / 1.4)
        axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
        offsets = np.linspace(-0.25, 0.25, len(models)) if len(models) > 1 else [0.0]
        for ax, m in zip(axes, metrics):
            for k, (model, color, off) in enumerate(zip(models, colors, offsets)):
                rows = df[df["model"] == model].set_index("method").reindex(methods)
                y = np.arange(len(methods)) + off
                value = rows[m.name].to_numpy(dtype=float)
                ok = np.isfinite(value)
                err = np.vstack([value - rows[f"{m.name}_ci_low"].to_numpy(dtype=float),
                                 rows[f"{m.name}_ci_high"].to_numpy(dtype=float) - value])
                ax.errorbar(value[ok], y[ok], xerr=np.maximum(np.nan_to_num(err[:, ok]), 0), fmt="osD^v<>"[k % 7],
                            ms=3, color=color, elinewidth=0.8, capsize=1.5, label=model)
            ax.set_title(m.label)
            ax.set_yticks(np.arange(len(methods)), methods)
            ax.grid(axis="x", lw=0.3, alpha=0.5)
        axes[0].invert_yaxis()  # the first method on top (the axes share it: once)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=1, frameon=False)
        return save_figure(fig, out_dir, name, stamp=stamp)

    return draw()


class LeaderboardBuilt(Built):
    """The built leaderboard; in a notebook its first column reads "Model"."""

    def _repr_html_(self) -> str:
        return super()._repr_html_().replace("<th>Type</th>", "<th>Model</th>", 1)


def comparison_entries(comparison: Comparison) -> list[Entry]:
    """Evaluate every model's run on the leaderboard's methods and prompts (each model's manifest
    must hold the same utterances: one data set, one ``--limit`` subset)."""
    from emologits.compare import leaderboard_keys, seconds_per_utterance
    from emologits.errors import EmologitsError

    spec = comparison.spec.leaderboard
    entries: list[Entry] = []
    reference: tuple[str, list[str]] | None = None
    for model in comparison.models:
        session = comparison.session(model)
        ids = [str(u) for u in session.manifest["utt_id"]]
        if reference is None:
            reference = (model.name, ids)
        elif ids != reference[1]:
            raise EmologitsError(f"{comparison.path}: the runs of {reference[0]!r} and {model.name!r} hold different "
                                 f"utterances ({len(reference[1])} vs {len(ids)}): run ./run_all.sh {comparison.path} "
                                 "again with one --limit for every model")
        missing = [p for p in spec.prompts if p not in model.cfg.prompts["ids"]]
        if missing:
            raise EmologitsError(f"{comparison.path}: leaderboard.prompts {missing} are not among model "
                                 f"{model.name!r}'s prompts.ids {model.cfg.prompts['ids']}")
        for method, key in leaderboard_keys(spec):
            if not session.configured(key):  # e.g. likelihood outside pipeline.methods
                entries.append(Entry(model.label, method, key, None))
                continue
            result = session.evaluate(key, spec.metrics)
            seconds = seconds_per_utterance(session.records(key.prompt, key.inference_method)[0])
            entries.append(Entry(model.label, method, key, result, seconds))
    return entries


def build_leaderboard(comparison: Comparison) -> LeaderboardBuilt:
    """Evaluate, then write the leaderboard's table files, figure and ``README.md`` into
    ``figures/<comparison>/``; returns a :class:`emologits.report.spec.Built` (shown as the table
    and figure in a notebook)."""
    from emologits.atomic import write_text_atomic

    spec = comparison.spec.leaderboard
    ev = comparison.spec.evaluation
    metrics = resolve_metrics(spec.metrics)
    df = leaderboard_table(comparison_entries(comparison), metrics, n_boot=int(ev.bootstrap), seed=int(ev.seed))
    n = sorted({int(v) for v in (df["n"] + df["n_invalid"]).dropna()})
    caption = (f"Leaderboard {comparison.name}: {len(comparison.models)} models x methods x prompts "
               f"({'/'.join(map(str, n))} utterances; 95 % bootstrap CIs)")
    out = comparison.figures_dir
    paths = write_leaderboard(df, out, caption=caption, stamp=comparison.stamp, metrics=metrics)
    figure_metrics = [m for m in metrics if m.name in spec.figure_metrics]
    paths += leaderboard_figure(df, figure_metrics, out, stamp=comparison.stamp)
    banner = (f"> **{comparison.stamp}**\n\n" if comparison.stamp else "")
    models = comparison.overview()[["model", "backend", "name_or_path", "run"]].to_markdown(index=False)
    readme = (f"# {caption}\n\n{banner}Comparison config: `{comparison.path}`\n\n## Models\n\n{models}\n\n"
              f"## Leaderboard\n\n{paths[1].read_text()}\n## Figure\n\n![{NAME}]({NAME}.png)\n")
    paths.append(write_text_atomic(out / "README.md", readme))
    return LeaderboardBuilt(NAME, caption, paths, _shown(df), metrics)


__all__ = ["NAME", "Entry", "LeaderboardBuilt", "build_leaderboard", "comparison_entries", "leaderboard_figure",
           "leaderboard_table", "write_leaderboard"]
