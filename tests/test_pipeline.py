"""run_all.sh's checks before heavy work, and the notebooks' missing-input message."""
from __future__ import annotations

import subprocess

import pytest

from conftest import PROJECT_ROOT
from emologits.artifacts import MissingInputError, require, subset_manifest
from emologits.config import load_config
from emologits.errors import ConfigError
from emologits.pipeline import check_config, run_notebooks

CONFIGS = PROJECT_ROOT / "configs"


def test_demo_config_needs_nothing():
    assert check_config(load_config(CONFIGS / "demo.yaml")) == []


@pytest.mark.parametrize("name", ["paper_iemocap_ltu_as.yaml", "iemocap_qwen2_audio.yaml", "cremad_qwen2_audio.yaml"])
def test_real_configs_name_what_to_set(name):
    problems = check_config(load_config(CONFIGS / name))
    assert any("data.root" in p and "set it to" in p for p in problems), problems
    if name.startswith("paper"):
        for key in ("whisper", "whisper_asr", "llama", "checkpoint"):
            assert any(f"model.options.{key} " in p for p in problems), (key, problems)


def test_real_config_with_existing_paths_passes(tmp_path, iemocap_labels_root):
    cfg = load_config(CONFIGS / "iemocap_qwen2_audio.yaml", overrides={"data": {"root": str(iemocap_labels_root)}})
    assert check_config(cfg) == []  # a hub id is not a local path


def test_run_notebooks_refuses_a_config_with_placeholders(tmp_path):
    with pytest.raises(ConfigError, match="IEMOCAP_full_release"):
        run_notebooks(CONFIGS / "paper_iemocap_ltu_as.yaml", output_root=tmp_path)


def test_run_all_sh_stops_before_heavy_work_with_a_message(tmp_path):
    out = subprocess.run(["./run_all.sh", "configs/paper_iemocap_ltu_as.yaml"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "model.options.checkpoint" in out.stderr and "set it to" in out.stderr
    assert not (PROJECT_ROOT / "runs" / "paper_iemocap_ltu_as" / "notebooks" / "02_inference.ipynb").exists()


def test_require_names_the_notebook_to_run_first(tmp_path):
    with pytest.raises(MissingInputError, match=r"run notebooks/02_inference\.ipynb first"):
        require(tmp_path / "missing.parquet", produced_by="02_inference")


def test_subset_is_deterministic_and_ordered():
    import pandas as pd
    df = pd.DataFrame({"utt_id": [f"u{i:03d}" for i in range(50)]})
    a, b = subset_manifest(df, 10, seed=0), subset_manifest(df, 10, seed=0)
    assert a.equals(b) and len(a) == 10 and list(a["utt_id"]) == sorted(a["utt_id"])
    assert subset_manifest(df, None).equals(df) and subset_manifest(df, 0).equals(df)
