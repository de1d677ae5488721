"""Shared bits of the benchmarks: inputs, timing (warm-up, interleaved repeats, medians, paired
ratios with their spread), the JSON last line."""
from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def synthetic_audios(n: int, seed: int = 0, seconds: float | None = None) -> list[np.ndarray]:
    """``n`` synthetic emotional "voices" (16 kHz) from the demo corpus generator: 1-2.5 s each, or
    ``seconds`` each when given."""
    from emologits.data.synthetic import synthesize_audio

    rng = np.random.default_rng(seed)
    return [synthesize_audio(rng.dirichlet(np.ones(4)), "MF"[i % 2],
                             float(seconds if seconds else rng.uniform(1.0, 2.5)), rng)
            for i in range(n)]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def interleaved(fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Wall times of each function over ``repeats`` rounds, the variants interleaved within each
    round (a, b, c, then c, b, a, …) so drifting machine load hits every variant alike; ``warmup``
    untimed rounds first. Repeat r of every variant ran back to back: pair them for ratios
    (:func:`ratio_stats`)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        order = list(fns) if r % 2 == 0 else list(reversed(fns))
        for k in order:
            times[k].append(timed(fns[k])[0])
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """Median of each variant's times."""
    return {k: statistics.median(v) for k, v in times.items()}


def median_times(fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int) -> dict[str, float]:
    """Median wall time of each function (:func:`interleaved`)."""
    return medians(interleaved(fns, repeats=repeats, warmup=warmup))


def ratio_stats(times: dict[str, list[float]], a: str, b: str) -> dict[str, object]:
    """``a`` / ``b`` per repeat (the two ran back to back within it): the median of those ratios,
    their spread ``[min, max]`` and interquartile range ``[q25, q75]``; and ``of_minima``, the ratio
    of the two fastest times (machine load only ever adds time, so each minimum is the run least
    disturbed). The paired median moves far less between runs than a ratio of two medians taken
    at different moments."""
    ratios = np.array(times[a]) / np.array(times[b])
    q25, q75 = np.quantile(ratios, [0.25, 0.75])
    return {"median": round(float(np.median(ratios)), 4), "spread": [round(float(ratios.min()), 4),
                                                                     round(float(ratios.max()), 4)],
            "iqr": [round(float(q25), 4), round(float(q75), 4)],
            "of_minima": round(float(min(times[a]) / min(times[b])), 4), "n": int(len(ratios))}


def load_demo_backend(config: str):
    from emologits.config import load_config
    from emologits.sfm import load_backend

    cfg = load_config(config)
    return cfg, load_backend(cfg.model, project_root=cfg.project_root)


def emit(result: dict) -> None:
    """Print the result as the last output line (one JSON object)."""
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False), flush=True)
