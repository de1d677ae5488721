"""The pipeline-check stamp: the one sentence every output of an offline demo run carries.

A run is a pipeline check when its config says ``pipeline_check: true`` or it uses the
``tiny-demo`` model (trained locally on a synthetic corpus). Its tables (CSV comment line,
Markdown and LaTeX caption), figures (visible stamp + PNG/PDF metadata) and ``predict`` output
carry :data:`PIPELINE_CHECK_STAMP`, so neither a reader nor a script can take them for results.
"""
from __future__ import annotations

from typing import Any

#: The words every output of a pipeline-check run carries (ASCII, one line).
PIPELINE_CHECK_STAMP = (
    "PIPELINE CHECK: offline demo (a tiny model trained locally on a synthetic corpus); "
    "not the paper's model or results"
)
#: Back-end name of the demo model (see :mod:`emologits.sfm.tiny_demo`).
DEMO_BACKEND = "tiny-demo"


def is_pipeline_check(cfg: Any) -> bool:
    """True for a pipeline-check run: ``cfg.pipeline_check`` or the ``tiny-demo`` back-end."""
    model = getattr(cfg, "model", None) or {}
    return bool(getattr(cfg, "pipeline_check", False)) or model.get("backend") == DEMO_BACKEND


def pipeline_check_stamp(cfg: Any) -> str | None:
    """:data:`PIPELINE_CHECK_STAMP` for a pipeline-check run, else None (pass it as ``stamp=`` to
    :func:`emologits.report.tables.write_table` and every figure function)."""
    return PIPELINE_CHECK_STAMP if is_pipeline_check(cfg) else None
