"""Append-only Parquet parts: the inference records of one prompt, never rewritten, never lost.

A run's records live in ``part-<block>-<stamp>.parquet`` files (``runs/<run>/inference/<prompt>/``).
``block`` is the fixed slice of the manifest the records belong to (``part_size`` utterances in
manifest order); ``stamp`` (nanosecond time + process id) orders the files. Every write adds a new
file, atomically, holding only the utterances it computed; nothing ever replaces or deletes a file.
The record of an utterance is the one in its newest file, so:

- a shorter ``--limit``, a shard, a resume or a second process on the same folder can only add
  records; a finished record is never replaced by nothing;
- ``--retry-failed`` adds new records for failed utterances; successful ones stay untouched;
- files of the older layout (``part-<block>.parquet``) are read as the oldest.

Writes of one block are serialised across processes by a lock file (``.locks/part-<block>.lock``,
``fcntl`` based: released when a process dies, even by ``kill -9``).
"""
from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from emologits.atomic import atomic_path

#: ``part-00003.parquet`` (older layout) or ``part-00003-<20-digit ns>-<pid>.parquet``.
PART_NAME = re.compile(r"^part-(\d{5})(?:-(\d{20})-(\d+))?\.parquet$")


def part_files(out_dir: str | Path) -> list[Path]:
    """Every part file in ``out_dir``, oldest first (the older layout before any stamped file)."""
    found = []
    for path in Path(out_dir).glob("part-*.parquet"):
        m = PART_NAME.match(path.name)
        if m:
            found.append(((m.group(2) or ""), int(m.group(3) or 0), path.name, path))
    return [p for *_, p in sorted(found)]


def block_of(path: Path) -> int:
    """The manifest block a part file belongs to."""
    m = PART_NAME.match(Path(path).name)
    if not m:
        raise ValueError(f"{path} is not a part file")
    return int(m.group(1))


def _read(path: Path, columns: Sequence[str] | None) -> pd.DataFrame | None:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=list(columns) if columns else None).to_pandas()
    except Exception as exc:  # noqa: BLE001 - a damaged file is reported and skipped, never trusted
        warnings.warn(f"{path}: unreadable part file skipped ({type(exc).__name__}: {exc}); its "
                      "utterances count as not done", stacklevel=3)
        return None


def read_latest(out_dir: str | Path, columns: Sequence[str] | None = None,
                files: Sequence[Path] | None = None) -> pd.DataFrame:
    """Each utterance's newest record over all part files (unordered), or over ``files`` only (part
    files of ``out_dir``, oldest first); ``columns`` must include ``utt_id`` when given. Unreadable
    files are skipped with a warning."""
    paths = part_files(out_dir) if files is None else files
    frames = [df for df in (_read(p, columns) for p in paths) if df is not None and len(df)]
    if not frames:
        return pd.DataFrame(columns=list(columns) if columns else ["utt_id"])
    merged = pd.concat(frames, ignore_index=True)
    return merged.drop_duplicates("utt_id", keep="last").reset_index(drop=True)


def new_part_path(out_dir: str | Path, block: int) -> Path:
    """A fresh, unique name for a block's next part file (sorts after every existing one)."""
    out_dir = Path(out_dir)
    newest = max((PART_NAME.match(p.name).group(2) or "" for p in part_files(out_dir)), default="")
    stamp = max(time.time_ns(), int(newest or 0) + 1)
    return out_dir / f"part-{block:05d}-{stamp:020d}-{os.getpid()}.parquet"


def write_part(out_dir: str | Path, block: int, records: list[dict[str, Any]], schema: Any) -> Path:
    """Write one new part file (atomically) holding ``records``; returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = new_part_path(out_dir, block)
    table = pa.Table.from_pylist([{name: r.get(name) for name in schema.names} for r in records], schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


@contextmanager
def block_lock(out_dir: str | Path, block: int) -> Iterator[None]:
    """Hold the block's lock (other processes working on the same folder wait for it)."""
    from filelock import FileLock

    locks = Path(out_dir) / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"part-{block:05d}.lock")):
        yield


__all__ = ["PART_NAME", "block_lock", "block_of", "new_part_path", "part_files", "read_latest", "write_part"]
