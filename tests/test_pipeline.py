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


def test_check_config_catches_evaluation_and_prompt_mistakes_before_inference():
    with pytest.raises(ConfigError) as err:  # evaluation values: refused when the config loads
        load_config(CONFIGS / "demo.yaml", overrides={
            "evaluation": {"kl": "kld", "ties": "random", "bootstrap": "many", "token_normalize": "l1"}})
    for expected in ("evaluation.kl: must be 'paper' or 'textbook'", "evaluation.ties: must be 'paper' or",
                     "evaluation.bootstrap: must be a valid integer", "evaluation.token_normalize: must be"):
        assert expected in str(err.value), expected
    cfg = load_config(CONFIGS / "demo.yaml", overrides={"prompts": {"ids": ["ambiguous", "singel"]}})
    problems = "\n".join(check_config(cfg))
    for expected in ("'singel', which", "must include ['ambiguous', 'single']"):
        assert expected in problems, expected


def test_producing_notebook_from_the_table_name():
    from emologits.artifacts import producing_notebook
    assert producing_notebook("text__single") == "03_text_extraction"
    assert producing_notebook("token__ambiguous__all__ratio") == "04_token_extraction"
    assert producing_notebook("likelihood__single") == "04_token_extraction"
    assert producing_notebook("token__ambiguous__emotion__softmax") == "06_token_subset_ablation"


def test_cremad_config_without_selection_uses_the_cremad_default(cremad_root):
    from emologits.data import prepare_manifest
    cfg = load_config(CONFIGS / "cremad_qwen2_audio.yaml", overrides={"data": {"selection": None}})
    assert cfg.data["selection"] is None
    manifest = prepare_manifest("cremad", cremad_root, selection=cfg.data["selection"], labels_only=True)
    assert len(manifest) == 7396  # drop-other, the CREMA-D default
