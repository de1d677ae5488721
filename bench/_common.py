"""Shared bits of the benchmarks: inputs, timing (warm-up, repeats, median), the JSON last line."""
from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def synthetic_audios(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` synthetic emotional "voices" (1-2.5 s, 16 kHz) from the demo corpus generator."""
    from emologits.data.synthetic import synthesize_audio

    rng = np.random.default_rng(seed)
    return [synthesize_audio(rng.dirichlet(np.ones(4)), "MF"[i % 2], float(rng.uniform(1.0, 2.5)), rng)
            for i in range(n)]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median_times(fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int) -> dict[str, float]:
    """Median wall time of each function; calls are interleaved (a, b, a, b, …) so drifting machine
    load hits every variant alike; ``warmup`` untimed rounds first."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        order = list(fns) if r % 2 == 0 else list(reversed(fns))
        for k in order:
            times[k].append(timed(fns[k])[0])
    return {k: statistics.median(v) for k, v in times.items()}


def load_demo_backend(config: str):
    from emologits.config import load_config
    from emologits.sfm import load_backend

    cfg = load_config(config)
    return cfg, load_backend(cfg.model, project_root=cfg.project_root)


def emit(result: dict) -> None:
    """Print the result as the last output line (one JSON object)."""
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False), flush=True)
