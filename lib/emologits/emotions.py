"""The paper's four emotion classes, in the one order used everywhere (manifest, metrics, arrays)."""
from __future__ import annotations

#: Column order of every (n, 4) array in the package: anger, happiness, sadness, neutral.
EMOTIONS: tuple[str, ...] = ("anger", "happiness", "sadness", "neutral")

#: Manifest columns holding the ground-truth distribution, in EMOTIONS order.
GT_COLUMNS: tuple[str, ...] = tuple(f"gt_{e}" for e in EMOTIONS)
