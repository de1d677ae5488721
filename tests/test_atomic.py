"""Atomic writes: success replaces the target; a failure leaves the old file and no temp file; a full
disk is one clear error; permissions follow the umask."""
from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from emologits.atomic import atomic_directory, atomic_path, write_text_atomic
from emologits.errors import ConfigError, DiskFullError, EmologitsError


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = write_text_atomic(tmp_path / "a.csv", "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_temp_file_keeps_the_suffix_and_lands_on_success(tmp_path):
    with atomic_path(tmp_path / "sub" / "t.parquet") as tmp:
        assert tmp.suffix == ".parquet" and tmp.parent == tmp_path / "sub"
        tmp.write_bytes(b"x")
    assert (tmp_path / "sub" / "t.parquet").read_bytes() == b"x"


def test_directory_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(ValueError):
        with atomic_directory(tmp_path / "corpus") as tmp:
            (tmp / "f.txt").write_text("1")
            raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(tmp_path / "corpus") as tmp:
        (tmp / "f.txt").write_text("1")
    assert (tmp_path / "corpus" / "f.txt").read_text() == "1"


# --- permissions: the user's umask, not tempfile's 0600/0700 --------------------------------------

@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    old = os.umask(request.param)  # tests run in one thread; restored below
    yield request.param
    os.umask(old)


def test_files_get_the_permissions_of_the_umask(tmp_path, umask):
    write_text_atomic(tmp_path / "a.csv", "x\n")
    with atomic_path(tmp_path / "b.parquet") as tmp:
        tmp.write_bytes(b"x")
    for name in ("a.csv", "b.parquet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask  # 0o644 / 0o640


def test_directories_get_the_permissions_of_the_umask(tmp_path, umask):
    with atomic_directory(tmp_path / "corpus") as tmp:
        (tmp / "f.txt").write_text("1")
    assert stat.S_IMODE((tmp_path / "corpus").stat().st_mode) == 0o777 & ~umask  # 0o755 / 0o750


# --- a full disk: one clear error, temp removed, the old file untouched ---------------------------

def _fill_then_fail(code: int, message: str | None = None):
    """A writer that writes half a file, then fails as a full disk does."""
    def write(path, *args, **kwargs):
        with open(path, "w") as fh:
            fh.write("half")
        raise OSError(code, message or os.strerror(code))
    return write


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_in_write_text_atomic(tmp_path, monkeypatch, code):
    target = write_text_atomic(tmp_path / "table1.csv", "old\n")
    monkeypatch.setattr(Path, "write_text", _fill_then_fail(code))
    with pytest.raises(DiskFullError) as info:
        write_text_atomic(target, "new\n")
    message = str(info.value)
    assert message.startswith(f"disk full while writing {target}")
    assert "nothing was written there" in message
    assert f"free space on {tmp_path}" in message or f"holding {tmp_path})" in message
    assert message.endswith("run the same command again (finished work is kept)")
    assert isinstance(info.value, EmologitsError) and info.value.path == target
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == code
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table1.csv"]


def test_disk_full_in_atomic_path_without_an_old_file(tmp_path):
    with pytest.raises(DiskFullError, match="disk full while writing .*part-00001.parquet"):
        with atomic_path(tmp_path / "parts" / "part-00001.parquet") as tmp:
            _fill_then_fail(errno.ENOSPC)(tmp)
    assert list((tmp_path / "parts").iterdir()) == []


def test_disk_full_said_only_in_the_message(tmp_path):
    """pyarrow and safetensors keep the errno only in their message."""
    with pytest.raises(DiskFullError):
        with atomic_path(tmp_path / "m.parquet"):
            raise OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device")
    with pytest.raises(DiskFullError):
        with atomic_path(tmp_path / "w.safetensors"):
            raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert list(tmp_path.iterdir()) == []


def test_writer_error_without_errno_on_a_full_file_system(tmp_path, monkeypatch):
    """numpy/torch savers lose the errno ("100000 requested and 8176 written"): counted as a full
    disk when the file system has under 1 MiB free, re-raised unchanged otherwise."""
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=4096))
    with pytest.raises(DiskFullError, match=r"x\.npy \(4096 bytes free; the writer said: OSError: 100000 requested"):
        with atomic_path(tmp_path / "x.npy"):
            raise OSError("100000 requested and 8176 written")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=10 << 30))
    with pytest.raises(RuntimeError, match="unexpected pos") as info:
        with atomic_path(tmp_path / "x.pt"):
            raise RuntimeError("unexpected pos 704 vs 598")
    assert not isinstance(info.value, DiskFullError)
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_pass_through(tmp_path):
    with pytest.raises(PermissionError):
        with atomic_path(tmp_path / "a.csv"):
            raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(ValueError):  # not an OSError: never taken for a full disk
        with atomic_path(tmp_path / "a.csv"):
            raise ValueError("No space left on device")


def test_disk_full_in_atomic_directory(tmp_path):
    with pytest.raises(DiskFullError, match=f"disk full while writing {tmp_path / 'corpus'}"):
        with atomic_directory(tmp_path / "corpus") as tmp:
            (tmp / "wav").mkdir()
            _fill_then_fail(errno.ENOSPC)(tmp / "wav" / "a.wav")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_creating_the_temp_file(tmp_path, monkeypatch):
    """No inode left: even the empty temp file cannot be created."""
    real_open = os.open

    def full_open(path, flags, mode=0o777, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, flags, mode, **kwargs)
    monkeypatch.setattr(os, "open", full_open)
    with pytest.raises(DiskFullError):
        write_text_atomic(tmp_path / "a.csv", "x")
    assert list(tmp_path.iterdir()) == []


# --- targets that cannot become a file --------------------------------------------------------------

def test_a_folder_as_target_is_refused_before_writing(tmp_path):
    (tmp_path / "out").mkdir()
    ran = []
    with pytest.raises(ConfigError, match=r"out is a folder, not a file"):
        with atomic_path(tmp_path / "out"):
            ran.append(1)
    assert ran == [] and list((tmp_path / "out").iterdir()) == []


def test_a_file_in_the_parent_path_is_refused(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"a part of .*runs/r1 is a file, not a folder"):
        write_text_atomic(tmp_path / "runs" / "r1" / "a.csv", "x")
