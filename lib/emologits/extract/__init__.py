"""Distribution extraction from inference records (paper sec. 3.4): text level (``text``), token level
(``token``, eq. 1-2) and label likelihood (``likelihood``). Each returns a predicted-distribution table
(utt_id, p_anger, p_happiness, p_sadness, p_neutral, valid, reason); ``invalid_report`` counts the
invalid rows per reason."""
from emologits.extract.common import ExtractionError, invalid_report

__all__ = ["ExtractionError", "invalid_report"]
