"""The runner: one prompt of one method over the manifest, resumable, sharded, never losing a record.

The manifest is cut into blocks of a fixed number ``P`` of utterances (``part_size``, a multiple of
the batch size). Each block's missing records are computed in batches that never cross the block
and written as one new part file, atomically (:mod:`emologits.inference.store`: append-only, the
newest record of an utterance wins, nothing is ever replaced or deleted). A restarted run computes
only what has no record, so a run killed at any moment and restarted ends with the same records as
an uninterrupted one (``seconds`` aside): the block in flight is redone with the same batch
composition. ``limit`` only chooses what to compute; a later larger limit adds the missing
utterances. Shards (``--shard i/n``) and ``accelerate launch`` processes take blocks round-robin
(block k goes to worker ``k mod W``); a lock per block keeps two processes on one folder from
computing the same block twice. :func:`load_records` merges the parts in manifest order.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from collections import ChainMap, Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emologits.artifacts import manifest_path, subset_manifest
from emologits.audio import TOO_LONG_POLICIES
from emologits.config import Config
from emologits.data import read_manifest
from emologits.emotions import EmotionSet, get_emotion_set
from emologits.errors import ConfigError, DataError
from emologits.inference.methods import METHODS, RECORD_COLUMNS, Method
from emologits.inference.provenance import check_or_write_info, git_commit, package_versions, write_json
from emologits.inference.store import block_lock, block_of, part_files, read_latest, write_part
from emologits.progress import progress_bar
from emologits.prompts import get_prompt
from emologits.sfm.base import SFMBackend

#: Default block (part) size, in batches.
PART_BATCHES: int = 4


def emotion_set_of(cfg: Config) -> EmotionSet:
    """The emotion set a run's distributions are over (``data.emotion_set``; default ``paper4``)."""
    return get_emotion_set(cfg.data.get("emotion_set"))


def _manifest_inputs(backend: SFMBackend, manifest: pd.DataFrame) -> dict[str, list[Any]]:
    """Keyword -> one value per manifest row, for the manifest columns the back-end asks for
    (:meth:`SFMBackend.manifest_inputs`, e.g. LTU-AS's ``transcripts`` from ``transcript``)."""
    wanted = backend.manifest_inputs()
    missing = sorted(col for col in wanted.values() if col not in manifest.columns)
    if missing:
        raise DataError(f"the back-end {backend.name!r} reads the manifest column(s) {missing}, which this "
                        f"manifest lacks (columns: {list(manifest.columns)}); rebuild the manifest with them "
                        "or change the back-end's options")
    return {kw: [None if pd.isna(v) else v for v in manifest[col]] for kw, col in wanted.items()}


def _latest_status(out_dir: Path, files: Sequence[Path]) -> dict[str, str]:
    """utt_id -> status of each utterance's newest record in the part files ``files`` (oldest first)."""
    latest = read_latest(out_dir, ["utt_id", "status"], files)
    return dict(zip(latest["utt_id"].astype(str), latest["status"].astype(str)))


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
    return read_manifest(path, emotion_set=emotion_set_of(cfg))


def output_dir(run_dir: str | Path, prompt_id: str, method: str = "generate") -> Path:
    """``runs/<run>/<method folder>/<prompt>/``: where one prompt's records of a method live."""
    return Path(run_dir) / METHODS.get(method).subdir / prompt_id


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


def _load_backend(cfg: Config, state: Any) -> SFMBackend:
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


@dataclass(frozen=True)
class RunOutcome:
    """What one ``run_prompt`` call did: the output folder and, over the utterances this process
    was asked for, the counts (:func:`summarize_parts`) and the first failed records."""

    out_dir: Path
    summary: dict[str, Any]
    failures: list[dict[str, Any]]


def run_inference(cfg: Config, prompt_id: str, **kwargs: Any) -> Path:
    """Run (or resume) one prompt over the manifest; returns the output folder (see :func:`run_prompt`)."""
    return run_prompt(cfg, prompt_id, **kwargs).out_dir


@dataclass(frozen=True)
class _Work:
    """The manifest as the runner sees it: ids, resolved audio paths, which utterances are requested
    (``--limit``) and the per-utterance inputs the back-end asks for."""

    utt_ids: list[str]
    audio_paths: list[str | None]
    requested: list[bool]
    inputs: dict[str, list[Any]]

    def batch(self, idx: Sequence[int]) -> tuple[list[str], list[str | None], dict[str, list[Any]]]:
        return ([self.utt_ids[i] for i in idx], [self.audio_paths[i] for i in idx],
                {kw: [values[i] for i in idx] for kw, values in self.inputs.items()})


def _work(cfg: Config, manifest: pd.DataFrame, limit: int | None, backend: SFMBackend,
          own: Sequence[str] | None = None) -> _Work:
    """The manifest's utterances (the ``--limit`` subset requested), or a method's ``own`` inputs
    (:meth:`Method.own_inputs`: every one requested, no audio path, no manifest inputs)."""
    if own is not None:
        n = len(own)
        return _Work([str(u) for u in own], [None] * n, [True] * n,
                     {kw: [None] * n for kw in backend.manifest_inputs()})
    missing = {"utt_id", "audio_path"} - set(manifest.columns)
    if missing:
        raise DataError(f"manifest lacks column(s) {sorted(missing)}")
    utt_ids = [str(u) for u in manifest["utt_id"]]
    if len(set(utt_ids)) != len(utt_ids):
        raise DataError("manifest has duplicate utt_id values; each utterance must appear once")
    chosen = set(subset_manifest(manifest, limit, seed=int(cfg.evaluation.get("seed", 0)))["utt_id"].astype(str))
    return _Work(utt_ids, [None if p is None or pd.isna(p) else str(cfg.resolve(p)) for p in manifest["audio_path"]],
                 [u in chosen for u in utt_ids], _manifest_inputs(backend, manifest))


def _run_info(cfg: Config, runner: Method, work: _Work, *, limit: int | None, retry_failed: bool,
              batch_size: int, part_size: int, too_long: str, workers: tuple[int, int]) -> dict[str, Any]:
    """``run.json``: provenance, the settings fingerprint's fields and what this invocation asked for."""
    backend, prompt, ids = runner.backend, runner.prompt, work.utt_ids
    return {
        "method": runner.name,
        "prompt": {"id": prompt.id, "kind": prompt.kind, "text": prompt.text},
        "model": backend.provenance(),
        "emotion_set": runner.emotion_set.name,
        **runner.provenance(),
        "batch_size": batch_size,
        "part_size": part_size,
        "too_long": too_long,
        "max_audio_seconds": getattr(backend, "max_audio_seconds", None),
        "sampling_rate": backend.sampling_rate,
        "manifest": {"path": str(manifest_path(cfg)), "n_utterances": len(ids),
                     "limit": limit, "n_requested": sum(work.requested), "retry_failed": retry_failed,
                     "utt_ids_first_last": [ids[0], ids[-1]] if ids else []},
        "workers": {"shards": workers[0], "processes": workers[1]},
        "packages": package_versions(),
        "git": git_commit(),
        "config": cfg.as_dict(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "columns": list(runner.schema().names),
        "own_inputs": runner.own_inputs(),
    }


def _missing(block: list[int], work: _Work, status: Mapping[str, str], retry_failed: bool) -> list[int]:
    """The requested utterances of a block without a record (or, with ``retry_failed``, whose newest
    record failed)."""
    return [i for i in block if work.requested[i] and (
        work.utt_ids[i] not in status or (retry_failed and status[work.utt_ids[i]] != "ok"))]


def _compute_blocks(out_dir: Path, runner: Method, work: _Work, todo: dict[int, list[int]],
                    blocks: list[list[int]], status: dict[str, str], seen: set[Path], *,
                    batch_size: int, too_long: str, retry_failed: bool, bar: Any) -> None:
    """Compute each block's ``todo`` utterances and write them as one new part file per block.
    ``status`` is what the part files ``seen`` held when ``todo`` was planned; under the block's
    lock, the block's parts written since (by another process) are read too, and only those."""
    schema = runner.schema()
    for k, planned in todo.items():
        if not planned:
            continue
        with block_lock(out_dir, k):
            newer = [p for p in part_files(out_dir) if p not in seen and block_of(p) == k]
            now = ChainMap(_latest_status(out_dir, newer), status) if newer else status
            rows = _missing(blocks[k], work, now, retry_failed)
            bar.update(len(planned) - len(rows))
            records: list[dict] = []
            for b in range(0, len(rows), batch_size):  # batches never cross blocks (same padding on resume)
                ids, paths, inputs = work.batch(rows[b: b + batch_size])
                records += runner.run_batch(ids, paths, too_long, inputs)
                bar.update(len(ids))
            if records:
                write_part(out_dir, k, records, schema)


def run_prompt(cfg: Config, prompt_id: str, *, limit: int | None = None,
               shard: str | tuple[int, int] | None = None, method: str = "generate",
               backend: SFMBackend | None = None, manifest: pd.DataFrame | None = None,
               part_size: int | None = None, too_long: str = "truncate", retry_failed: bool = False,
               progress: bool = True) -> RunOutcome:
    """Run (or resume) one prompt over the manifest.

    Only utterances without a record on disk are computed; existing records are never replaced
    (``emologits.inference.store``). ``limit``: compute only the seeded subset of N utterances
    (:func:`emologits.artifacts.subset_manifest`, seed ``evaluation.seed``: nested, in manifest
    order; the pipeline's ``--limit`` takes the same subset); ``retry_failed``: also recompute the
    utterances whose newest record failed; ``shard``: ``"i/n"`` of the parts; ``method``:
    a registered :class:`~emologits.inference.methods.Method` (``generate``: text + tracked logits;
    ``likelihood``: class-answer log-probs) or ``package.module:Class``; ``backend``:
    an already loaded back-end (else loaded from ``cfg.model``); ``manifest``: use this table
    instead of ``runs/<run>/manifest.parquet``; ``part_size``: utterances per part (default
    ``PART_BATCHES`` batches); ``too_long``: ``truncate`` (default) or ``fail`` for audio longer
    than the model's window.
    """
    _check_run_arguments(limit, too_long)
    out_dir = output_dir(cfg.run_dir, prompt_id, method)
    emotion_set = emotion_set_of(cfg)
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id, emotion_set)
    manifest = read_run_manifest(cfg) if manifest is None else manifest
    state = _distributed_state(cfg.model)
    rank, n_proc = (state.process_index, state.num_processes) if state else (0, 1)
    shard_i, n_shards = parse_shard(shard)
    worker, n_workers = shard_i * n_proc + rank, n_shards * n_proc
    backend = _load_backend(cfg, state) if backend is None else backend
    runner = METHODS.get(method).from_config(cfg, backend, prompt, emotion_set)
    work = _work(cfg, manifest, limit, backend, runner.own_inputs())
    batch_size = int(cfg.model.get("batch_size") or 1)
    part_size = int(part_size or batch_size * PART_BATCHES)
    if part_size < 1:
        raise ConfigError(f"part_size must be >= 1, got {part_size}")

    info = _run_info(cfg, runner, work, limit=limit, retry_failed=retry_failed, batch_size=batch_size,
                     part_size=part_size, too_long=too_long, workers=(n_shards, n_proc))
    info_path = out_dir / "run.json"
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        info = check_or_write_info(info_path, info, runner.fingerprint_keys, write=True)
    if state is not None:
        state.wait_for_everyone()
        check_or_write_info(info_path, info, runner.fingerprint_keys, write=False)

    n = len(work.utt_ids)
    blocks = [list(range(s, min(s + part_size, n))) for s in range(0, n, part_size)]
    mine = [k for k in range(len(blocks)) if k % n_workers == worker]
    my_ids = [work.utt_ids[i] for k in mine for i in blocks[k] if work.requested[i]]
    label = f"{runner.subdir} {prompt_id}" + (f" [{worker}/{n_workers}]" if n_workers > 1 else "")
    seen = part_files(out_dir)
    status = _latest_status(out_dir, seen)
    todo = {k: _missing(blocks[k], work, status, retry_failed) for k in mine}
    with progress_bar(len(my_ids), label, initial=len(my_ids) - sum(map(len, todo.values())), enabled=progress,
                      position=rank if n_proc > 1 else None) as bar:
        _compute_blocks(out_dir, runner, work, todo, blocks, status, set(seen), batch_size=batch_size,
                        too_long=too_long, retry_failed=retry_failed, bar=bar)

    if state is not None:
        state.wait_for_everyone()
    latest = read_latest(out_dir, _SUMMARY_COLUMNS)
    if rank == 0:
        write_json(info_path, {**info, "summary": _summary(latest, work.utt_ids)})
        _print_summary(label, _summary(latest, [u for u, r in zip(work.utt_ids, work.requested) if r]))
    return RunOutcome(out_dir, _summary(latest, my_ids), _failures(latest, my_ids))


def run_configured(cfg: Config, *, backend: SFMBackend | None = None, progress: bool = True) -> pd.DataFrame:
    """Notebook 02: every prompt of ``prompts.ids`` with every method of ``pipeline.methods``, as
    ``pipeline.method_prompts`` narrows them (resumable; the back-end is loaded once). Returns one row per prompt and method: utterances,
    ok, failed, failures by reason, model-seconds."""
    backend = backend or _load_backend(cfg, _distributed_state(cfg.model))
    rows = []
    for prompt_id in cfg.prompts["ids"]:
        for method in (m for m in cfg.pipeline["methods"] if cfg.runs(m, prompt_id)):
            out = run_prompt(cfg, prompt_id, method=method, backend=backend, progress=progress).out_dir
            records, info = load_records(cfg.run_dir, prompt_id, method=method, columns=["seconds"])
            reasons = info["summary"]["failures_by_reason"]
            rows.append({"prompt": prompt_id, "method": method, "utterances": len(records),
                         "ok": int((records["status"] == "ok").sum()), "failed": int((records["status"] != "ok").sum()),
                         "failed by reason": ", ".join(f"{r}={n}" for r, n in reasons.items()),
                         "seconds": float(records["seconds"].sum()), "records": str(out)})
    return pd.DataFrame(rows)


#: The record columns the summaries and failure examples read.
_SUMMARY_COLUMNS: list[str] = ["utt_id", "status", "error", "error_message"]


def summarize_parts(out_dir: str | Path, expected_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Counts over each utterance's newest record on disk: done, ok, failed by reason. With
    ``expected_ids``, only those utterances count, and ``n_expected``/``complete`` say how many of
    them are done (``n_done`` never exceeds ``n_expected``)."""
    return _summary(read_latest(out_dir, _SUMMARY_COLUMNS), expected_ids)


def _summary(latest: pd.DataFrame, expected_ids: Sequence[str] | None) -> dict[str, Any]:
    """:func:`summarize_parts` over ``latest`` (each utterance's newest record, as read)."""
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
    return _failures(read_latest(out_dir, _SUMMARY_COLUMNS), utt_ids, n)


def _failures(latest: pd.DataFrame, utt_ids: Sequence[str], n: int = 5) -> list[dict[str, Any]]:
    """:func:`failure_examples` over ``latest`` (each utterance's newest record, as read)."""
    latest = latest.set_index("utt_id")
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


def load_records(run_dir: str | Path, prompt_id: str, method: str = "generate",
                 columns: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """All records of one prompt's run (each utterance's newest), in manifest order, and its run info
    (run.json, with ``summary`` recomputed from the parts on disk). ``run_dir`` is ``runs/<run>``
    (``cfg.run_dir``). When ``runs/<run>/manifest.parquet`` exists, only its utterances are returned
    (records of utterances no longer in the manifest stay on disk). A method with its own inputs
    (``run.json`` ``own_inputs``, e.g. ``contextual``'s content-free ones) has its records sorted by id.

    ``tracked_logits`` cells hold J rows of T values (``np.stack(cell)`` gives the (J, T) array);
    ``run_info["tracked_ids"]`` gives the T token ids in column order. ``columns``: read only
    these record columns (besides ``utt_id``, ``status`` and ``error``; None: all).
    """
    out_dir = output_dir(Path(run_dir), prompt_id, method)
    info_path = out_dir / "run.json"
    if not info_path.exists():
        flag = f" --method {method}" if method != "generate" else ""
        raise DataError(f"{info_path} not found: run `python -m emologits infer --config CFG --prompt "
                        f"{prompt_id}{flag}` first (or notebooks/02_inference.ipynb)")
    info = json.loads(info_path.read_text())
    wanted = None if columns is None else list(dict.fromkeys(["utt_id", "status", "error", *columns]))
    records = read_latest(out_dir, wanted)
    if not len(records):
        records = pd.DataFrame(columns=info.get("columns", list(RECORD_COLUMNS)))
    latest = records  # every utterance's newest record, for the summary
    manifest_ids = None if info.get("own_inputs") else _run_manifest_ids(Path(run_dir))
    if manifest_ids is not None:
        order = {u: i for i, u in enumerate(manifest_ids)}
        records = records[records["utt_id"].isin(order)]
        records = records.iloc[np.argsort([order[u] for u in records["utt_id"]], kind="stable")]
        expected: Sequence[str] = manifest_ids
        n_expected = len(manifest_ids)
    else:
        records = records.sort_values("utt_id", kind="stable")
        expected = list(records["utt_id"])
        n_expected = max(len(expected), info["manifest"]["n_utterances"])  # inputs without a record count too
    summary = {**_summary(latest, expected), "n_expected": n_expected}
    summary["complete"] = summary["n_done"] >= n_expected
    info["summary"] = summary
    if not summary["complete"]:
        warnings.warn(f"{out_dir}: only {summary['n_done']} of {summary['n_expected']} utterances are done; "
                      "run the same infer command again to finish (it resumes)", stacklevel=2)
    return records.reset_index(drop=True), info


__all__ = ["PART_BATCHES", "RunOutcome", "emotion_set_of", "failure_examples", "load_records", "output_dir",
           "parse_shard", "read_run_manifest", "run_configured", "run_inference", "run_prompt", "summarize_parts"]
