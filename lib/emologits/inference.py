"""``python -m emologits infer``: run an SFM over the manifest with one prompt (paper sec. 3.2-3.4).

From **one** generation pass per utterance it keeps the generated text (text level, sec. 3.4.1) and
the raw logits of the tracked emotion-word tokens at every generated step plus the step's
full-vocabulary log-sum-exp (token level, sec. 3.4.2). ``--method likelihood`` instead scores the
verbalised class answers (label likelihood, ``emologits.extract.likelihood``).

Layout (``runs/<run>/inference/<prompt>/``, or ``likelihood/<prompt>/``)::

    run.json                                 provenance + settings fingerprint + failure summary
    part-00000-<stamp>.parquet               records of block 0: utterances [0, P) of the manifest
    part-00001-<stamp>.parquet               records of block 1: [P, 2P) ...

The manifest is cut into blocks of a fixed number ``P`` of utterances (``part_size``, a multiple of
the batch size). Each block's missing records are computed in batches that never cross the block
and written as one new part file, atomically (``emologits.partstore``: append-only, the newest
record of an utterance wins, nothing is ever replaced or deleted). A restarted run computes only
what has no record, so a run killed at any moment and restarted ends with the same records as an
uninterrupted one (``seconds`` aside, a wall-clock time): the block in flight is redone with the
same batch composition. ``--limit`` only chooses what to compute; a later larger limit adds the
missing utterances (in batches of their own). Shards (``--shard i/n``) and ``accelerate launch``
processes take blocks round-robin (block k goes to worker ``k mod W``); a lock per block keeps two
processes on one folder from computing the same block twice. :func:`load_records` merges the parts
in manifest order.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emologits.artifacts import manifest_path, subset_manifest
from emologits.atomic import write_text_atomic
from emologits.audio import TOO_LONG_POLICIES, load_audio
from emologits.config import Config, load_config
from emologits.data import read_manifest
from emologits.errors import AudioError, ConfigError, DataError
from emologits.partstore import block_lock, read_latest, write_part
from emologits.progress import progress_bar
from emologits.prompts import Prompt, get_prompt

#: Columns every generation record has (issue #4), then the extras this runner adds.
RECORD_COLUMNS: tuple[str, ...] = ("utt_id", "status", "error", "text", "generated_token_ids",
                                   "tracked_logits", "logsumexp", "seconds")
EXTRA_COLUMNS: tuple[str, ...] = ("error_message", "truncated", "audio_seconds")
METHODS: tuple[str, ...] = ("generate", "likelihood")
#: Sub-folder of ``runs/<run>/`` per method.
METHOD_DIRS: dict[str, str] = {"generate": "inference", "likelihood": "likelihood"}
#: Default part size, in batches.
PART_BATCHES: int = 4
#: Failure reason codes the runner records itself (audio ones come from emologits.audio).
NONFINITE, MODEL_ERROR, NO_AUDIO = "nonfinite_logits", "model_error", "no_audio"
#: run.json keys that must match for a restarted run to reuse existing parts.
FINGERPRINT_KEYS: tuple[str, ...] = ("method", "prompt", "model", "tracked_ids", "generation",
                                     "continuations", "batch_size", "part_size", "too_long")


# --------------------------------------------------------------------------------------------
# Per-batch work (shared by `infer` and `predict`)
# --------------------------------------------------------------------------------------------

def _failed(utt_id: str, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"utt_id": utt_id, "status": "failed", "error": reason, "error_message": message,
            "seconds": 0.0, **extra}


def _load_batch(backend: Any, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None],
                too_long: str) -> tuple[list[dict], list[tuple[int, np.ndarray]]]:
    """Load each file; returns one partial record per utterance and the (index, audio) that loaded."""
    records: list[dict] = []
    loaded: list[tuple[int, np.ndarray]] = []
    for i, (utt_id, path) in enumerate(zip(utt_ids, audio_paths)):
        if path is None:
            records.append(_failed(utt_id, NO_AUDIO, f"{utt_id}: the manifest has no audio_path (built "
                                   "without audio files?)", truncated=False, audio_seconds=None))
            continue
        try:
            audio, info = load_audio(path, backend.sampling_rate, backend.max_audio_seconds, too_long=too_long)
        except AudioError as exc:
            records.append(_failed(utt_id, exc.reason, str(exc), truncated=False, audio_seconds=None))
            continue
        records.append({"utt_id": utt_id, "truncated": info["truncated"], "audio_seconds": info["orig_seconds"]})
        loaded.append((i, audio))
    return records, loaded


def _call_batched(fn, loaded: list[tuple[int, np.ndarray]]) -> list[tuple[Any, float, str | None]]:
    """``fn(list_of_audio) -> list`` over the whole batch; when the batch call raises, retry one at a
    time so only the failing utterances fail. Returns per item (result or None, seconds, error)."""
    audios = [audio for _, audio in loaded]
    if not audios:
        return []
    start = time.perf_counter()
    try:
        results = list(fn(audios))
        if len(results) != len(audios):  # user back-ends are allowed: never zip a short list silently
            raise RuntimeError(f"the back-end returned {len(results)} result(s) for {len(audios)} utterance(s)")
    except Exception as exc:  # noqa: BLE001 - recorded per utterance, never dropped
        if len(audios) == 1:
            return [(None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")]
    else:
        share = (time.perf_counter() - start) / len(audios)
        return [(r, share, None) for r in results]
    return [item for audio in audios for item in _call_batched(fn, [(0, audio)])]


def _run_batch(backend: Any, utt_ids: Sequence[str], audio_paths: Sequence[str | Path | None], too_long: str,
               fn) -> tuple[list[dict], list[tuple[dict, Any]]]:
    """Load the batch, call ``fn(list_of_audio)`` on what loaded (:func:`_call_batched`), set each
    record's ``seconds`` and, where the model call failed (raised, or gave a wrong number of
    results), ``status="failed"``/``model_error``.
    Returns all records (in order) and the (record, result) pairs that succeeded, marked ``ok``."""
    records, loaded = _load_batch(backend, utt_ids, audio_paths, too_long)
    succeeded: list[tuple[dict, Any]] = []
    for (i, _), (result, seconds, err) in zip(loaded, _call_batched(fn, loaded)):
        row = records[i]
        row["seconds"] = seconds
        if result is None:
            row.update(status="failed", error=MODEL_ERROR, error_message=err)
        else:
            row.update(status="ok", error=None, error_message=None)
            succeeded.append((row, result))
    return records, succeeded


def generate_batch(backend: Any, utt_ids: Sequence[str], audio_paths: Sequence[str | Path], prompt: Prompt,
                   tracked_ids: Sequence[int], settings: Any, *, too_long: str = "truncate") -> list[dict]:
    """One batch of generation records (RECORD_COLUMNS + EXTRA_COLUMNS), one per utterance, in order.

    Unusable audio, a model exception or non-finite captured logits make that utterance's record
    ``status="failed"`` with ``error`` = reason code; the others are unaffected.
    """
    records, succeeded = _run_batch(
        backend, utt_ids, audio_paths, too_long,
        lambda audios: backend.generate(audios, prompt.text, tracked_ids, settings))
    for row, rec in succeeded:
        logits = np.asarray(rec.tracked_logits, dtype=np.float32).reshape(-1, len(tracked_ids))
        lse = np.asarray(rec.logsumexp, dtype=np.float32).reshape(-1)
        row.update(text=rec.text,
                   generated_token_ids=[int(t) for t in np.asarray(rec.generated_token_ids).reshape(-1)],
                   tracked_logits=logits.tolist(), logsumexp=lse.tolist())
        bad = int((~np.isfinite(logits)).sum() + (~np.isfinite(lse)).sum())
        if bad:
            row.update(status="failed", error=NONFINITE,
                       error_message=f"{bad} NaN/inf values among the captured logits/log-sum-exp")
    return records


def likelihood_batch(backend: Any, utt_ids: Sequence[str], audio_paths: Sequence[str | Path], prompt: Prompt,
                     continuations: dict[str, list[str]], *, too_long: str = "truncate") -> list[dict]:
    """One batch of label-likelihood records: per class ``logprob_<class>`` (one summed token
    log-prob per continuation) and ``n_tokens_<class>``, the columns of
    ``emologits.extract.likelihood.score_columns``, from one ``backend.score_batch`` call for the
    batch (one prefix pass for the batch, every utterance x continuation scored together; a batch
    that raises is retried one utterance at a time, so only failing utterances fail)."""
    from emologits.extract.likelihood import score_columns

    flat = [(cls, text) for cls, texts in continuations.items() for text in texts]
    texts = [text for _, text in flat]
    records, succeeded = _run_batch(backend, utt_ids, audio_paths, too_long,
                                    lambda audios: backend.score_batch(audios, prompt.text, texts))
    for row, scores in succeeded:
        per_class: dict[str, list[np.ndarray]] = {cls: [] for cls in continuations}
        for (cls, _), lp in zip(flat, scores):
            per_class[cls].append(np.asarray(lp, dtype=np.float64))
        row.update(**score_columns(per_class))
        if any(np.isnan(v).any() or np.isposinf(v).any() for lps in per_class.values() for v in lps):
            row.update(status="failed", error=NONFINITE, error_message="non-finite continuation log-probs")
    return records


# --------------------------------------------------------------------------------------------
# Parquet parts
# --------------------------------------------------------------------------------------------

def _schema(method: str, classes: Sequence[str] = ()):
    import pyarrow as pa

    common = [("utt_id", pa.string()), ("status", pa.string()), ("error", pa.string())]
    tail = [("seconds", pa.float64()), ("error_message", pa.string()), ("truncated", pa.bool_()),
            ("audio_seconds", pa.float64())]
    if method == "generate":
        body = [("text", pa.string()), ("generated_token_ids", pa.list_(pa.int64())),
                ("tracked_logits", pa.list_(pa.list_(pa.float32()))), ("logsumexp", pa.list_(pa.float32()))]
    else:
        body = ([(f"logprob_{c}", pa.list_(pa.float64())) for c in classes]
                + [(f"n_tokens_{c}", pa.list_(pa.int64())) for c in classes])
    return pa.schema(common + body + tail)


def _latest_status(out_dir: Path) -> dict[str, str]:
    """utt_id -> status of each utterance's newest record on disk."""
    latest = read_latest(out_dir, ["utt_id", "status"])
    return dict(zip(latest["utt_id"].astype(str), latest["status"].astype(str)))


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------

def _git_commit(root: Path) -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty if commit else None}


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that affect results (None when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in ("emologits", "torch", "transformers", "tokenizers", "accelerate", "numpy", "pandas",
                 "pyarrow", "soundfile", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _fingerprint(info: dict) -> dict:
    fp = {k: info.get(k) for k in FINGERPRINT_KEYS}
    fp["model"] = {k: v for k, v in (fp["model"] or {}).items() if k != "device"}  # per-process device
    return _jsonable(fp)


def _check_or_write_info(path: Path, info: dict, *, write: bool) -> None:
    if path.exists():
        old = json.loads(path.read_text())
        new_fp, old_fp = _fingerprint(info), _fingerprint(old)
        if new_fp != old_fp:
            differs = sorted(k for k in new_fp if new_fp[k] != old_fp.get(k))
            raise ConfigError(
                f"{path}: this folder holds a run made with different settings (differs in: "
                f"{', '.join(differs)}); delete {path.parent} to start over, or use a new run name")
        if write:  # same settings: keep the first creation time, record this invocation's extent
            info = {**info, "created": old.get("created"), "resumed": info.get("created")}
    if write:
        _write_json(path, _jsonable(info))


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"i/n"`` (0-based i, e.g. ``$SLURM_ARRAY_TASK_ID/4``) -> (i, n); None -> (0, 1)."""
    if shard is None:
        return 0, 1
    if isinstance(shard, str):
        try:
            i, n = (int(x) for x in shard.split("/"))
        except ValueError:
            raise ConfigError(f"--shard {shard!r}: expected i/n with integers, e.g. 0/4") from None
    else:
        i, n = (int(x) for x in shard)
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"--shard {i}/{n}: need 0 <= i < n (shards are numbered from 0)")
    return i, n


def read_run_manifest(cfg: Config) -> pd.DataFrame:
    """The run's manifest (``runs/<run>/manifest.parquet``), or a clear error saying what to run first."""
    path = manifest_path(cfg)
    if not path.exists():
        data = cfg.data
        raise DataError(f"{path} not found: build the manifest first with `python -m emologits prepare "
                        f"--dataset {data.get('dataset') or 'DATASET'} --root {data.get('root') or 'ROOT'} "
                        f"--out {path}` (or run notebooks/01_data_prep.ipynb)")
    return read_manifest(path)


def _output_dir(run_dir: Path, prompt_id: str, method: str) -> Path:
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: expected one of {list(METHODS)}")
    return Path(run_dir) / METHOD_DIRS[method] / prompt_id


def _distributed_state(model: dict[str, Any]):
    """accelerate's PartialState when launched with several processes (``accelerate launch``, torchrun),
    else None. CPU processes (gloo) when the config says ``device: cpu`` or no GPU is present."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=str(model.get("device", "auto")) == "cpu" or not torch.cuda.is_available())
    if state.num_processes != world:
        raise ConfigError(f"launched as {world} processes (WORLD_SIZE) but accelerate sees "
                          f"{state.num_processes}; check the launcher's settings")
    return state


def _load_backend(cfg: Config, state: Any) -> Any:
    """The back-end ``cfg.model`` names; under ``accelerate launch`` on this process's device."""
    from emologits.sfm import load_backend

    model_cfg = dict(cfg.model)
    if state is not None and model_cfg.get("device", "auto") == "auto":
        model_cfg["device"] = str(state.device)
    return load_backend(model_cfg, project_root=cfg.project_root)


def _check_run_arguments(limit: int | None, too_long: str) -> None:
    """``limit`` (``--limit``) >= 1 or None; ``too_long`` (``--too-long``) a known policy."""
    if limit is not None and int(limit) < 1:
        raise ConfigError(f"--limit must be >= 1, got {limit}")
    if too_long not in TOO_LONG_POLICIES:
        raise ConfigError(f"--too-long {too_long!r}: expected one of {list(TOO_LONG_POLICIES)}")


def token_ids_for(tokenizer: Any) -> tuple[dict[str, list[list[int]]], list[int]]:
    """The verbalizer's per-class token ids (:func:`emologits.verbalizer.class_token_ids`) and the
    sorted union of all of them: the T ids captured per generated step (sec. 3.4.2)."""
    from emologits.verbalizer import class_token_ids

    class_ids = class_token_ids(tokenizer)
    return class_ids, sorted({i for forms in class_ids.values() for ids in forms for i in ids})


@dataclass(frozen=True)
class RunOutcome:
    """What one ``run_prompt`` call did: the output folder and, over the utterances this process
    was asked for, the counts (:func:`summarize_parts`) and the first failed records."""

    out_dir: Path
    summary: dict[str, Any]
    failures: list[dict[str, Any]]

    @property
    def all_ok(self) -> bool:
        return self.summary["n_failed"] == 0 and self.summary.get("complete", True)


def run_inference(cfg: Config, prompt_id: str, **kwargs: Any) -> Path:
    """Run (or resume) one prompt over the manifest; returns the output folder (see :func:`run_prompt`)."""
    return run_prompt(cfg, prompt_id, **kwargs).out_dir


def run_prompt(cfg: Config, prompt_id: str, *, limit: int | None = None,
                  shard: str | tuple[int, int] | None = None, method: str = "generate", backend: Any = None,
                  manifest: pd.DataFrame | None = None, part_size: int | None = None,
                  too_long: str = "truncate", retry_failed: bool = False, progress: bool = True) -> RunOutcome:
    """Run (or resume) one prompt over the manifest.

    Only utterances without a record on disk are computed; existing records are never replaced
    (``emologits.partstore``). ``limit``: compute only the seeded subset of N utterances
    (:func:`emologits.artifacts.subset_manifest`, seed ``evaluation.seed``: nested, in manifest
    order; the pipeline's ``--limit`` takes the same subset); ``retry_failed``: also recompute the
    utterances whose newest record failed; ``shard``: ``"i/n"`` of the parts; ``method``:
    ``generate`` (text + tracked logits) or ``likelihood`` (class-answer log-probs); ``backend``:
    an already loaded back-end (else loaded from ``cfg.model``); ``manifest``: use this table
    instead of ``runs/<run>/manifest.parquet``; ``part_size``: utterances per part (default
    ``PART_BATCHES`` batches); ``too_long``: ``truncate`` (default) or ``fail`` for audio longer
    than the model's window.
    """
    from emologits.sfm.base import GenerationSettings

    _check_run_arguments(limit, too_long)
    out_dir = _output_dir(cfg.run_dir, prompt_id, method)
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id)
    if manifest is None:
        manifest = read_run_manifest(cfg)
    missing = {"utt_id", "audio_path"} - set(manifest.columns)
    if missing:
        raise DataError(f"manifest lacks column(s) {sorted(missing)}")
    utt_ids = [str(u) for u in manifest["utt_id"]]
    if len(set(utt_ids)) != len(utt_ids):
        raise DataError("manifest has duplicate utt_id values; each utterance must appear once")
    chosen = set(subset_manifest(manifest, limit, seed=int(cfg.evaluation.get("seed", 0)))["utt_id"].astype(str))
    requested_mask = [u in chosen for u in utt_ids]
    audio_paths = [None if p is None or pd.isna(p) else str(cfg.resolve(p)) for p in manifest["audio_path"]]

    state = _distributed_state(cfg.model)
    rank, n_proc = (state.process_index, state.num_processes) if state else (0, 1)
    shard_i, n_shards = parse_shard(shard)
    worker, n_workers = shard_i * n_proc + rank, n_shards * n_proc

    if backend is None:
        backend = _load_backend(cfg, state)
    batch_size = int(cfg.model.get("batch_size") or 1)
    part_size = int(part_size or batch_size * PART_BATCHES)
    if part_size < 1:
        raise ConfigError(f"part_size must be >= 1, got {part_size}")
    settings = GenerationSettings.from_config(cfg.generation)

    tracked_ids: list[int] = []
    class_ids: dict[str, list[list[int]]] = {}
    continuations: dict[str, list[str]] | None = None
    if method == "generate":
        class_ids, tracked_ids = token_ids_for(backend.tokenizer)
    else:
        from emologits.extract.likelihood import answer_continuations

        continuations = dict(answer_continuations(prompt.kind))

    info: dict[str, Any] = {
        "method": method,
        "prompt": {"id": prompt.id, "kind": prompt.kind, "text": prompt.text},
        "model": backend.provenance(),
        "tracked_ids": tracked_ids,
        "class_token_ids": class_ids,  # per class, one id list per surface form (the verbalizer's)
        "tracked_tokens": [str(t) for t in backend.tokenizer.convert_ids_to_tokens(tracked_ids)] if tracked_ids else [],
        "generation": settings.as_dict() if method == "generate" else None,
        "continuations": continuations,
        "batch_size": batch_size,
        "part_size": part_size,
        "too_long": too_long,
        "max_audio_seconds": getattr(backend, "max_audio_seconds", None),
        "sampling_rate": backend.sampling_rate,
        "manifest": {"path": str(manifest_path(cfg)), "n_utterances": len(utt_ids),
                     "limit": limit, "n_requested": sum(requested_mask), "retry_failed": retry_failed,
                     "utt_ids_first_last": [utt_ids[0], utt_ids[-1]] if utt_ids else []},
        "workers": {"shards": n_shards, "processes": n_proc},
        "packages": package_versions(),
        "git": _git_commit(Path(__file__).resolve().parent),
        "config": cfg.as_dict(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "columns": list(_schema(method, list(continuations or ())).names),
    }
    info_path = out_dir / "run.json"
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        _check_or_write_info(info_path, info, write=True)
    if state is not None:
        state.wait_for_everyone()
        _check_or_write_info(info_path, info, write=False)

    schema = _schema(method, list(continuations or ()))
    blocks = [list(range(s, min(s + part_size, len(utt_ids)))) for s in range(0, len(utt_ids), part_size)]
    mine = [k for k in range(len(blocks)) if k % n_workers == worker]
    status = _latest_status(out_dir)

    def todo_of(k: int) -> list[int]:
        return [i for i in blocks[k] if requested_mask[i] and (
            utt_ids[i] not in status or (retry_failed and status[utt_ids[i]] != "ok"))]

    n_mine = sum(requested_mask[i] for k in mine for i in blocks[k])
    todo = {k: todo_of(k) for k in mine}
    label = f"{METHOD_DIRS[method]} {prompt_id}" + (f" [{worker}/{n_workers}]" if n_workers > 1 else "")
    bar = progress_bar(n_mine, label, initial=n_mine - sum(len(v) for v in todo.values()), enabled=progress,
                       position=rank if n_proc > 1 else None)
    for k in mine:
        if not todo[k]:
            continue
        with block_lock(out_dir, k):
            status = _latest_status(out_dir)  # another process may have done some of it meanwhile
            rows = todo_of(k)
            bar.update(len(todo[k]) - len(rows))
            records: list[dict] = []
            for b in range(0, len(rows), batch_size):  # batches never cross blocks (same padding on resume)
                idx = rows[b: b + batch_size]
                ids, paths = [utt_ids[i] for i in idx], [audio_paths[i] for i in idx]
                if method == "generate":  # a sampling seed is applied per generate call (resumable)
                    records += generate_batch(backend, ids, paths, prompt, tracked_ids, settings, too_long=too_long)
                else:
                    records += likelihood_batch(backend, ids, paths, prompt, continuations or {}, too_long=too_long)
                bar.update(len(idx))
            if records:
                write_part(out_dir, k, records, schema)
    bar.close()

    if state is not None:
        state.wait_for_everyone()
    requested_ids = [u for u, keep in zip(utt_ids, requested_mask) if keep]
    if rank == 0:
        info_now = json.loads(info_path.read_text())
        info_now["summary"] = summarize_parts(out_dir, utt_ids)
        _write_json(info_path, info_now)
        _print_summary(label, summarize_parts(out_dir, requested_ids))
    my_ids = [utt_ids[i] for k in mine for i in blocks[k] if requested_mask[i]]
    return RunOutcome(out_dir, summarize_parts(out_dir, my_ids), failure_examples(out_dir, my_ids))


def summarize_parts(out_dir: str | Path, expected_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Counts over each utterance's newest record on disk: done, ok, failed by reason. With
    ``expected_ids``, only those utterances count, and ``n_expected``/``complete`` say how many of
    them are done (``n_done`` never exceeds ``n_expected``)."""
    latest = read_latest(out_dir, ["utt_id", "status", "error"])
    if expected_ids is not None:
        latest = latest[latest["utt_id"].isin(set(expected_ids))]
    failed = latest[latest["status"] != "ok"]
    summary: dict[str, Any] = {"n_done": len(latest), "n_ok": int((latest["status"] == "ok").sum()),
                               "n_failed": len(failed),
                               "failures_by_reason": dict(sorted(Counter(failed["error"].astype(str)).items()))}
    if expected_ids is not None:
        summary.update(n_expected=len(set(expected_ids)), complete=len(latest) == len(set(expected_ids)))
    return summary


def failure_examples(out_dir: str | Path, utt_ids: Sequence[str], n: int = 5) -> list[dict[str, Any]]:
    """The first ``n`` failed records (utt_id, error, error_message) among ``utt_ids``, in their order."""
    latest = read_latest(out_dir, ["utt_id", "status", "error", "error_message"]).set_index("utt_id")
    failed = [u for u in utt_ids if u in latest.index and latest.at[u, "status"] != "ok"]
    return [{"utt_id": u, "error": latest.at[u, "error"], "error_message": latest.at[u, "error_message"]}
            for u in failed[:n]]


def _print_summary(label: str, summary: dict) -> None:
    status = "complete" if summary.get("complete", True) else "INCOMPLETE (other shards still running?)"
    fails = summary["failures_by_reason"]
    print(f"{label}: {summary['n_done']}/{summary.get('n_expected', summary['n_done'])} utterances, "
          f"{summary['n_ok']} ok, {summary['n_failed']} failed"
          + (f" (by reason: {', '.join(f'{r}={n}' for r, n in fails.items())})" if fails else "")
          + f"; {status}", file=sys.stderr)


def _run_manifest_ids(run_dir: Path) -> list[str] | None:
    path = Path(run_dir) / "manifest.parquet"
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    return [str(u) for u in pq.read_table(path, columns=["utt_id"]).column("utt_id").to_pylist()]


def load_records(run_dir: str | Path, prompt_id: str, method: str = "generate") -> tuple[pd.DataFrame, dict]:
    """All records of one prompt's run (each utterance's newest), in manifest order, and its run info
    (run.json, with ``summary`` recomputed from the parts on disk). ``run_dir`` is ``runs/<run>``
    (``cfg.run_dir``). When ``runs/<run>/manifest.parquet`` exists, only its utterances are returned
    (records of utterances no longer in the manifest stay on disk).

    ``tracked_logits`` cells hold J rows of T values (``np.stack(cell)`` gives the (J, T) array);
    ``run_info["tracked_ids"]`` gives the T token ids in column order.
    """
    out_dir = _output_dir(Path(run_dir), prompt_id, method)
    info_path = out_dir / "run.json"
    if not info_path.exists():
        flag = " --method likelihood" if method == "likelihood" else ""
        raise DataError(f"{info_path} not found: run `python -m emologits infer --config CFG --prompt "
                        f"{prompt_id}{flag}` first (or notebooks/02_inference.ipynb)")
    info = json.loads(info_path.read_text())
    records = read_latest(out_dir)
    if not len(records):
        records = pd.DataFrame(columns=info.get("columns", list(RECORD_COLUMNS)))
    manifest_ids = _run_manifest_ids(Path(run_dir))
    if manifest_ids is not None:
        order = {u: i for i, u in enumerate(manifest_ids)}
        records = records[records["utt_id"].isin(order)]
        records = records.iloc[np.argsort([order[u] for u in records["utt_id"]], kind="stable")]
        expected: Sequence[str] = manifest_ids
    else:
        records = records.sort_values("utt_id", kind="stable")
        expected = list(records["utt_id"])
        if len(expected) < info["manifest"]["n_utterances"]:
            expected = expected + [None] * (info["manifest"]["n_utterances"] - len(expected))  # type: ignore[list-item]
    summary = summarize_parts(out_dir, [u for u in expected if u is not None])
    summary["n_expected"] = len(expected)
    summary["complete"] = summary["n_done"] >= summary["n_expected"]
    info["summary"] = summary
    if not summary["complete"]:
        warnings.warn(f"{out_dir}: only {summary['n_done']} of {summary['n_expected']} utterances are done; "
                      "run the same infer command again to finish (it resumes)", stacklevel=2)
    return records.reset_index(drop=True), info


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

#: ``infer``'s exit status when every utterance was written but some failed (0: all ok; 2: a
#: configuration or input error before any work; 130: interrupted).
EXIT_SOME_FAILED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config (YAML), e.g. configs/demo.yaml")
    parser.add_argument("--prompt", action="append", dest="prompts", metavar="ID",
                        help="prompt id (repeatable; default: every id in the config's prompts.ids)")
    parser.add_argument("--limit", type=int, default=None,
                        help="compute only a seeded subset of N manifest utterances (nested; the pipeline's "
                             "--limit takes the same subset); existing records are always kept")
    parser.add_argument("--shard", default=None, metavar="i/n",
                        help="do shard i of n (0-based; e.g. $SLURM_ARRAY_TASK_ID/4); merge is automatic")
    parser.add_argument("--method", choices=METHODS, default="generate",
                        help="generate: text + emotion-token logits (default); likelihood: score class answers")
    parser.add_argument("--too-long", choices=TOO_LONG_POLICIES, default="truncate",
                        help="audio longer than the model's window: truncate it (default) or fail it")
    parser.add_argument("--retry-failed", action="store_true",
                        help="also recompute the utterances whose record failed (successful records are kept)")
    parser.add_argument("--output-root", default=None, help="where runs/ goes (default: the project root)")


def _report_failures(label: str, outcome: RunOutcome) -> None:
    """Counts by reason and the first failed utterances with their messages, on stderr."""
    summary = outcome.summary
    reasons = ", ".join(f"{r}={n}" for r, n in summary["failures_by_reason"].items())
    print(f"{label}: {summary['n_failed']} of {summary['n_expected']} utterances failed ({reasons}); "
          f"records in {outcome.out_dir}", file=sys.stderr)
    for fail in outcome.failures:
        print(f"  {fail['utt_id']} [{fail['error']}]: {fail['error_message']}", file=sys.stderr)
    if summary["n_failed"] > len(outcome.failures):
        print(f"  ... and {summary['n_failed'] - len(outcome.failures)} more", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Run every requested prompt. Exit status: 0 when every utterance of this process's share has
    a successful record, :data:`EXIT_SOME_FAILED` when some failed (all records are still written)."""
    cfg = load_config(args.config, output_root=args.output_root)
    prompt_ids = args.prompts or list(cfg.prompts["ids"])
    _check_run_arguments(args.limit, args.too_long)  # fail early, before the model loads
    manifest = read_run_manifest(cfg)
    parse_shard(args.shard)  # fail early on a bad --shard
    for pid in prompt_ids:
        get_prompt(cfg.resolve(cfg.prompts["file"]), pid)
    backend = _load_backend(cfg, _distributed_state(cfg.model))
    outcomes = {pid: run_prompt(cfg, pid, limit=args.limit, shard=args.shard, method=args.method, backend=backend,
                                manifest=manifest, too_long=args.too_long, retry_failed=args.retry_failed)
                for pid in prompt_ids}
    failed = {pid: o for pid, o in outcomes.items() if o.summary["n_failed"]}
    for pid, outcome in failed.items():
        _report_failures(f"{METHOD_DIRS[args.method]} {pid}", outcome)
    if failed:
        print(f"exit status {EXIT_SOME_FAILED}: some utterances failed (see above). Fix their audio, then "
              "rerun with --retry-failed to recompute only those.", file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


__all__ = ["EXIT_SOME_FAILED", "EXTRA_COLUMNS", "METHODS", "RECORD_COLUMNS", "RunOutcome", "add_arguments",
           "failure_examples", "generate_batch", "likelihood_batch", "load_records", "main", "package_versions",
           "parse_shard", "read_run_manifest", "run_inference", "run_prompt", "summarize_parts", "token_ids_for"]
