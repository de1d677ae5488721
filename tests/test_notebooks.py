"""The seven notebooks, executed by papermill on a small subset of the demo profile (issue #6 CI).

This trains the tiny-demo model once (cached under .cache/tiny-demo) and runs every notebook into a
temporary output root; the assertions read the tables and figures the notebooks wrote.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from conftest import PROJECT_ROOT
from emologits.artifacts import NOTEBOOKS, MissingInputError
from emologits.config import load_config

DEMO = PROJECT_ROOT / "configs" / "demo.yaml"
CI_LIMIT = 24


def test_notebooks_are_thin_and_parameterised():
    for stem in NOTEBOOKS:
        nb = json.loads((PROJECT_ROOT / "notebooks" / f"{stem}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), stem
        for cell in code:
            src = "".join(cell["source"])
            assert not any(l.lstrip().startswith(("def ", "class ", "lambda")) for l in src.splitlines()), stem
            assert not cell.get("outputs"), f"{stem} committed with outputs"
        assert nb["metadata"]["kernelspec"]["name"] == "emologits"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from emologits.pipeline import run_notebooks
    out = tmp_path_factory.mktemp("ci_run")
    run_notebooks(DEMO, output_root=out, limit=CI_LIMIT)
    return load_config(DEMO, output_root=out)


@pytest.mark.notebooks
def test_all_notebooks_executed(demo_run):
    executed = sorted(p.stem for p in (demo_run.run_dir / "notebooks").glob("*.ipynb"))
    assert executed == list(NOTEBOOKS)


def _finite_in_range(values, low, high):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    assert values, "no values"
    assert all(low <= float(v) <= high for v in values), values
