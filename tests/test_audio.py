"""emologits.audio.load_audio: conversion (stereo, rates), failure reasons, too-long policy."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emologits.audio import load_audio, resample
from emologits.errors import AudioError


def _tone(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_mono_16k_is_returned_unchanged(tmp_path):
    x = _tone(0.5, 16000)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    audio, info = load_audio(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1
    np.testing.assert_array_equal(audio, x)
    assert info == {"orig_sr": 16000, "orig_channels": 1, "orig_seconds": 0.5, "seconds": 0.5, "truncated": False}


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = _tone(0.25, 16000, amp=0.6), _tone(0.25, 16000, freq=220, amp=0.2)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    audio, info = load_audio(tmp_path / "st.wav")
    assert info["orig_channels"] == 2
    np.testing.assert_allclose(audio, (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("orig_sr", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled(tmp_path, orig_sr):
    sf.write(tmp_path / "r.wav", _tone(1.0, orig_sr, freq=440.0), orig_sr, subtype="PCM_16")
    audio, info = load_audio(tmp_path / "r.wav", target_sr=16000)
    assert info["orig_sr"] == orig_sr
    assert abs(len(audio) - 16000) <= 1
    # the tone keeps its frequency: spectrum peak at 440 Hz (1 Hz bins for a 1 s signal)
    spectrum = np.abs(np.fft.rfft(audio[:16000], n=16000))
    assert int(np.argmax(spectrum)) == 440
    # and matches a tone synthesised directly at 16 kHz (away from the filter's edge effects)
    np.testing.assert_allclose(audio[2000:14000], _tone(1.0, 16000)[2000:14000], atol=0.02)


def test_resample_identity_and_length():
    x = _tone(0.1, 48000)
    same = resample(x, 48000, 48000)
    assert same.dtype == np.float32 and np.array_equal(same, x)  # same rate: the samples unchanged
    assert resample(x.astype(np.float64), 48000, 48000).dtype == np.float32
    assert len(resample(x, 48000, 16000)) == 1600


def test_too_long_is_truncated_and_recorded(tmp_path):
    sf.write(tmp_path / "long.wav", _tone(3.0, 22050), 22050)
    audio, info = load_audio(tmp_path / "long.wav", max_seconds=2.0)
    assert info["truncated"] is True and len(audio) == 32000
    assert info["orig_seconds"] == pytest.approx(3.0) and info["seconds"] == pytest.approx(2.0)
    _, short = load_audio(tmp_path / "long.wav", max_seconds=5.0)
    assert short["truncated"] is False


def test_too_long_can_fail_instead(tmp_path):
    sf.write(tmp_path / "long.wav", _tone(3.0, 16000), 16000)
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "long.wav", max_seconds=2.0, too_long="fail")
    assert err.value.reason == "too_long" and "long.wav" in str(err.value)


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(b"not audio at all"), "unreadable"),
    (lambda p: None, "unreadable"),  # missing file
    (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "empty"),
    (lambda p: sf.write(p, np.zeros(16000, np.float32), 16000), "silent"),
    (lambda p: sf.write(p, np.full(16000, 1e-6, np.float32), 16000, subtype="FLOAT"), "silent"),
])
def test_unusable_files_raise_with_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert err.value.reason == reason
    assert "bad.wav" in str(err.value)


def test_quiet_but_not_silent_is_kept(tmp_path):
    sf.write(tmp_path / "q.wav", _tone(0.5, 16000, amp=1e-3), 16000, subtype="FLOAT")
    audio, _ = load_audio(tmp_path / "q.wav")
    assert np.max(np.abs(audio)) == pytest.approx(1e-3, rel=1e-3)
