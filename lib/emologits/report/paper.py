"""The paper's reported numbers, as data (Tables 1-3 exactly as printed).

Each table maps the paper's row name (``Method``/``Prompting`` column) to its ``Type`` and values;
``nan`` where the paper prints "-" or leaves the cell empty. KL, BD and R^2 are means over utterances;
accuracy is in percent and F1 (weighted) a fraction, as printed in Table 3.
"""
from __future__ import annotations

import math

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
