"""The reliability diagram: every class visible above the pooled line, a legend of bin counts, a
title, and no spike from a bin of one or two utterances."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emologits.metrics import reliability_bins
from emologits.report import figures


def _panel(truth, pred, names):
    fig = Figure()
    ax = fig.subplots()
    bins = reliability_bins(truth, pred, 10, classes=names)
    figures._reliability_axes(ax, bins, names, figures.MIN_BIN_COUNT, (6.0, 48.0), (1.0, 100.0))
    return ax


def test_a_one_utterance_bin_draws_no_spike_and_classes_sit_above_the_pooled_line():
    rng = np.random.default_rng(0)
    pred = rng.dirichlet(np.ones(2) * 50, 40)  # everything near 0.5
    truth = np.tile([0.5, 0.5], (40, 1))
    pred = np.vstack([pred, [0.95, 0.05]])  # one confident utterance ...
    truth = np.vstack([truth, [1.0, 0.0]])  # ... that is right: a bin at (0.95, 1.0) of one utterance
    ax = _panel(truth, pred, ["a", "b"])
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert {"all classes", "a", "b"} <= set(lines)
    for label in ("all classes", "a"):
        assert np.max(lines[label].get_ydata()) < 0.9  # the one-utterance bin is not joined
    # a hollow marker still shows the thin bin
    hollow = [c for c in ax.collections if len(c.get_offsets()) and np.allclose(c.get_facecolors()[:, 3], 0)]
    assert any(np.isclose(c.get_offsets()[:, 1], 1.0).any() for c in hollow)
    # class lines are drawn above the pooled line
    assert lines["a"].get_zorder() > lines["all classes"].get_zorder()


def test_diagram_has_title_and_count_legend(tmp_path):
    rng = np.random.default_rng(1)
    pred = pd.DataFrame(rng.dirichlet(np.ones(4), 200), columns=["p_anger", "p_happiness", "p_sadness", "p_neutral"])
    truth = rng.dirichlet(np.ones(4), 200)
    captured = {}
    original = figures.save_figure

    def keep(fig, out_dir, name, *, stamp=None):
        captured["fig"] = fig
        return original(fig, out_dir, name, stamp=stamp)

    figures.save_figure = keep
    try:
        figures.reliability_diagram(truth, pred, tmp_path, "rel", title="Token level (ratio), ambiguous prompt")
    finally:
        figures.save_figure = original
    fig = captured["fig"]
    assert fig.axes[0].get_title() == "Token level (ratio), ambiguous prompt"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"anger", "happiness", "sadness", "neutral", "all classes"} <= set(labels)
    assert any(text.endswith("utt. (all classes)") for text in labels)
    assert any("not joined" in text for text in labels)
    assert (tmp_path / "rel.png").stat().st_size > 1000


def test_count_legend_shows_only_counts_that_are_drawn_filled():
    """Bins under MIN_BIN_COUNT are hollow, so the filled markers of the size legend start there."""
    labels = [h.get_label() for h in figures._count_handles((1.0, 400.0), (6.0, 48.0), figures.MIN_BIN_COUNT)]
    counts = [int(label.split()[0]) for label in labels if label.endswith("(all classes)")]
    assert counts and min(counts) >= figures.MIN_BIN_COUNT and max(counts) == 400, labels
    assert labels[-1] == f"< {figures.MIN_BIN_COUNT} utt. (not joined)"
