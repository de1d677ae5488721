"""The runner as real processes: killed with SIGKILL and restarted; split by `accelerate launch`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emologits.config import load_config
from emologits.inference import load_records, run_inference
from fake_backend import canonical, make_project

TESTS = Path(__file__).resolve().parent
PROJECT_ROOT = TESTS.parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(PROJECT_ROOT / "lib"), env.get("PYTHONPATH", "")])
    env.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


def _infer_cmd(cfg_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "emologits", "infer", "--config", str(cfg_path), "--prompt", "ambiguous", *extra]


def test_kill_9_then_restart_equals_an_uninterrupted_run(tmp_path):
    options = {"sleep_per_batch": 0.4}  # parts of 1.6 s: wide margins for a loaded CI machine
    reference = load_config(make_project(tmp_path / "ref", n=32, batch_size=2, options=options))
    run_inference(reference, "ambiguous", progress=False)  # part size 8 -> 4 parts
    expected, _ = load_records(reference.run_dir, "ambiguous")

    cfg_path = make_project(tmp_path / "killed", n=32, batch_size=2, options=options)
    out = load_config(cfg_path).run_dir / "inference" / "ambiguous"
    proc = subprocess.Popen(_infer_cmd(cfg_path), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.glob("part-*.parquet")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.4)  # inside the second part (4 batches x 0.4 s); 3 parts (4.8 s) of slack
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.name for p in out.glob("part-*.parquet"))
    assert 1 <= len(done) < 4  # killed mid-run: some parts on disk, not all

    restarted = subprocess.run(_infer_cmd(cfg_path), env=_env(), capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    assert "32/32 utterances, 32 ok, 0 failed; complete" in restarted.stderr
    records, info = load_records(load_config(cfg_path).run_dir, "ambiguous")
    assert canonical(records) == canonical(expected)
    assert info["summary"]["complete"] and records["utt_id"].is_unique and len(records) == 32


def _accelerate_cmd(cfg_path: Path, n_proc: int = 2) -> list[str]:
    # `--cpu` makes accelerate 1.x start ONE process (multi-CPU needs mpirun); `--multi_gpu` starts
    # torch.distributed processes, which the runner puts on CPU (gloo) when no GPU is present.
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n_proc),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(29500 + os.getpid() % 1000),
            "-m", "emologits", "infer", "--config", str(cfg_path), "--prompt", "ambiguous"]


def test_accelerate_launch_two_processes_split_and_merge(tmp_path):
    reference = load_config(make_project(tmp_path / "ref", n=20, batch_size=2))
    run_inference(reference, "ambiguous", progress=False)
    expected, _ = load_records(reference.run_dir, "ambiguous")

    cfg_path = make_project(tmp_path / "acc", n=20, batch_size=2)
    done = subprocess.run(_accelerate_cmd(cfg_path), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    records, info = load_records(load_config(cfg_path).run_dir, "ambiguous")
    assert info["workers"] == {"shards": 1, "processes": 2}
    assert canonical(records) == canonical(expected)
    assert "inference ambiguous [0/2]" in done.stderr and "inference ambiguous [1/2]" in done.stderr


def _tiny_demo_project(root: Path, n: int = 6, batch_size: int = 2) -> Path:
    """A project on the tiny-demo back-end (cached under the demo config's model path; trained there
    on first use, once per clone) with synthetic emotional voices as audio."""
    import soundfile as sf
    import yaml

    from emologits.data.synthetic import synthesize_audio

    demo = load_config(PROJECT_ROOT / "configs" / "demo.yaml")
    cfg_path = make_project(root, n=n, batch_size=batch_size, backend="tiny-demo")
    rng = np.random.default_rng(0)
    for i in range(n):
        audio = synthesize_audio(rng.dirichlet(np.ones(4)), "MF"[i % 2], float(rng.uniform(1.0, 2.0)), rng)
        sf.write(root / "audio" / f"u{i:03d}.wav", audio, 16000)
    raw = yaml.safe_load(cfg_path.read_text())
    raw["model"].update(name_or_path=str(demo.resolve(demo.model["name_or_path"])),
                        options=demo.model.get("options") or {})
    raw["generation"] = dict(demo.generation)
    cfg_path.write_text(yaml.safe_dump(raw))
    return cfg_path


@pytest.mark.slow
def test_tiny_demo_run_records_and_predict(tmp_path):
    """The real Qwen2-Audio code path at a tiny size: records, parseable answers, predict = record."""
    from emologits.extract.text import parse_distribution
    from emologits.predict import predict_files
    from emologits.sfm import load_backend

    cfg = load_config(_tiny_demo_project(tmp_path))
    backend = load_backend(cfg.model, project_root=cfg.project_root)
    run_inference(cfg, "ambiguous", backend=backend, progress=False)
    records, info = load_records(cfg.run_dir, "ambiguous")
    assert (records["status"] == "ok").all() and info["model"]["backend"] == "tiny-demo"
    for rec in records.itertuples():
        logits = np.stack(rec.tracked_logits)
        assert logits.shape == (len(rec.generated_token_ids), len(info["tracked_ids"]))
        assert np.all(np.asarray(rec.logsumexp) >= logits.max(axis=1))  # log-sum-exp over the full vocabulary
    assert sum(parse_distribution(t).valid for t in records["text"]) >= 5
    [pred] = predict_files(cfg, [tmp_path / "audio" / "u003.wav"], "ambiguous", backend=backend)
    assert pred["text"] == records["text"][3]


@pytest.mark.slow
def test_accelerate_launch_on_tiny_demo(tmp_path):
    """The same 2-process split on the tiny-demo back-end (the real Qwen2-Audio class at a tiny size)."""
    cfg_path = _tiny_demo_project(tmp_path / "one", n=6, batch_size=1)  # parts of 4: both processes work
    single = subprocess.run(_infer_cmd(cfg_path, "--limit", "6"), env=_env(), capture_output=True, text=True,
                            timeout=300)
    assert single.returncode == 0, single.stderr
    expected, _ = load_records(load_config(cfg_path).run_dir, "ambiguous")

    two = _tiny_demo_project(tmp_path / "two", n=6, batch_size=1)
    done = subprocess.run(_accelerate_cmd(two), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    records, info = load_records(load_config(two).run_dir, "ambiguous")
    assert info["workers"]["processes"] == 2 and (records["status"] == "ok").all()
    assert "[1/2]" in done.stderr and len(list((load_config(two).run_dir / "inference" / "ambiguous").glob("part-*"))) == 2
    assert canonical(records) == canonical(expected)
