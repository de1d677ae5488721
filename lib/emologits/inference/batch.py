"""Per-batch work shared by every method (and by ``predict``): load the audio, call the model on
what loaded, and turn each failure into a record with a reason instead of an exception."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emologits.audio import load_audio
from emologits.errors import AudioError
from emologits.sfm.base import SFMBackend

#: Failure reason codes the runner records itself (audio ones come from emologits.audio).
NONFINITE, MODEL_ERROR, NO_AUDIO = "nonfinite_logits", "model_error", "no_audio"


def failed_record(utt_id: str, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    """A record of an utterance that failed with ``reason`` (a short code) and a message."""
    return {"utt_id": utt_id, "status": "failed", "error": reason, "error_message": message,
            "seconds": 0.0, **extra}


def _load_batch(backend: SFMBackend, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | np.ndarray | None],
                too_long: str) -> tuple[list[dict], list[tuple[int, np.ndarray]]]:
    """Load each file; returns one partial record per utterance and the (index, audio) that loaded.
    An array instead of a path is audio already made at the back-end's rate (the content-free
    inputs of contextual calibration): used as it is, never truncated or refused as silent."""
    records: list[dict] = []
    loaded: list[tuple[int, np.ndarray]] = []
    for i, (utt_id, path) in enumerate(zip(utt_ids, audio_paths)):
        if isinstance(path, np.ndarray):
            audio = np.asarray(path, dtype=np.float32).reshape(-1)
            records.append({"utt_id": utt_id, "truncated": False, "audio_seconds": len(audio) / backend.sampling_rate})
            loaded.append((i, audio))
            continue
        if path is None:
            records.append(failed_record(utt_id, NO_AUDIO, f"{utt_id}: the manifest has no audio_path (built "
                                         "without audio files?)", truncated=False, audio_seconds=None))
            continue
        try:
            audio, info = load_audio(path, backend.sampling_rate, backend.max_audio_seconds, too_long=too_long)
        except AudioError as exc:
            records.append(failed_record(utt_id, exc.reason, str(exc), truncated=False, audio_seconds=None))
            continue
        records.append({"utt_id": utt_id, "truncated": info["truncated"], "audio_seconds": info["orig_seconds"]})
        loaded.append((i, audio))
    return records, loaded


def _call_batched(fn: Callable[..., Sequence[Any]], loaded: list[tuple[int, np.ndarray]],
                  per_item: Mapping[str, Sequence[Any]]) -> list[tuple[Any, float, str | None]]:
    """``fn(list_of_audio, **inputs) -> list`` over the whole batch (``inputs``: each ``per_item``
    list at the loaded positions); when the batch call raises, retry one at a time so only the
    failing utterances fail. Returns per item (result or None, seconds, error)."""
    audios = [audio for _, audio in loaded]
    if not audios:
        return []
    inputs = {name: [values[i] for i, _ in loaded] for name, values in per_item.items()}
    start = time.perf_counter()
    try:
        results = list(fn(audios, **inputs))
        if len(results) != len(audios):  # user back-ends are allowed: never zip a short list silently
            raise RuntimeError(f"the back-end returned {len(results)} result(s) for {len(audios)} utterance(s)")
    except Exception as exc:  # noqa: BLE001 - recorded per utterance, never dropped
        if len(audios) == 1:
            return [(None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")]
    else:
        share = (time.perf_counter() - start) / len(audios)
        return [(r, share, None) for r in results]
    return [item for one in loaded for item in _call_batched(fn, [one], per_item)]


def run_batch(backend: SFMBackend, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | np.ndarray | None],
              too_long: str, fn: Callable[..., Sequence[Any]],
              per_item: Mapping[str, Sequence[Any]] | None = None,
              ) -> tuple[list[dict], list[tuple[dict, Any]]]:
    """Load the batch (paths, or arrays already at the back-end's rate), call
    ``fn(list_of_audio, **inputs)`` on what loaded (``per_item``: keyword -> one value per
    utterance, e.g. the back-end's manifest inputs), set each record's ``seconds``
    and, where the model call failed (raised, or gave a wrong number of results),
    ``status="failed"`` / ``model_error``. Returns all records (in order) and the (record, result)
    pairs that succeeded, marked ``ok``."""
    records, loaded = _load_batch(backend, utt_ids, audio_paths, too_long)
    succeeded: list[tuple[dict, Any]] = []
    for (i, _), (result, seconds, err) in zip(loaded, _call_batched(fn, loaded, per_item or {})):
        row = records[i]
        row["seconds"] = seconds
        if result is None:
            row.update(status="failed", error=MODEL_ERROR, error_message=err)
        else:
            row.update(status="ok", error=None, error_message=None)
            succeeded.append((row, result))
    return records, succeeded


__all__ = ["MODEL_ERROR", "NONFINITE", "NO_AUDIO", "failed_record", "run_batch"]
