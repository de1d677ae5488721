"""Paper artefacts of a run: Tables 1-3, figures, the run README.

* :mod:`emologits.report.paper` -- the paper's printed numbers (``PAPER_TABLE1/2/3``).
* :mod:`emologits.report.tables` -- ``table1/2/3``, ``figure3_table``, ``display_table``,
  ``write_table(df, out_dir, name, stamp=...) -> [csv, md, tex]``, ``write_csv(df, path, stamp=...)``.
* :mod:`emologits.report.figures` -- ``figure3``, ``reliability_diagram``, ``class_scatter``,
  ``entropy_histogram``; each ``(..., out_dir, name, stamp=...) -> [png, pdf]``.
* :mod:`emologits.report.readme` -- ``collect_provenance``, ``write_run_readme``.
* :mod:`emologits.report.stamp` -- ``PIPELINE_CHECK_STAMP`` and ``pipeline_check_stamp(cfg)``:
  the sentence every table and figure of a pipeline-check (demo) run carries, or None.

Typical notebook use::

    from emologits import metrics
    from emologits.report import tables, figures, pipeline_check_stamp
    stamp = pipeline_check_stamp(cfg)   # None unless cfg is a pipeline check
    text = metrics.evaluate_predictions(manifest, text_dists, n_boot=1000, seed=0)
    token = metrics.evaluate_predictions(manifest, token_dists, n_boot=1000, seed=0)
    t1 = tables.table1(text, token, extra={"Label likelihood": likelihood})
    tables.write_table(t1, cfg.figures_dir, "table1", caption="Table 1: Performance for ambiguous SER", stamp=stamp)

A stamped CSV starts with a ``# PIPELINE CHECK ...`` line: read it with
``pd.read_csv(path, comment="#")``.
"""
from emologits.report.paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3
from emologits.report.readme import collect_provenance, write_run_readme
from emologits.report.stamp import PIPELINE_CHECK_STAMP, is_pipeline_check, pipeline_check_stamp
from emologits.report.tables import (
    display_table, figure3_table, table1, table2, table3, write_csv, write_table,
)

__all__ = [
    "PAPER_TABLE1", "PAPER_TABLE2", "PAPER_TABLE3", "PIPELINE_CHECK_STAMP", "collect_provenance",
    "display_table", "figure3_table", "is_pipeline_check", "pipeline_check_stamp", "table1", "table2",
    "table3", "write_csv", "write_run_readme", "write_table",
]
