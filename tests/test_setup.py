"""Set-up invariants: pins agree, config and prompts load, CLI answers."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from conftest import PROJECT_ROOT
from emologits.config import config_from_dict, load_config
from emologits.errors import ConfigError
from emologits.prompts import load_prompts


def _pins(lines):
    return {re.split("==", line)[0].lower(): line.split("==")[1] for line in lines if "==" in line}


def test_environment_yml_pins_equal_requirements():
    req = [line.split("#")[0].strip() for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()]
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert _pins(req) == _pins(pip_list)
    assert _pins(req)["torch"] == "2.13.0"


def test_paper_prompts_verbatim():
    prompts = load_prompts(PROJECT_ROOT / "prompts" / "prompts.yaml")
    assert prompts["ambiguous"].text == (
        "Provide the likelihood (in percentages) that this audio represents each of the following "
        "emotions: anger, happiness, sadness, and neutral. Use logical reasoning to determine the "
        "percentages, but do not include this reasoning in your response.")
    assert prompts["single"].text == (
        "You are an expert in identifying emotions from speech. Predict the emotion of the audio from "
        "the choices [Happiness, Sadness, Neutral, Angry]. Respond with only one of the emotion labels.")
    assert prompts["single"].kind == "single" and prompts["ambiguous"].kind == "distribution"


def test_config_rejects_unknown_keys_and_resolves_paths(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"run": "x", "modle": {}})
    (tmp_path / "configs").mkdir()
    cfg_path = tmp_path / "configs" / "c.yaml"
    cfg_path.write_text("run: r\ndata: {root: data/x}\n")
    cfg = load_config(cfg_path)
    assert cfg.resolve(cfg.data["root"]) == tmp_path / "data" / "x"
    assert cfg.run_dir == tmp_path / "runs" / "r"
    assert cfg.evaluation["kl"] == "paper"


@pytest.mark.parametrize("cfg", sorted(p for p in (PROJECT_ROOT / "configs").glob("*.yaml")
                                        if not p.name.startswith("compare_")),  # tests/test_compare.py
                         ids=lambda p: p.name)
def test_shipped_configs_load(cfg):
    assert load_config(cfg).run


def test_cli_help_and_unknown_command():
    ok = subprocess.run([sys.executable, "-m", "emologits", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "prepare" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "emologits", "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2


def test_bad_prompt_and_config_files_name_the_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("ambiguous: {text: [unclosed\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: not valid YAML"):
        load_prompts(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_prompts(bad)
    bad.write_text("x: {kind: essay, text: hi}\n")
    with pytest.raises(ConfigError, match="kind 'essay'"):
        load_prompts(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
