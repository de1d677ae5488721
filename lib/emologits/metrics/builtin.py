"""The paper's metrics (sec. 4.2), the extras (JS, UA, macro F1) and the calibration metrics (ECE,
soft-label NLL, Brier) as :class:`Metric` specs.

Conventions as documented in docs/conventions.md; the first of each is the default ("paper").
"""
from __future__ import annotations

from functools import partial

from emologits.metrics.functions import (
    accuracy_from_confusion, bhattacharyya_distance, f1_from_confusion, js_distance, kl_divergence,
    r2_score, squared_pearson, ua_from_confusion,
)
from emologits.metrics.probabilistic import brier_score, expected_calibration_error, soft_nll
from emologits.metrics.spec import Convention, Metric

KL = Metric(
    "kl", "KL ↓", higher_is_better=False, inputs="distributions",
    conventions=(Convention("paper", partial(kl_divergence, convention="paper")),
                 Convention("textbook", partial(kl_divergence, convention="textbook"))),
    description="Kullback-Leibler divergence, mean over utterances")
BD = Metric("bd", "BD ↓", higher_is_better=False, inputs="distributions",
            conventions=(Convention("paper", bhattacharyya_distance),),
            description="Bhattacharyya distance, mean over utterances")
R2 = Metric(
    "r2", "R² ↑", higher_is_better=True, inputs="distributions", latex_label=r"$R^2$ ($\uparrow$)",
    conventions=(Convention("paper", squared_pearson),
                 Convention("sklearn", partial(r2_score, convention="sklearn"), level="corpus")),
    description="R²: paper = mean per-utterance squared Pearson; sklearn = corpus coefficient of determination")
JS = Metric("js", "JS ↓", higher_is_better=False, inputs="distributions",
            conventions=(Convention("paper", js_distance),), description="Jensen-Shannon distance (extra)")
ACCURACY = Metric("accuracy", "Accuracy (%) ↑", higher_is_better=True, inputs="labels", percent=True,
                  conventions=(Convention("paper", accuracy_from_confusion, level="corpus"),),
                  description="accuracy vs the majority label")
F1_WEIGHTED = Metric("f1_weighted", "F1 (weighted) ↑", higher_is_better=True, inputs="labels",
                     conventions=(Convention("paper", partial(f1_from_confusion, average="weighted"),
                                             level="corpus"),),
                     description="F1 weighted by support")
UA = Metric("ua", "UA (%) ↑", higher_is_better=True, inputs="labels", percent=True,
            conventions=(Convention("paper", ua_from_confusion, level="corpus"),),
            description="unweighted accuracy (mean per-class recall)")
F1_MACRO = Metric("f1_macro", "F1 (macro) ↑", higher_is_better=True, inputs="labels",
                  conventions=(Convention("paper", partial(f1_from_confusion, average="macro"), level="corpus"),),
                  description="macro F1")

# beyond the paper: calibration and proper scores (emologits.metrics.probabilistic)
ECE = Metric("ece", "ECE ↓", higher_is_better=False, inputs="distributions",
             conventions=(Convention("paper", expected_calibration_error, level="corpus"),),
             description="top-label expected calibration error vs the majority class (AER-LLM: 5 bins)")
NLL = Metric("nll", "NLL ↓", higher_is_better=False, inputs="distributions",
             conventions=(Convention("paper", soft_nll),),
             description="cross-entropy of the soft labels H(truth, pred), nats, mean over utterances")
BRIER = Metric("brier", "Brier ↓", higher_is_better=False, inputs="distributions",
               conventions=(Convention("paper", brier_score),),
               description="multi-class Brier score against the soft labels, mean over utterances")
