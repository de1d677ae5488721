"""Atomic writes: the one way every artefact is written (a killed run never leaves half a file).

    with atomic_path(out / "table1.csv") as tmp:
        df.to_csv(tmp)            # written to a temp file in the same folder, then os.replace

Files and folders get the permissions the user's umask gives (like a plain ``open``), not the
0600/0700 of :mod:`tempfile`. A full disk (or exceeded quota) while writing removes the temp file,
leaves any existing file untouched and raises :class:`~emologits.errors.DiskFullError`.
"""
from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emologits.errors import ConfigError, DiskFullError

#: errno values that mean "no room left": disk full, quota exceeded.
DISK_FULL_ERRNOS: frozenset[int] = frozenset(
    e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)
# The same, as text: some writers (pyarrow, safetensors) keep only the message.
_DISK_FULL_WORDS = tuple(os.strerror(e).lower() for e in DISK_FULL_ERRNOS)
#: Below this many free bytes, an OSError/RuntimeError from a writer counts as a full disk
#: (numpy's and torch's savers raise without errno or message: "100000 requested and 8176 written").
NEARLY_FULL_BYTES = 1 << 20


def _disk_full_reason(exc: BaseException, folder: Path) -> str | None:
    """None unless ``exc`` means a full disk: "" when ``exc`` (or an exception it was raised from)
    says so, or a short note when the writer failed with an OSError/RuntimeError of its own words
    while ``folder``'s file system has under :data:`NEARLY_FULL_BYTES` free."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return ""
        if any(word in str(e).lower() for word in _DISK_FULL_WORDS):
            return ""
        e = e.__cause__ or e.__context__
    if isinstance(exc, (OSError, RuntimeError)):
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return None
        if free < NEARLY_FULL_BYTES:
            return f"{free} bytes free; the writer said: {type(exc).__name__}: {exc}"
    return None


def _mount_point(folder: Path) -> Path:
    path = folder.resolve()
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


def disk_full_error(path: str | os.PathLike, note: str = "") -> DiskFullError:
    """The one message for a full disk while writing ``path``."""
    path = Path(path)
    folder = path.parent
    mount = _mount_point(folder)
    where = str(folder) if mount == folder.resolve() else f"{mount} (the file system holding {folder})"
    return DiskFullError(path, f"disk full while writing {path}{f' ({note})' if note else ''}: nothing was "
                         "written there (an existing file is left as it was); free space on "
                         f"{where} and run the same command again (finished work is kept)")


def _make_parent(path: Path) -> None:
    """Create ``path``'s missing parent folders."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"cannot write {path}: a part of {path.parent} is a file, not a folder") from None
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise disk_full_error(path) from exc
        raise


def _new_temp(folder: Path, prefix: str, suffix: str, *, directory: bool) -> Path:
    """Create a new empty temp file (mode 0o666) or folder (0o777) in ``folder``; the umask (and any
    default ACL) applies as for a plain ``open``/``mkdir``. O_EXCL makes the name ours alone."""
    for _ in range(100):
        candidate = folder / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            if directory:
                os.mkdir(candidate, 0o777)
            else:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                                 0o666))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, f"no free temp name in {folder}")


@contextmanager
def _disk_full_as_error(path: Path) -> Iterator[None]:
    """A full disk (or quota) inside the block becomes one DiskFullError naming ``path``."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        note = _disk_full_reason(exc, path.parent)
        if note is not None:
            raise disk_full_error(path, note) from exc
        raise


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp file next to ``path`` (same suffix, for writers that infer the format from it);
    renamed onto ``path`` when the block succeeds, removed otherwise. A full disk raises
    :class:`~emologits.errors.DiskFullError` (temp file removed, ``path`` untouched)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a file: give a file name (nothing was written)")
    _make_parent(path)
    tmp: Path | None = None
    try:
        with _disk_full_as_error(path):
            tmp = _new_temp(path.parent, f".{path.name}.", path.suffix or ".tmp", directory=False)
            yield tmp
            os.replace(tmp, path)
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A temp folder next to ``path``; renamed onto ``path`` (which must not exist) on success.
    A full disk raises :class:`~emologits.errors.DiskFullError` (temp folder removed)."""
    path = Path(path)
    _make_parent(path)
    tmp: Path | None = None
    try:
        with _disk_full_as_error(path):
            tmp = _new_temp(path.parent, f".{path.name}.tmp-", "", directory=True)
            yield tmp
            os.replace(tmp, path)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
