"""Atomic writes: success replaces the target; a failure leaves the old file and no temp file."""
from __future__ import annotations

import pytest

from emologits.atomic import atomic_directory, atomic_path, write_text_atomic


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
