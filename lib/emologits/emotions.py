"""The paper's four emotion classes, in the one order used everywhere (manifest, metrics, arrays)."""
from __future__ import annotations

#: Column order of every (n, 4) array in the package: anger, happiness, sadness, neutral.
EMOTIONS: tuple[str, ...] = ("anger", "happiness", "sadness", "neutral")

#: Manifest columns holding the ground-truth distribution, in EMOTIONS order.
GT_COLUMNS: tuple[str, ...] = tuple(f"gt_{e}" for e in EMOTIONS)

#: Columns of a predicted-distribution table (one row per utterance), in EMOTIONS order.
#: Such a table has ``utt_id``, these four columns, ``valid`` (bool) and ``reason`` (None when valid).
PRED_COLUMNS: tuple[str, ...] = tuple(f"p_{e}" for e in EMOTIONS)
