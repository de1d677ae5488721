"""The paper's artefacts of a run: Tables 1-3, figures, reports, the run README.

* :mod:`emologits.report.spec` -- artefact kinds (``MetricTable``, ``PredictionFigure``, ...) and
  the ``ARTEFACTS`` registry; :mod:`emologits.report.paper` -- the paper's numbers and the spec of
  each table and figure.
* :mod:`emologits.report.build` -- ``build_artefact(name, session_or_cfg)``,
  ``build_distributions(session, keys)``, ``distribution_keys(session, notebook)``.
* :mod:`emologits.report.tables` -- ``metric_table``, ``display_table``, ``write_table(df, out_dir,
  name, stamp=...) -> [csv, md, tex]``, ``write_csv``.
* :mod:`emologits.report.figures` -- ``metric_bars``, ``reliability_diagram``, ``class_scatter``,
  ``entropy_histogram``; each ``(..., out_dir, name, stamp=...) -> [png, pdf]``.
* :mod:`emologits.report.readme` -- ``collect_provenance``, ``write_run_readme``.
* :mod:`emologits.report.stamp` -- ``PIPELINE_CHECK_STAMP`` and ``pipeline_check_stamp(cfg)``:
  the sentence every table and figure of a pipeline-check (demo) run carries, or None.

Typical use (a notebook, or any script)::

    from emologits.notebook import setup
    from emologits.report import build_artefact
    session = setup("configs/demo.yaml")
    build_artefact("table1", session)   # figures/<run>/table1.{csv,md,tex}, returned as a table

A stamped CSV starts with a ``# PIPELINE CHECK ...`` line: read it with
``pd.read_csv(path, comment="#")``.
"""
from emologits.report.build import build_artefact, build_distributions, distribution_keys
from emologits.report.spec import ARTEFACTS
from emologits.report.stamp import PIPELINE_CHECK_STAMP, is_pipeline_check, pipeline_check_stamp

__all__ = [
    "ARTEFACTS", "PIPELINE_CHECK_STAMP", "build_artefact", "build_distributions", "distribution_keys",
    "is_pipeline_check", "pipeline_check_stamp",
]
