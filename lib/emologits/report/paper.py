"""The paper's artefacts as data: its reported numbers (Tables 1-3 exactly as printed) and the spec
of every table and figure a run produces (rows, metrics, caption, producing notebook).

Each table maps the paper's row name (``Method``/``Prompting`` column) to its ``Type`` and values;
``nan`` where the paper prints "-" or leaves the cell empty. KL, BD and R^2 are means over utterances;
accuracy is in percent and F1 (weighted) a fraction, as printed in Table 3.
"""
from __future__ import annotations

import math

from emologits.artifacts import DistributionKey as Key
from emologits.report import figures
from emologits.report.spec import (
    CONFIGURED, OTHER, GroundTruthFigure, InvalidReport, MetricTable, PredictionFigure, Row, RunPage,
)

NA = math.nan

#: Table 1: Performance for ambiguous SER (KL down, BD down, R^2 up).
PAPER_TABLE1: dict[str, dict[str, object]] = {
    "Zero-Shot [15]": {"type": "Baseline", "kl": NA, "bd": 0.51, "r2": 0.51},
    "Text": {"type": "Proposed", "kl": 2.05, "bd": 0.51, "r2": 0.34},
    "Token-level": {"type": "Proposed", "kl": 0.99, "bd": 0.47, "r2": 0.38},
}

#: Table 2: Impact of prompts for token-level analysis.
PAPER_TABLE2: dict[str, dict[str, object]] = {
    "Ambiguous": {"type": "Token-level", "kl": 0.99, "bd": 0.47, "r2": 0.38},
    "Single": {"type": "Token-level", "kl": 0.75, "bd": 0.31, "r2": 0.53},
}

#: Table 3: Performance of single emotion recognition (accuracy %, weighted F1 fraction).
PAPER_TABLE3: dict[str, dict[str, object]] = {
    "Fine-Tuned LLM [28]": {"type": "Adaptation", "accuracy": 65.20, "f1_weighted": NA},
    "LLM Few-Shot [15]": {"type": "Adaptation", "accuracy": 58.75, "f1_weighted": 0.59},
    "LLM Zero-Shot [15]": {"type": "Zero-shot", "accuracy": 48.12, "f1_weighted": 0.49},
    "LLM Zero-Shot [29]": {"type": "Zero-shot", "accuracy": 51.40, "f1_weighted": NA},
    "Text (Single)": {"type": "Proposed", "accuracy": 58.06, "f1_weighted": 0.39},
    "Text (Ambiguous)": {"type": "Proposed", "accuracy": 35.83, "f1_weighted": 0.06},
    "Token-Level (Ambiguous)": {"type": "Proposed", "accuracy": 52.64, "f1_weighted": 0.31},
    "Token-Level (Single)": {"type": "Proposed", "accuracy": 55.90, "f1_weighted": 0.30},
}

#: Rows of Table 3 that are other papers' results (reference rows, no value of ours).
PAPER_TABLE3_REFERENCES: tuple[str, ...] = (
    "Fine-Tuned LLM [28]", "LLM Few-Shot [15]", "LLM Zero-Shot [15]", "LLM Zero-Shot [29]",
)


# --------------------------------------------------------------------------------------------
# the paper's artefacts (registered in emologits.report.spec.ARTEFACTS)
# --------------------------------------------------------------------------------------------
AMBIGUOUS, SINGLE = "ambiguous", "single"
DIST_METRICS: tuple[str, ...] = ("kl", "bd", "r2")
LABEL_METRICS: tuple[str, ...] = ("accuracy", "f1_weighted", "ua", "f1_macro")
TOKEN_AMBIGUOUS = Key("token", AMBIGUOUS, "all", CONFIGURED)

TABLE1 = MetricTable(
    "table1", "Table 1: Performance for ambiguous SER", "04_token_extraction", DIST_METRICS,
    rows=(Row("Zero-Shot [15]", "Baseline"),
          Row("Text", "Proposed", Key("text", AMBIGUOUS)),
          Row("Token-level", "Proposed", TOKEN_AMBIGUOUS),
          Row("Token-level ({other})", "Extra", Key("token", AMBIGUOUS, "all", OTHER)),
          Row("Label likelihood", "Extra", Key("likelihood", AMBIGUOUS))),
    paper=PAPER_TABLE1, paper_metrics=DIST_METRICS)

TABLE2 = MetricTable(
    "table2", "Table 2: Impact of prompts for token-level analysis", "05_prompt_ablation", DIST_METRICS,
    rows=(Row("Ambiguous", "Token-level", TOKEN_AMBIGUOUS),
          Row("Single", "Token-level", Key("token", SINGLE, "all", CONFIGURED)),
          Row("Ambiguous ({other})", "Extra", Key("token", AMBIGUOUS, "all", OTHER)),
          Row("Single ({other})", "Extra", Key("token", SINGLE, "all", OTHER)),
          Row("Ambiguous (label likelihood)", "Extra", Key("likelihood", AMBIGUOUS)),
          Row("Single (label likelihood)", "Extra", Key("likelihood", SINGLE))),
    paper=PAPER_TABLE2, paper_metrics=DIST_METRICS)

FIGURE3 = MetricTable(
    "figure3", "Figure 3: all generated tokens vs emotion-word tokens only", "06_token_subset_ablation",
    DIST_METRICS,
    rows=(Row("All generated tokens", "Token-level", TOKEN_AMBIGUOUS),
          Row("Emotion-word tokens only", "Token-level", Key("token", AMBIGUOUS, "emotion", CONFIGURED))),
    bars="figure3_token_subset")

TABLE3 = MetricTable(
    "table3", "Table 3: Performance of single emotion recognition", "07_single_label_eval", LABEL_METRICS,
    rows=(*(Row(name, str(PAPER_TABLE3[name]["type"])) for name in PAPER_TABLE3_REFERENCES),
          Row("Text (Single)", "Proposed", Key("text", SINGLE)),
          Row("Text (Ambiguous)", "Proposed", Key("text", AMBIGUOUS)),
          Row("Token-Level (Ambiguous)", "Proposed", TOKEN_AMBIGUOUS),
          Row("Token-Level (Single)", "Proposed", Key("token", SINGLE, "all", CONFIGURED)),
          Row("Label likelihood (Ambiguous)", "Extra", Key("likelihood", AMBIGUOUS)),
          Row("Label likelihood (Single)", "Extra", Key("likelihood", SINGLE))),
    paper=PAPER_TABLE3, paper_metrics=("accuracy", "f1_weighted"))

RELIABILITY_TOKEN = PredictionFigure(
    "reliability_token", "Reliability diagram (token level, {configured}, ambiguous prompt)", "04_token_extraction",
    TOKEN_AMBIGUOUS, figures.reliability_diagram)
CLASS_SCATTER_TOKEN = PredictionFigure(
    "class_scatter_token", "Predicted vs true probability per class (token level, {configured}, ambiguous prompt)",
    "04_token_extraction", TOKEN_AMBIGUOUS, figures.class_scatter)
GROUND_TRUTH_ENTROPY = GroundTruthFigure(
    "ground_truth_entropy", "Ground-truth ambiguity (entropy)", "01_data_prep", figures.entropy_histogram)
INVALID_TEXT = InvalidReport(
    "invalid_text", "Invalid text-level outputs per reason (omitted, sec. 5.1)", "03_text_extraction", "text")
INVALID_TOKEN = InvalidReport(
    "invalid_token", "Invalid token-level distributions per reason (eq. 2 as printed needs positive class logits)",
    "04_token_extraction", "token", "all", "ratio")
RUN_README = RunPage(
    "readme", "The run's README: every table and figure, with provenance", "07_single_label_eval",
    notes=("Token-level rows use eq. 2 with `{configured}` normalisation (config `evaluation.token_normalize`); "
           "the `{other}` rows are reported beside them.",))
