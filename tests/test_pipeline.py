"""run_all.sh: checks before heavy work, arguments, atomic executed notebooks, the failure gate after 02."""
from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT
from emologits.artifacts import NOTEBOOKS, MissingInputError, require, subset_manifest
from emologits.config import load_config
from emologits.errors import ConfigError, DiskFullError, EmologitsError
from emologits.pipeline import check_config, run_notebooks
from fake_backend import FakeBackend

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
    cfg = load_config(CONFIGS / "iemocap_qwen2_audio.yaml", overrides={"prompts": {"ids": ["ambiguous", "singel"]}})
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


# --- arguments: --only, --limit, run_all.sh ---------------------------------------------------

@pytest.fixture
def no_notebooks(monkeypatch):
    """Any notebook execution fails the test (argument errors must come before any work)."""
    import papermill

    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was executed")
    monkeypatch.setattr(papermill, "execute_notebook", refuse)


def test_only_with_an_unknown_id_is_an_error_listing_the_notebooks(tmp_path, no_notebooks, capsys):
    from emologits.pipeline import main
    assert main([str(CONFIGS / "demo.yaml"), "--output-root", str(tmp_path), "--only", "03", "99"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --only 99: no such notebook")
    for stem in ("01_data_prep", "02_inference", "07_single_label_eval"):
        assert stem in err
    assert not (tmp_path / "runs").exists()


def test_only_takes_numbers_or_names_in_execution_order():
    from emologits.pipeline import select_notebooks
    assert select_notebooks(["4", "03_text_extraction.ipynb", "03"]) == ["03_text_extraction", "04_token_extraction"]
    assert select_notebooks(None) == select_notebooks([]) == list(NOTEBOOKS)
    with pytest.raises(ConfigError, match="--only 0: no such notebook"):
        select_notebooks(["0"])  # not a prefix of every notebook


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_limit_below_one_is_an_error(tmp_path, no_notebooks, capsys, limit):
    from emologits.pipeline import main
    assert main([str(CONFIGS / "demo.yaml"), "--output-root", str(tmp_path), "--limit", limit]) == 1
    assert "--limit must be an integer >= 1" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--limit must be"):
        run_notebooks(CONFIGS / "demo.yaml", output_root=tmp_path, limit=int(limit))


def test_run_all_sh_passes_its_arguments_through():
    out = subprocess.run(["bash", "run_all.sh", "configs/demo.yaml", "--limit", "10", "--only", "99"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "--only 99: no such notebook" in out.stderr and "05_prompt_ablation" in out.stderr


# --- the executed notebook is written atomically; a full disk gives one message ------------------

def _fake_papermill(monkeypatch, behaviour):
    import papermill
    monkeypatch.setattr(papermill, "execute_notebook", behaviour)


def _executed(text: str = "") -> str:
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue=text, traceback=[text])]
    return nbformat.writes(nb)


def test_failed_notebook_keeps_its_executed_copy_with_the_traceback(tmp_path, monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    def fails_in_a_cell(src, out, **kwargs):
        Path(out).write_text(_executed("boom"))
        raise PapermillExecutionError(2, 3, "boom", "ValueError", "boom", ["tb"])
    _fake_papermill(monkeypatch, fails_in_a_cell)
    with pytest.raises(EmologitsError, match="notebook 01_data_prep failed in cell 3: ValueError: boom") as err:
        run_notebooks(CONFIGS / "demo.yaml", output_root=tmp_path, only=["01"])
    executed = tmp_path / "runs" / "demo" / "notebooks" / "01_data_prep.ipynb"
    assert str(executed) in str(err.value)
    assert json.loads(executed.read_text())["cells"][0]["outputs"][0]["evalue"] == "boom"
    assert sorted(p.name for p in executed.parent.iterdir()) == ["01_data_prep.ipynb"]  # no temp file left


def test_a_killed_or_full_disk_notebook_never_leaves_half_a_json_file(tmp_path, monkeypatch, capsys):
    """papermill writes its output as the notebook runs: a disk that fills up (or a kill) must leave
    the earlier executed copy intact, no temp file, and one clear message."""
    from emologits.pipeline import main

    executed = tmp_path / "runs" / "demo" / "notebooks" / "01_data_prep.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text(_executed("earlier run"))

    def disk_fills_up(src, out, **kwargs):
        Path(out).write_text('{"cells": [{"cell_type": "co')  # half written
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))
    _fake_papermill(monkeypatch, disk_fills_up)
    assert main([str(CONFIGS / "demo.yaml"), "--output-root", str(tmp_path), "--only", "01"]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert "notebook 01_data_prep: disk full while writing" in err and "01_data_prep.ipynb" in err
    assert "free space on" in err and "run the same command again" in err
    assert json.loads(executed.read_text())["cells"][0]["outputs"][0]["evalue"] == "earlier run"
    assert sorted(p.name for p in executed.parent.iterdir()) == ["01_data_prep.ipynb"]


def test_a_full_disk_inside_the_kernel_is_one_clear_message(tmp_path, monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    message = "[Errno 28] No space left on device: '/x/runs/demo/distributions/t.parquet'"

    def kernel_disk_full(src, out, **kwargs):
        Path(out).write_text(_executed(message))
        raise PapermillExecutionError(1, 4, message, "OSError", message, ["tb"])
    _fake_papermill(monkeypatch, kernel_disk_full)
    with pytest.raises(DiskFullError) as err:
        run_notebooks(CONFIGS / "demo.yaml", output_root=tmp_path, only=["03"])
    text = str(err.value)
    assert "notebook 03_text_extraction stopped in cell 4: the disk is full" in text
    assert "t.parquet" in text and "Free space on the file system holding" in text
    assert "executed copy: " + str(tmp_path / "runs" / "demo" / "notebooks" / "03_text_extraction.ipynb") in text


# --- too many failures at inference stop the run after 02 --------------------------------------

def _pipeline_with_fake_inference(tmp_path, monkeypatch, n: int, n_bad: int, *, max_failed: float | None = None):
    """A project of ``n`` utterances whose first ``n_bad`` audio files are garbage; notebook 02 runs
    the fake back-end over both prompts, the other notebooks are recorded only."""
    import yaml

    from emologits import pipeline
    from emologits.inference import run_inference
    from fake_backend import make_project

    special = {i: (lambda p: p.write_bytes(b"garbage")) for i in range(n_bad)}
    cfg_path = make_project(tmp_path, n=n, batch_size=8, special=special)
    (tmp_path / "data").mkdir()
    if max_failed is not None:
        raw = yaml.safe_load(cfg_path.read_text())
        raw["pipeline"] = {"max_failed_fraction": max_failed}
        cfg_path.write_text(yaml.safe_dump(raw))
    ran: list[str] = []

    def fake_execute(src, dst, parameters, **kwargs):
        ran.append(src.stem)
        if src.stem == "02_inference":
            cfg = load_config(parameters["config_path"])
            for prompt in cfg.prompts["ids"]:
                run_inference(cfg, prompt, backend=FakeBackend(), progress=False)
    monkeypatch.setattr(pipeline, "execute_notebook", fake_execute)
    return cfg_path, ran


def test_too_many_failures_at_inference_stop_after_02_naming_the_reasons(tmp_path, monkeypatch, capsys):
    from emologits.pipeline import InferenceFailureError
    cfg_path, ran = _pipeline_with_fake_inference(tmp_path, monkeypatch, n=20, n_bad=2)  # 10 %
    with pytest.raises(InferenceFailureError) as err:
        run_notebooks(cfg_path)
    assert ran == ["01_data_prep", "02_inference"]
    text = str(err.value)
    assert "pipeline.max_failed_fraction = 0.05" in text and "stopped after 02_inference" in text
    for prompt in ("ambiguous", "single"):
        assert f"inference {prompt}: 2 of 20 failed (10.0%): unreadable=2" in text
    assert "u000 [unreadable]:" in text and "u000.wav" in text
    assert "--retry-failed" in text and "check those audio files" in text


def test_few_failures_go_on_and_are_counted_in_the_summary_and_readme(tmp_path, monkeypatch, capsys):
    from emologits.pipeline import main
    from emologits.report.readme import write_run_readme
    cfg_path, ran = _pipeline_with_fake_inference(tmp_path, monkeypatch, n=100, n_bad=1)  # 1 %
    assert main([str(cfg_path)]) == 0
    assert ran == list(NOTEBOOKS)
    out = capsys.readouterr().out
    assert "[run_all] inference ambiguous: 1 of 100 utterances failed (unreadable=1); below" in out
    final = out.strip().splitlines()[-1]
    assert final.startswith("[run_all] all notebooks done in ")
    assert ("failed at inference: inference ambiguous 1/100 (unreadable=1); "
            "inference single 1/100 (unreadable=1)") in final

    cfg = load_config(cfg_path)
    readme = write_run_readme(cfg.figures_dir, tables={}, figures={}, pipeline_check=True,
                              provenance={"run_dir": "runs/elsewhere"}, run_dir=cfg.run_dir).read_text()
    section = readme.split("## Failures at inference", 1)[1].split("## Provenance")[0]
    assert "| `inference ambiguous` | 100 | 1 | `unreadable` 1 |" in section
    assert "| `inference single` | 100 | 1 | `unreadable` 1 |" in section
    assert "--retry-failed" in section


def test_max_failed_fraction_is_read_from_the_config(tmp_path, monkeypatch):
    cfg_path, ran = _pipeline_with_fake_inference(tmp_path, monkeypatch, n=20, n_bad=2, max_failed=0.2)
    run_notebooks(cfg_path)
    assert ran == list(NOTEBOOKS)


def test_final_summary_without_failures_says_none_failed():
    from emologits.pipeline import failures_line
    entries = [{"label": f"inference {p}", "n_expected": 240, "n_failed": 0, "failures_by_reason": {}}
               for p in ("ambiguous", "single")]
    assert failures_line(entries) == "failed at inference: 0 of 240 utterances (inference ambiguous, inference single)"
    entries.append({"label": "contextual ambiguous", "n_expected": 3, "n_failed": 0, "failures_by_reason": {}})
    assert failures_line(entries) == ("failed at inference: 0 of 240 utterances (inference ambiguous, inference single, "
                                      "contextual ambiguous (3 inputs))")


def test_kernels_are_shut_down_without_the_sigint_that_makes_ipykernel_log_keyboardinterrupt(monkeypatch):
    """jupyter_client interrupts a kernel before its shutdown request; after the last cell there is
    nothing to interrupt, and the signal only makes ipykernel log "KeyboardInterrupt caught in
    kernel" on the terminal. Interrupts outside a shutdown still reach the kernel."""
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    from emologits.pipeline import _QuietKernelManager

    sent: list[str] = []

    async def interrupt(self):
        sent.append("SIGINT")
    monkeypatch.setattr(AsyncKernelManager, "_async_interrupt_kernel", interrupt)
    km = _QuietKernelManager(kernel_name="emologits")
    km.shutting_down = True
    asyncio.run(km._async_interrupt_kernel())
    assert sent == []
    km.shutting_down = False
    asyncio.run(km._async_interrupt_kernel())
    assert sent == ["SIGINT"]
    import zmq
    # CurveZMQ where pyzmq has it: no "Kernel is running over TCP without encryption" warning
    assert km.transport_encryption == ("auto" if zmq.has("curve") else "disabled")
