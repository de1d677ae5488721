"""Figures of a run, sized for one paper column (3.4 in wide), saved as PNG (300 dpi) and PDF.

Every function writes ``<out_dir>/<name>.png`` and ``<name>.pdf`` atomically and returns
``[png, pdf]``:

* :func:`figure3` -- Figure 3 (sec. 5.3): KL, BD, R^2 bars for "all generated tokens" vs
  "emotion-word tokens only", with 95 % bootstrap CI error bars (result dicts from
  :func:`emologits.metrics.evaluate_predictions`).
* :func:`reliability_diagram` -- predicted probability (binned) vs mean ground-truth probability,
  the four classes pooled and each class (:func:`emologits.metrics.reliability_bins`).
* :func:`class_scatter` -- predicted vs true probability, one panel per class.
* :func:`entropy_histogram` -- entropy (bits) of the ground-truth distributions (data prep).

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.backends.backend_agg import FigureCanvasAgg

from emologits.atomic import atomic_path
from emologits.emotions import EMOTIONS
from emologits.metrics import entropy, reliability_bins

#: One paper column, in inches.
COLUMN_WIDTH = 3.4
#: PNG resolution.
DPI = 300
#: One colour per class, EMOTIONS order (colour-blind safe, Okabe-Ito).
CLASS_COLORS = {"anger": "#D55E00", "happiness": "#E69F00", "sadness": "#0072B2", "neutral": "#009E73"}
_RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5, "legend.fontsize": 6.5, "axes.spines.top": False, "axes.spines.right": False,
    "pdf.fonttype": 42,
}
_METRIC_LABELS = {"kl": "KL ↓", "bd": "BD ↓", "r2": "R² ↑", "js": "JS ↓"}


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
def figure3(
    all_tokens: Mapping[str, Any],
    emotion_words: Mapping[str, Any],
    out_dir: str | os.PathLike,
    name: str = "figure3_token_subset",
    metrics: Sequence[str] = ("kl", "bd", "r2"),
    *,
    stamp: str | None = None,
) -> list[Path]:
    """Figure 3: one panel per metric, two bars (all generated tokens / emotion-word tokens only)
    with 95 % bootstrap CI error bars and the value printed above each bar."""
    variants = [("All generated tokens", all_tokens, "#4C72B0"), ("Emotion-word tokens only", emotion_words, "#DD8452")]
    fig = _new_figure(1.55)
    axes = fig.subplots(1, len(metrics))
    for ax, m in zip(np.atleast_1d(axes), metrics):
        for j, (label, res, color) in enumerate(variants):
            v = float(res[m])
            err = np.array([[v - float(res[f"{m}_ci_low"])], [float(res[f"{m}_ci_high"]) - v]])
            ax.bar(j, v, width=0.7, color=color, label=label, yerr=np.maximum(err, 0), capsize=2,
                   error_kw={"elinewidth": 0.8, "capthick": 0.8})
            ax.annotate(f"{v:.2f}" if np.isfinite(v) else "n/a", (j, float(res[f"{m}_ci_high"]) if np.isfinite(v) else 0.0), textcoords="offset points",
                        xytext=(0, 1.5), ha="center", va="bottom", fontsize=6)
        ax.set_title(_METRIC_LABELS.get(m, m))
        ax.set_xticks([])
        ax.set_xlim(-0.6, 1.6)
        highs = [float(r[f"{m}_ci_high"]) for _, r, _ in variants if np.isfinite(float(r[f"{m}_ci_high"]))]
        lows = [float(r[f"{m}_ci_low"]) for _, r, _ in variants if np.isfinite(float(r[f"{m}_ci_low"]))]
        top = max(highs, default=1.0)  # a variant with no valid prediction (NaN) draws no bar
        ax.set_ylim(min([0.0, *lows]), top * 1.2 if top > 0 else 1)
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
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
    stamp: str | None = None,
) -> list[Path]:
    """Reliability diagram: x = predicted probability (bin mean), y = mean ground-truth
    probability of the same class in that bin; pooled (black, marker size ~ count) and per class
    (thin coloured lines); the diagonal is perfect calibration."""
    if len(pred) == 0:
        return _no_data_figure(out_dir, name, "no valid predictions to plot", stamp=stamp)
    bins = reliability_bins(truth, pred, n_bins)
    fig = _new_figure(2.9)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", lw=0.7, color="0.6", label="ideal")
    for cls in EMOTIONS:
        b = bins[bins["class"] == cls]
        ax.plot(b["mean_pred"], b["mean_true"], lw=0.9, marker=".", ms=3, color=CLASS_COLORS[cls], label=cls)
    b = bins[bins["class"] == "all"]
    sizes = 8 + 40 * b["count"] / max(int(b["count"].max()), 1)
    ax.plot(b["mean_pred"], b["mean_true"], lw=1.3, color="black", label="all classes")
    ax.scatter(b["mean_pred"], b["mean_true"], s=sizes, color="black", zorder=3)
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
    stamp: str | None = None,
) -> list[Path]:
    """Predicted vs true probability of each class (2 x 2 panels). The true probabilities of
    IEMOCAP take few values (0, 1/3, 2/3, 1), so points get a small horizontal jitter
    (deterministic by ``seed``); a marker shows the mean prediction per distinct true value."""
    if len(pred) == 0:
        return _no_data_figure(out_dir, name, "no valid predictions to plot", stamp=stamp)
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    rng = np.random.default_rng(seed)
    fig = _new_figure(3.3)
    axes = fig.subplots(2, 2, sharex=True, sharey=True)
    alpha = float(np.clip(30 / max(len(t), 1), 0.08, 0.6))
    for k, (ax, cls) in enumerate(zip(axes.ravel(), EMOTIONS)):
        x, y = t[:, k], p[:, k]
        ax.plot([0, 1], [0, 1], ls="--", lw=0.6, color="0.6")
        ax.scatter(x + rng.uniform(-0.02, 0.02, len(x)), y, s=3, alpha=alpha, color=CLASS_COLORS[cls],
                   linewidths=0, rasterized=True)
        levels = np.unique(np.round(x, 6))
        if len(levels) <= 12:
            means = [y[np.isclose(x, v)].mean() for v in levels]
            ax.plot(levels, means, marker="D", ms=3, lw=0.8, color="black")
        r = np.corrcoef(x, y)[0, 1] if np.std(x) > 0 and np.std(y) > 0 else float("nan")
        ax.set_title(f"{cls} (r = {r:.2f})")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
    for ax in axes[1]:
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
    """Histogram of ground-truth entropy in bits (0 = all raters agree; 2 = uniform over 4).
    With few distinct values (3 raters) each value gets its own labelled bar."""
    h = np.round(entropy(truth), 4)
    fig = _new_figure(1.8)
    ax = fig.subplots()
    levels, counts = np.unique(h, return_counts=True)
    if len(levels) <= 12:
        ax.bar(levels, counts, width=0.08, color="#4C72B0")
        for lv, c in zip(levels, counts):
            ax.annotate(str(c), (lv, c), textcoords="offset points", xytext=(0, 1.5), ha="center", fontsize=6)
        ax.set_ylim(0, counts.max() * 1.15)
    else:
        ax.hist(h, bins=np.linspace(0, 2, 21), color="#4C72B0")
    ax.set_xlim(-0.1, 2.1)
    ax.set_xlabel("ground-truth entropy (bits)")
    ax.set_ylabel("utterances")
    ax.set_title(title or f"Ambiguity of the ground truth (n = {len(h)})")
    return save_figure(fig, out_dir, name, stamp=stamp)
