"""The manifest: one row per utterance, one format for every data set (Parquet).

Required columns (``MANIFEST_COLUMNS``): ``utt_id, dataset, audio_path, label, gt_anger,
gt_happiness, gt_sadness, gt_neutral, n_ratings``. ``gt_*`` is the ground-truth distribution
over the paper's four classes (sec. 4.1; sums to 1), ``label`` its single majority label
(``majority_labels``), ``n_ratings`` the number of annotations that went into it. Extra columns
(``EXTRA_COLUMNS``) keep the raw annotations (``annotations``, a JSON string) so that any rule can
be recomputed, plus where the utterance comes from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from emologits.atomic import atomic_path
from emologits.emotions import EMOTIONS, GT_COLUMNS
from emologits.errors import DataError

#: Required columns, in this order (the issue's exact names).
MANIFEST_COLUMNS: tuple[str, ...] = (
    "utt_id", "dataset", "audio_path", "label", *GT_COLUMNS, "n_ratings")

#: Raw annotations, as a JSON string. IEMOCAP/synthetic: ``{"C-E2": ["Neutral"], "C-F1": [...]}``
#: (every categorical evaluator line, in file order, self-evaluations included);
#: CREMA-D: the six vote counts ``{"A": 0, "D": 0, "F": 0, "H": 1, "N": 10, "S": 0}``.
ANNOTATIONS_COLUMN = "annotations"

#: Extra columns written by every loader (null where a data set has no such thing).
EXTRA_COLUMNS: tuple[str, ...] = (
    ANNOTATIONS_COLUMN, "selection", "session", "dialog", "speaker", "start_s", "end_s", "consensus")

ALL_COLUMNS: tuple[str, ...] = MANIFEST_COLUMNS + EXTRA_COLUMNS


def majority_labels(gt: np.ndarray) -> list[str | None]:
    """The single majority label of each row of an (n, 4) distribution: the class holding the
    unique largest share, or None when two or more classes tie for it."""
    gt = np.asarray(gt, dtype=float)
    out: list[str | None] = []
    for row in gt:
        top = np.flatnonzero(np.isclose(row, row.max(), rtol=0, atol=1e-9))
        out.append(EMOTIONS[int(top[0])] if len(top) == 1 else None)
    return out


def build_manifest(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A manifest from per-utterance dicts holding ``counts`` (4 in-class annotation counts in
    EMOTIONS order) and the other columns; ``gt_*``, ``label`` and ``n_ratings`` are derived."""
    rows = list(rows)
    counts = np.array([r["counts"] for r in rows], dtype=float).reshape(-1, 4)
    totals = counts.sum(axis=1)
    if (totals <= 0).any():
        bad = [r["utt_id"] for r, t in zip(rows, totals) if t <= 0][:5]
        raise DataError(f"internal: utterances with no in-class annotation reached the manifest: {bad}")
    gt = counts / totals[:, None]
    df = pd.DataFrame({c: [r.get(c) for r in rows] for c in ALL_COLUMNS if c not in GT_COLUMNS})
    for j, col in enumerate(GT_COLUMNS):
        df[col] = gt[:, j]
    df["label"] = majority_labels(gt)
    df["n_ratings"] = counts.sum(axis=1).astype("int64")
    return _typed(df[list(ALL_COLUMNS)])


def finish_manifest(rows: list[dict[str, Any]], missing: list[Path], *, labels_only: bool,
                    source: str | Path, rule: str) -> pd.DataFrame:
    """The manifest of the ``rows`` a loader's ``rule`` kept (``build_manifest``); DataError naming
    ``source`` when the rule keeps nothing, or when ``missing`` lists absent audio files and
    ``labels_only`` is off. Duplicate ids are rejected earlier, with file:line, by the readers."""
    if not rows:
        raise DataError(f"{source}: the {rule} keeps no utterance")
    if missing and not labels_only:
        shown = "\n  ".join(str(p) for p in missing[:5])
        raise DataError(f"{source}: {len(missing)} of {len(rows)} selected utterances have no audio "
                        f"file, e.g.\n  {shown}\n(use --labels-only to build the ground truth "
                        "without audio)")
    return build_manifest(rows)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in ("utt_id", "dataset", "audio_path", "label", ANNOTATIONS_COLUMN, "selection",
                "dialog", "speaker", "consensus"):
        if col in df:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "session" in df:
        df["session"] = df["session"].astype("Int64")
    for col in ("start_s", "end_s", *GT_COLUMNS):
        if col in df:
            df[col] = df[col].astype("float64")
    return df.reset_index(drop=True)


def check_unique_ids(df: pd.DataFrame, source: str) -> None:
    """DataError naming the first duplicate utterance ids."""
    dup = df["utt_id"][df["utt_id"].duplicated(keep=False)]
    if len(dup):
        first = sorted(set(dup))[:5]
        raise DataError(f"{source}: {dup.nunique()} duplicate utt_id value(s), e.g. {first}")


def validate_manifest(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a manifest's columns and values; DataError naming ``source`` on any problem."""
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{source}: not a manifest, missing column(s) {missing} "
                        f"(required: {list(MANIFEST_COLUMNS)})")
    if df["utt_id"].isna().any():
        raise DataError(f"{source}: {int(df['utt_id'].isna().sum())} row(s) with an empty utt_id")
    check_unique_ids(df, source)
    gt = df[list(GT_COLUMNS)].to_numpy(dtype=float)
    bad = ~np.isfinite(gt).all(axis=1) | (gt < 0).any(axis=1) | ~np.isclose(gt.sum(axis=1), 1.0, atol=1e-6)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} row(s) whose gt_* columns are not a distribution, "
                        f"e.g. utt_id {df['utt_id'][bad].iloc[0]!r}")
    labels = df["label"].dropna()
    unknown = sorted(set(labels) - set(EMOTIONS))
    if unknown:
        raise DataError(f"{source}: label values {unknown} are not among {list(EMOTIONS)}")
    return df


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Validate and write a manifest to Parquet atomically (temp file, then rename)."""
    path = Path(path).expanduser()
    validate_manifest(df, f"manifest for {path}")
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest; DataError naming the file when absent or malformed."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: manifest not found (build one with `python -m emologits prepare`)")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise DataError(f"{path}: not a readable Parquet manifest ({type(exc).__name__}: {exc})") from exc
    return _typed(validate_manifest(df, str(path)))
