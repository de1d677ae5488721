"""Audio loading for inference: any file soundfile reads -> float32 mono at the model's rate.

Stereo (and more channels) is averaged to mono; other sampling rates are resampled with a
polyphase filter (``scipy.signal.resample_poly``). Nothing is rejected for its format.
A file that cannot be used raises :class:`emologits.errors.AudioError` with one of
:data:`AUDIO_FAILURE_REASONS`, which the runner records per utterance and counts per run.

Audio longer than the model's window (``max_seconds``, the back-end's ``max_audio_seconds``)
is **truncated** to the window by default and ``info["truncated"]`` is set (the runner keeps it in
the record); pass ``too_long="fail"`` to raise ``AudioError("too_long", ...)`` instead.
"""
from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from emologits.errors import AudioError

#: Reason codes of :class:`AudioError` raised here.
AUDIO_FAILURE_REASONS: tuple[str, ...] = ("unreadable", "empty", "silent", "too_long")

#: What :func:`load_audio` does with audio longer than the model's window.
TOO_LONG_POLICIES: tuple[str, ...] = ("truncate", "fail")

#: Peak absolute amplitude (full scale = 1.0) at or below which a file counts as silent (-100 dBFS).
SILENCE_PEAK: float = 1e-5

#: Fewer samples than this (at the target rate) count as empty: 10 ms.
MIN_SECONDS: float = 0.01


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling of a 1-D signal from ``orig_sr`` to ``target_sr`` (float32 out)."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(int(orig_sr), int(target_sr))
    return resample_poly(audio, int(target_sr) // g, int(orig_sr) // g).astype(np.float32)


def load_audio(path: str | Path, target_sr: int = 16000, max_seconds: float | None = None, *,
               too_long: str = "truncate") -> tuple[np.ndarray, dict[str, Any]]:
    """Read ``path`` as float32 mono at ``target_sr``.

    Returns ``(audio, info)``; ``info`` has ``orig_sr``, ``orig_channels``, ``orig_seconds``,
    ``seconds`` (after truncation) and ``truncated`` (bool). ``too_long`` is ``"truncate"`` (keep
    the first ``max_seconds``) or ``"fail"``. Raises ``AudioError`` (reason in
    :data:`AUDIO_FAILURE_REASONS`) when the file is unreadable, empty, silent or (with
    ``too_long="fail"``) longer than ``max_seconds``.
    """
    if too_long not in TOO_LONG_POLICIES:
        raise ValueError(f"too_long must be one of {TOO_LONG_POLICIES}, got {too_long!r}")
    import soundfile as sf

    path = Path(path)
    try:
        data, orig_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, OSError…
        raise AudioError("unreadable", f"{path}: cannot read audio ({exc})") from None
    orig_channels = int(data.shape[1]) if data.ndim == 2 else 1
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    orig_seconds = len(mono) / float(orig_sr) if orig_sr else 0.0
    if len(mono) == 0 or orig_seconds < MIN_SECONDS:
        raise AudioError("empty", f"{path}: no audio ({len(mono)} samples, {orig_seconds:.3f} s)")
    if not np.all(np.isfinite(mono)):
        raise AudioError("unreadable", f"{path}: audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(mono)))
    if peak <= SILENCE_PEAK:
        raise AudioError("silent", f"{path}: silent (peak amplitude {peak:.2e} <= {SILENCE_PEAK:.0e})")
    truncated = False
    if max_seconds is not None and orig_seconds > max_seconds:
        if too_long == "fail":
            raise AudioError("too_long", f"{path}: {orig_seconds:.2f} s is longer than the model's "
                                         f"window of {max_seconds:g} s")
        mono = mono[: int(round(max_seconds * orig_sr))]
        truncated = True
    audio = resample(mono, int(orig_sr), int(target_sr))
    if max_seconds is not None:  # rounding in resampling must not exceed the window
        audio = audio[: int(max_seconds * target_sr)]
    info = {"orig_sr": int(orig_sr), "orig_channels": orig_channels, "orig_seconds": orig_seconds,
            "seconds": len(audio) / float(target_sr), "truncated": truncated}
    return np.ascontiguousarray(audio, dtype=np.float32), info
