"""Figures of a run, sized for one paper column (3.4 in wide), saved as PNG (300 dpi) and PDF.

Every function writes ``<out_dir>/<name>.png`` and ``<name>.pdf`` atomically and returns
``[png, pdf]``:

* :func:`metric_bars` -- one panel per metric, one bar per row with its 95 % bootstrap CI
  (Figure 3, sec. 5.3: all generated tokens vs emotion-word tokens only).
* :func:`reliability_diagram` -- predicted probability (binned) vs mean ground-truth probability,
  the classes pooled and each class (:func:`emologits.metrics.reliability_bins`), marker area =
  bin count (with its legend), bins under :data:`MIN_BIN_COUNT` utterances hollow and not joined;
  :func:`reliability_panels` several side by side (before / after calibration).
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


def _metadata(ext: str, stamp: str | None) -> dict[str, str | None] | None:
    """PNG/PDF metadata: the stamp where there is one; PDFs without a creation date, so a rerun
    writes the same file (the committed figures/demo/ stays unchanged)."""
    if ext == "png":
        return {"Description": stamp, "Comment": stamp} if stamp else None
    return {"CreationDate": None, **({"Subject": stamp, "Keywords": STAMP_WORDS} if stamp else {})}


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


#: Reliability bins with fewer utterances than this are drawn as hollow grey markers and left out
#: of the lines (one or two utterances would draw a spike to 0 or 1 that says nothing).
MIN_BIN_COUNT = 5


def _marker_area(count: Any, sizes: tuple[float, float], size_norm: tuple[float, float]) -> np.ndarray:
    """Marker area of a pooled reliability bin of ``count`` utterances: log-scaled from
    ``size_norm`` (counts) onto ``sizes`` (points²), clipped (the panels and the count legend)."""
    lo, hi = size_norm
    frac = (np.log(np.asarray(count, dtype=float)) - np.log(lo)) / max(np.log(hi) - np.log(lo), 1e-9)
    return sizes[0] + np.clip(frac, 0, 1) * (sizes[1] - sizes[0])


def _reliability_axes(ax: Any, bins: pd.DataFrame, names: Sequence[str], min_count: int,
                      sizes: tuple[float, float], size_norm: tuple[float, float]) -> None:
    """One reliability panel: the diagonal, the pooled classes (black line, marker area ~ bin
    count), each class (coloured line and small markers drawn above the pooled line), thin bins hollow."""
    ax.plot([0, 1], [0, 1], ls="--", lw=0.7, color="0.6", zorder=1)
    colors = class_colors(names)
    series = [("all classes", "black", 1.6, "-", bins[bins["class"] == "all"], 2)]
    series += [(c, colors[c], 1.0, "-", bins[bins["class"] == c], 4) for c in names]
    for label, color, lw, ls, data, z in series:
        data = data.sort_values("mean_pred")
        kept, thin = data[data["count"] >= min_count], data[data["count"] < min_count]
        ax.plot(kept["mean_pred"], kept["mean_true"], lw=lw, ls=ls, color=color, label=label, zorder=z)
        pooled = label == "all classes"
        ax.scatter(kept["mean_pred"], kept["mean_true"], s=_marker_area(kept["count"], sizes, size_norm) if pooled else 10.0,
                   color=color, edgecolors="white", linewidths=0.4, zorder=z + 0.5)
        if len(thin):
            ax.scatter(thin["mean_pred"], thin["mean_true"], s=6, facecolors="none", edgecolors=color,
                       linewidths=0.5, alpha=0.6, zorder=z + 0.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")


def _count_handles(size_norm: tuple[float, float], sizes: tuple[float, float], min_count: int) -> list[Any]:
    """Legend entries for the marker area: three bin counts (filled markers: bins of at least
    ``min_count``), and the hollow marker of a thin bin."""
    from matplotlib.lines import Line2D

    lo, hi = size_norm
    counts = sorted({int(round(v)) for v in np.geomspace(max(lo, min_count, 1), max(hi, min_count, 1), 3)})
    handles = []
    for c in counts:
        area = _marker_area(c, sizes, size_norm)
        handles.append(Line2D([], [], ls="", marker="o", color="black", markersize=float(np.sqrt(area)),
                              label=f"{c} utt. (all classes)"))
    handles.append(Line2D([], [], ls="", marker="o", markerfacecolor="none", markeredgecolor="0.4",
                          markersize=2.5, label=f"< {min_count} utt. (not joined)"))
    return handles


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
    min_count: int = MIN_BIN_COUNT,
) -> list[Path]:
    """Reliability diagram: x = predicted probability (bin mean), y = mean ground-truth
    probability of the same class in that bin; the classes pooled (black, marker area ~ bin count,
    with a legend of counts) and each class (coloured lines drawn above it); bins with fewer than
    ``min_count`` utterances are hollow and not joined; the diagonal is perfect calibration.
    ``title``: what is plotted (method and prompt)."""
    if len(pred) == 0:
        return _no_data_figure(out_dir, name, "no valid predictions to plot", stamp=stamp)
    return reliability_panels([(title or "", truth, pred)], out_dir, name, n_bins, classes=classes,
                              stamp=stamp, min_count=min_count)


@_styled
def reliability_panels(
    panels: Sequence[tuple[str, Any, Any]],
    out_dir: str | os.PathLike,
    name: str,
    n_bins: int = 10,
    *,
    classes: Classes = None,
    stamp: str | None = None,
    min_count: int = MIN_BIN_COUNT,
) -> list[Path]:
    """Reliability diagrams side by side, one per ``(title, truth, pred)`` (e.g. before and after
    calibration), on one marker-area scale; drawn as :func:`reliability_diagram`."""
    panels = [(t, tr, pr) for t, tr, pr in panels if len(pr)]
    if not panels:
        return _no_data_figure(out_dir, name, "no valid predictions to plot", stamp=stamp)
    names = class_names(panels[0][2], np.shape(panels[0][2])[1], classes)
    all_bins = [reliability_bins(tr, pr, n_bins, classes=names) for _, tr, pr in panels]
    counts = pd.concat([b.loc[b["class"] == "all", "count"] for b in all_bins])
    size_norm = (float(max(min(counts.min(), counts.max()), 1)), float(max(counts.max(), 2)))
    sizes = (6.0, 48.0)
    k = len(panels)
    fig = _new_figure(2.4 + 0.3 * (len(names) > 4), COLUMN_WIDTH * (1.0 if k == 1 else 0.55 * k + 0.45))
    axes = np.atleast_1d(fig.subplots(1, k, sharey=True))
    for ax, (title, _, _), bins in zip(axes, panels, all_bins):
        _reliability_axes(ax, bins, names, min_count, sizes, size_norm)
        ax.set_xlabel("predicted probability (bin mean)")
        if title:
            ax.set_title(textwrap.fill(title, 40 if k == 1 else 28))
    axes[0].set_ylabel("ground-truth probability (mean)")
    lines, labels = axes[0].get_legend_handles_labels()
    handles = lines + _count_handles(size_norm, sizes, min_count)
    fig.legend(handles=handles, loc="outside right center", frameon=False, handlelength=1.5)
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
