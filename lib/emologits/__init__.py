"""emologits: emotion distributions from speech foundation models (SFMs).

Reproduces "Token-Level Logits Matter: A Closer Look at Speech Foundation Models for
Ambiguous Emotion Recognition" (Interspeech): text-level (sec. 3.4.1) and token-level
(sec. 3.4.2, eq. 1-2) emotion distributions, scored against multi-rater ground truth.
"""
from emologits.emotions import EMOTIONS, GT_COLUMNS, PRED_COLUMNS

__version__ = "0.1.0"
__all__ = ["EMOTIONS", "GT_COLUMNS", "PRED_COLUMNS", "__version__"]
