"""The benchmarks' plumbing (never their timings): bench/full_size.py's skip line without CUDA and
its real-size configs, and the paired-ratio statistics every CPU benchmark reports."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import PROJECT_ROOT

BENCH = PROJECT_ROOT / "bench"


def _run(*args: str) -> tuple[int, list[str]]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a machine that has one
    done = subprocess.run([sys.executable, str(BENCH / "full_size.py"), *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd=PROJECT_ROOT)
    return done.returncode, done.stdout.strip().splitlines()


def test_full_size_without_cuda_prints_one_json_line_saying_it_skipped():
    code, lines = _run()
    assert code == 0 and len(lines) == 1, lines
    out = json.loads(lines[0])
    assert "no CUDA device" in out["skipped"]
    assert out["families"] == ["qwen2-audio", "audio-flamingo-3", "qwen2.5-omni", "voxtral"]


def test_full_size_configs_build_at_real_size_on_the_meta_device():
    """Each family's tiny instance scaled to its published sizes is accepted by the real model class
    and has the checkpoint's parameter count (in billions, within 3 %)."""
    code, lines = _run("--check-configs")
    assert code == 0, lines
    counts = json.loads(lines[-1])["parameters_b"]
    assert counts["qwen2-audio"] == pytest.approx(8.40, rel=0.03)  # Qwen2-Audio-7B: 8.4 B
    assert counts["audio-flamingo-3"] == pytest.approx(8.27, rel=0.03)  # Qwen2.5-7B + Whisper-large encoder
    assert counts["qwen2.5-omni"] == pytest.approx(8.93, rel=0.03)  # the thinker (audio + vision + text)
    assert counts["voxtral"] == pytest.approx(4.68, rel=0.03)  # Voxtral Mini: 4.7 B


def test_interleaved_repeats_and_paired_ratios():
    sys.path.insert(0, str(BENCH))
    from _common import interleaved, ratio_stats

    calls: list[str] = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=1)
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then alternating order
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}
    stats = ratio_stats({"a": [2.0, 3.0, 2.2, 10.0], "b": [1.0, 2.0, 2.0, 5.0]}, "a", "b")
    assert stats["median"] == pytest.approx(1.75) and stats["spread"] == [1.1, 2.0] and stats["n"] == 4
    assert stats["iqr"][0] <= stats["median"] <= stats["iqr"][1]
    assert stats["of_minima"] == pytest.approx(2.0 / 1.0)
