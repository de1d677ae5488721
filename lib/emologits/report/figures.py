"""Figures of a run, sized for one paper column (3.4 in wide), saved as PNG (300 dpi) and PDF.

Every function writes ``<out_dir>/<name>.png`` and ``<name>.pdf`` atomically and returns
``[png, pdf]``:

* :func:`metric_bars` -- one panel per metric, one bar per row with its 95 % bootstrap CI
  (Figure 3, sec. 5.3: all generated tokens vs emotion-word tokens only).
* :func:`reliability_diagram` -- predicted probability (binned) vs mean ground-truth probability,
  the classes pooled and each class (:func:`emologits.metrics.reliability_bins`).
* :func:`class_scatter` -- predicted vs true probability, one panel per class.
* :func:`entropy_histogram` -- entropy (bits) of the ground-truth distributions (data prep).

Any number of classes (the emotion set's, from the data); class colours come from seaborn's
colour-blind palette, and seaborn draws the statistical plots (lines by class, scatter, histogram).

Every function takes ``stamp=`` (a pipeline-check run: :func:`emologits.report.stamp.pipeline_check_stamp`):
the figure then shows it (a translucent diagonal "PIPELINE CHECK" over the plot and the full
sentence above it) and both files carry it in their metadata (PNG text chunks ``Description`` and
``Comment``, PDF ``Subject`` and ``Keywords``), so a script can check a file without looking at it.
All of this happens in :func:`save_figure`.

Figures use the non-interactive Agg canvas (no display needed) and close after saving.
"""
from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.backends.backend_agg import FigureCanvasAgg

import pandas as pd
import seaborn as sns

from emologits.atomic import atomic_path
from emologits.metrics import EvaluationResult, Metric, class_names, entropy, reliability_bins
from emologits.metrics.functions import Classes

#: One paper column, in inches.
COLUMN_WIDTH = 3.4
#: PNG resolution.
DPI = 300
#: Palette of the classes and of the bars (seaborn, colour-blind safe; 10 colours, then repeats).
PALETTE = "colorblind"
_RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5, "legend.fontsize": 6.5, "axes.spines.top": False, "axes.spines.right": False,
    "pdf.fonttype": 42,
}


def class_colors(classes: Sequence[str]) -> dict[str, Any]:
    """One colour per class, in the set's order."""
    return dict(zip(classes, sns.color_palette(PALETTE, len(classes))))


def _styled(fn: Callable[..., list[Path]]) -> Callable[..., list[Path]]:
    """Run a figure function under the package's style (a local rc context, no global change)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> list[Path]:
        with mpl.rc_context(_RC):
            return fn(*args, **kwargs)

    return wrapper


def _new_figure(height: float, width: float = COLUMN_WIDTH) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


#: Colour of the pipeline-check stamp.
STAMP_COLOR = "#B00020"
#: The stamp's short form, drawn large and translucent across the figure.
STAMP_WORDS = "PIPELINE CHECK"


def _draw_stamp(fig: Figure, stamp: str) -> None:
    """Draw ``stamp`` on ``fig``: :data:`STAMP_WORDS` large, diagonal and translucent across it
    (sized to stay inside the figure), and the full sentence in small type above everything (on
    top, not below: a figure legend anchored at the bottom would move onto it)."""
    width, height = fig.get_size_inches()
    fig.text(0.5, 0.5, STAMP_WORDS, rotation=20, ha="center", va="center", color=STAMP_COLOR, alpha=0.15,
             fontsize=min(20.0, 7.0 * width, 14.0 * height), fontweight="bold", zorder=10)
    fig.draw_without_rendering()  # run the layout, then put the sentence above the drawn area
    top = fig.get_tightbbox().y1 / height  # inches -> figure fraction
    fig.text(0.5, top + 0.03 / height, textwrap.fill(" ".join(stamp.split()), 64), ha="center", va="bottom",
             fontsize=5, color=STAMP_COLOR)


def _metadata(ext: str, stamp: str | None) -> dict[str, str] | None:
    if not stamp:
        return None
    if ext == "png":
        return {"Description": stamp, "Comment": stamp}
    return {"Subject": stamp, "Keywords": STAMP_WORDS}


def save_figure(fig: Figure, out_dir: str | os.PathLike, name: str, *, stamp: str | None = None) -> list[Path]:
    """Save ``fig`` as ``<name>.png`` (300 dpi) and ``<name>.pdf`` under ``out_dir`` atomically.
    ``stamp``: draw it on the figure and write it into both files' metadata (see the module doc)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if stamp:
        _draw_stamp(fig, stamp)
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight", pad_inches=0.02,
                        metadata=_metadata(ext, stamp))
        paths.append(path)
    return paths


@_styled
def metric_bars(
    rows: Sequence[tuple[str, EvaluationResult | None]],
    metrics: Sequence[Metric],
    out_dir: str | os.PathLike,
    name: str,
    *,
    stamp: str | None = None,
) -> list[Path]:
    """One panel per metric (titled by its label, e.g. "KL ↓"), one bar per (row label, result)
    with 95 % bootstrap CI error bars and the value printed above it; a row without a valid
    prediction (NaN) draws no bar and prints "n/a"."""
    colors = sns.color_palette(PALETTE, len(rows))
    fig = _new_figure(1.55)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, m in zip(axes, metrics):
        values = [res.get(m.name) if res is not None else None for _, res in rows]
        finite = [v for v in values if v is not None and np.isfinite(v.value)]
        for j, ((label, _), v, color) in enumerate(zip(rows, values, colors)):
            ok = v is not None and np.isfinite(v.value)
            value = v.value if ok else 0.0
            err = np.array([[value - v.ci_low], [v.ci_high - value]]) if ok else None
            ax.bar(j, value, width=0.7, color=color, label=label, yerr=None if err is None else np.maximum(err, 0),
                   capsize=2, error_kw={"elinewidth": 0.8, "capthick": 0.8})
            ax.annotate(f"{value:.2f}" if ok else "n/a", (j, v.ci_high if ok else 0.0), textcoords="offset points",
                        xytext=(0, 1.5), ha="center", va="bottom", fontsize=6)
        ax.set_title(m.label)
        ax.set_xticks([])
        ax.set_xlim(-0.6, len(rows) - 0.4)
        highs = [v.ci_high for v in finite if np.isfinite(v.ci_high)]
        lows = [v.ci_low for v in finite if np.isfinite(v.ci_low)]
        top = max(highs, default=1.0)
        ax.set_ylim(min([0.0, *lows]), top * 1.2 if top > 0 else 1)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(rows), 2), frameon=False)
    return save_figure(fig, out_dir, name, stamp=stamp)


def _no_data_figure(out_dir: str | os.PathLike, name: str, message: str, *,
                    stamp: str | None = None) -> list[Path]:
    """A figure that says why it is empty (e.g. eq. 2 invalid for every utterance), not a crash."""
    fig = _new_figure(1.2)
    fig.text(0.5, 0.5, message, ha="center", va="center")
    return save_figure(fig, out_dir, name, stamp=stamp)


@_styled
def reliability_diagram(
    truth: Any,
    pred: Any,
    out_dir: str | os.PathLike,
    name: str = "reliability",
    n_bins: int = 10,
    title: str | None = None,
    *,
    classes: Classes = None,
    stamp: str | None = None,
) -> list[Path]:
    """Reliability diagram: x = predicted probability (bin mean), y = mean ground-truth
    probability of the same class in that bin; pooled (black, marker size ~ count) and per class
    (thin coloured lines); the diagonal is perfect calibration."""
    if len(pred) == 0:
        return _no_data_figure(out_dir, name, "no valid predictions to plot", stamp=stamp)
    names = class_names(pred, np.shape(pred)[1], classes)
    bins = reliability_bins(truth, pred, n_bins, classes=names)
    fig = _new_figure(2.9)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", lw=0.7, color="0.6", label="ideal")
    per_class = bins[bins["class"] != "all"]
    sns.lineplot(data=per_class, x="mean_pred", y="mean_true", hue="class", hue_order=list(names),
                 palette=class_colors(names), lw=0.9, marker=".", markersize=3, markeredgewidth=0, sort=True,
                 estimator=None, ax=ax)
    pooled = bins[bins["class"] == "all"]
    ax.plot(pooled["mean_pred"], pooled["mean_true"], lw=1.3, color="black", label="all classes")
    sns.scatterplot(data=pooled, x="mean_pred", y="mean_true", size="count", sizes=(8, 48), color="black",
                    legend=False, zorder=3, ax=ax)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("ground-truth probability (mean)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", frameon=False, handlelength=1.5)
    return save_figure(fig, out_dir, name, stamp=stamp)


@_styled
def class_scatter(
    truth: Any,
    pred: Any,
    out_dir: str | os.PathLike,
    name: str = "class_scatter",
    seed: int = 0,
    title: str | None = None,
    *,
    classes: Classes = None,
    stamp: str | None = None,
) -> list[Path]:
    """Predicted vs true probability of each class (one panel per class, two or three per row).
    The true probabilities of IEMOCAP take few values (0, 1/3, 2/3, 1), so points get a small
    horizontal jitter (deterministic by ``seed``); a marker shows the mean prediction per distinct
    true value."""
    if len(pred) == 0:
        return _no_data_figure(out_dir, name, "no valid predictions to plot", stamp=stamp)
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    names = class_names(pred, p.shape[1], classes)
    colors = class_colors(names)
    rng = np.random.default_rng(seed)
    ncols = 2 if len(names) <= 4 else 3
    nrows = -(-len(names) // ncols)
    fig = _new_figure(1.65 * nrows)
    axes = np.atleast_2d(fig.subplots(nrows, ncols, sharex=True, sharey=True))
    alpha = float(np.clip(30 / max(len(t), 1), 0.08, 0.6))
    for k, (ax, cls) in enumerate(zip(axes.ravel(), names)):
        x, y = t[:, k], p[:, k]
        ax.plot([0, 1], [0, 1], ls="--", lw=0.6, color="0.6")
        sns.scatterplot(x=x + rng.uniform(-0.02, 0.02, len(x)), y=y, s=3, alpha=alpha, color=colors[cls],
                        linewidth=0, rasterized=True, ax=ax)
        levels = np.unique(np.round(x, 6))
        if len(levels) <= 12:
            means = [y[np.isclose(x, v)].mean() for v in levels]
            ax.plot(levels, means, marker="D", ms=3, lw=0.8, color="black")
        r = np.corrcoef(x, y)[0, 1] if np.std(x) > 0 and np.std(y) > 0 else float("nan")
        ax.set_title(f"{cls} (r = {r:.2f})")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax in axes.ravel():
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in axes[-1]:
        ax.set_xlabel("true probability")
    for ax in axes[:, 0]:
        ax.set_ylabel("predicted probability")
    if title:
        fig.suptitle(title)
    return save_figure(fig, out_dir, name, stamp=stamp)


@_styled
def entropy_histogram(
    truth: Any,
    out_dir: str | os.PathLike,
    name: str = "gt_entropy",
    title: str | None = None,
    *,
    stamp: str | None = None,
) -> list[Path]:
    """Histogram of ground-truth entropy in bits (0 = all raters agree; log2 N = uniform over N
    classes). With few distinct values (a few raters) each value gets its own labelled bar."""
    h = np.round(entropy(truth), 4)
    n_classes = truth.shape[1] if not isinstance(truth, pd.DataFrame) else len(
        [c for c in truth.columns if str(c).startswith("gt_")])
    top = float(np.log2(max(n_classes, 2)))
    fig = _new_figure(1.8)
    ax = fig.subplots()
    levels, counts = np.unique(h, return_counts=True)
    if len(levels) <= 12:
        ax.bar(levels, counts, width=0.04 * top, color=sns.color_palette(PALETTE)[0])
        for lv, c in zip(levels, counts):
            ax.annotate(str(c), (lv, c), textcoords="offset points", xytext=(0, 1.5), ha="center", fontsize=6)
        ax.set_ylim(0, counts.max() * 1.15)
    else:
        sns.histplot(x=h, bins=np.linspace(0, top, 21), color=sns.color_palette(PALETTE)[0], ax=ax)
    ax.set_xlim(-0.05 * top, 1.05 * top)
    ax.set_xlabel("ground-truth entropy (bits)")
    ax.set_ylabel("utterances")
    ax.set_title(title or f"Ambiguity of the ground truth (n = {len(h)})")
    return save_figure(fig, out_dir, name, stamp=stamp)
