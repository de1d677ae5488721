"""What a metric declares, and the registry of metrics (paper sec. 4.2).

A :class:`Metric` is data: its name, its label for tables and figures (``"KL ↓"``), whether higher
or lower is better, what it scores (``"distributions"``: ``f(truth, pred)`` on ``(n, N)`` arrays;
``"labels"``: ``f(confusion_matrix)``, single label vs the majority label), and its conventions --
each a named function at a level: ``"utterance"`` (``(n,)`` values whose mean is reported) or
``"corpus"`` (one number). The first convention is the default (``"paper"``: AER-LLM's, see
docs/conventions.md). :func:`emologits.metrics.evaluate_predictions` computes any list of them
with bootstrap CIs.

Add a metric inside the package: a module defining a ``Metric`` plus one ``METRICS.register_lazy``
line below; from outside: name it as ``"package.module:OBJECT"`` wherever a metric name goes (an
artefact spec's ``metrics``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from emologits.registry import Registry

Level = Literal["utterance", "corpus"]
Inputs = Literal["distributions", "labels"]


@dataclass(frozen=True)
class Convention:
    """One way to compute a metric: ``fn(truth, pred)`` for distributions (``(n,)`` values at
    ``"utterance"`` level, a float at ``"corpus"`` level), ``fn(confusion)`` for labels."""

    name: str
    fn: Callable[..., Any]
    level: Level = "utterance"


@dataclass(frozen=True)
class Metric:
    """A metric: name, table/figure label, direction, inputs and conventions (first = default)."""

    name: str
    label: str
    higher_is_better: bool
    inputs: Inputs
    conventions: tuple[Convention, ...]
    #: The LaTeX header (default: ``label`` with ↑/↓ as ``$\uparrow$``/``$\downarrow$``).
    latex_label: str | None = None
    #: Tables print the value x100 (accuracy in percent, as the paper's Table 3).
    percent: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not self.conventions:
            raise ValueError(f"metric {self.name!r} declares no convention")
        if self.inputs not in ("distributions", "labels"):
            raise ValueError(f"metric {self.name!r}: inputs must be 'distributions' or 'labels'")

    @property
    def convention_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conventions)

    def convention(self, name: str | None = None) -> Convention:
        """The named convention (None: the default, the first)."""
        if name is None:
            return self.conventions[0]
        for c in self.conventions:
            if c.name == name:
                return c
        raise ValueError(f"unknown {self.name} convention {name!r}; choose one of "
                         f"{', '.join(self.convention_names)}")

    @property
    def latex(self) -> str:
        if self.latex_label:
            return self.latex_label
        text = self.label.replace("%", r"\%")
        return text.replace("↓", r"($\downarrow$)").replace("↑", r"($\uparrow$)")


#: Every metric, by name (``python -m emologits list``).
METRICS: Registry[Metric] = Registry("metric", instance_of=Metric)
METRICS.register_lazy("kl", "emologits.metrics.builtin:KL", "Kullback-Leibler divergence (paper: KL(pred || truth) as AER-LLM; textbook: KL(truth || pred)), lower is better")
METRICS.register_lazy("bd", "emologits.metrics.builtin:BD", "Bhattacharyya distance -ln(BC + 1e-10), lower is better")
METRICS.register_lazy("r2", "emologits.metrics.builtin:R2", "R² (paper: mean squared Pearson per utterance; sklearn: corpus coefficient of determination), higher is better")
METRICS.register_lazy("js", "emologits.metrics.builtin:JS", "Jensen-Shannon distance (natural log), lower is better")
METRICS.register_lazy("accuracy", "emologits.metrics.builtin:ACCURACY", "accuracy vs the majority label (tables: percent), higher is better")
METRICS.register_lazy("f1_weighted", "emologits.metrics.builtin:F1_WEIGHTED", "F1 weighted by support vs the majority label, higher is better")
METRICS.register_lazy("ua", "emologits.metrics.builtin:UA", "unweighted accuracy (mean per-class recall; tables: percent), higher is better")
METRICS.register_lazy("f1_macro", "emologits.metrics.builtin:F1_MACRO", "macro F1 over classes seen in truth or prediction, higher is better")
METRICS.register_lazy("ece", "emologits.metrics.builtin:ECE", "top-label expected calibration error vs the majority class (paper: AER-LLM's 5 bins (lower, upper], its argmax), lower is better")
METRICS.register_lazy("nll", "emologits.metrics.builtin:NLL", "soft-label negative log-likelihood H(truth, pred) + 1e-12 inside the log, nats, lower is better")
METRICS.register_lazy("brier", "emologits.metrics.builtin:BRIER", "multi-class Brier score sum_k (pred_k - truth_k)^2 against the soft labels, lower is better")

__all__ = ["METRICS", "Convention", "Inputs", "Level", "Metric"]
