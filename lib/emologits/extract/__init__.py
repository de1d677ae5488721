"""Distribution extraction from inference records (paper sec. 3.4): text level (``text``), token level
(``token``, eq. 1-2) and label likelihood (``likelihood``). Each returns a predicted-distribution table
over an emotion set's classes (``utt_id``, ``p_<class>`` in the set's order, ``valid``, ``reason``;
paper4: p_anger, p_happiness, p_sadness, p_neutral); ``invalid_report`` counts the invalid rows per
reason."""
from emologits.extract.common import ExtractionError, invalid_report, pred_columns, table_columns

__all__ = ["ExtractionError", "invalid_report", "pred_columns", "table_columns"]
