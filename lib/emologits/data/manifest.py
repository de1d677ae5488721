"""The manifest: one row per utterance, one format for every data set (Parquet).

Required columns (``manifest_columns(emotion_set)``): ``utt_id, dataset, audio_path, label,
gt_<class>…, n_ratings``, one ``gt_<class>`` per class of the manifest's emotion set in the set's
order (paper4: ``gt_anger, gt_happiness, gt_sadness, gt_neutral``, ``MANIFEST_COLUMNS``). ``gt_*``
is the ground-truth distribution over the set's classes (sec. 4.1; sums to 1), ``label`` its single
majority label (``majority_labels``), ``n_ratings`` the number of annotations that went into it.
Extra columns (``EXTRA_COLUMNS``) keep the raw annotations (``annotations``, a JSON string) so that
any rule can be recomputed, where the utterance comes from (``speaker``, ``session`` -- the corpus's
recording group -- and ``split``, the corpus's official split or null, on every data set), and
``emotion_set``: the name of the set the ``gt_*`` columns are over (the same on every row; a
manifest without the column is paper4's).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emologits.atomic import atomic_path
from emologits.emotions import PAPER4, EmotionSet, get_emotion_set
from emologits.errors import ConfigError, DataError

#: The name of the emotion set a manifest's ``gt_*`` columns are over.
EMOTION_SET_COLUMN = "emotion_set"


def manifest_columns(emotion_set: str | EmotionSet | None = None) -> tuple[str, ...]:
    """Required columns of a manifest over ``emotion_set`` (default paper4), in this order."""
    gt = get_emotion_set(emotion_set).gt_columns
    return ("utt_id", "dataset", "audio_path", "label", *gt, "n_ratings")


#: Required columns of a paper4 manifest, in this order.
MANIFEST_COLUMNS: tuple[str, ...] = manifest_columns(PAPER4)

#: Raw annotations, as a JSON string. IEMOCAP/synthetic: ``{"C-E2": ["Neutral"], "C-F1": [...]}``
#: (every categorical evaluator line, in file order, self-evaluations included);
#: CREMA-D: the six vote counts ``{"A": 0, "D": 0, "F": 0, "H": 1, "N": 10, "S": 0}`` (with the per-rater
#: response file: ``{rater id: "A"}``); MSP-Podcast / MSP-IMPROV / ratings: ``{rater: raw label(s)}``.
ANNOTATIONS_COLUMN = "annotations"

#: Extra columns written by every loader (null where a data set has no such thing).
EXTRA_COLUMNS: tuple[str, ...] = (
    ANNOTATIONS_COLUMN, "selection", "session", "dialog", "speaker", "start_s", "end_s", "consensus",
    "transcript", "split", EMOTION_SET_COLUMN)

#: Every column of a paper4 manifest.
ALL_COLUMNS: tuple[str, ...] = MANIFEST_COLUMNS + EXTRA_COLUMNS


def majority_labels(gt: np.ndarray, emotion_set: str | EmotionSet | None = None) -> list[str | None]:
    """The single majority label of each row of an (n, N) distribution over ``emotion_set``'s classes
    (default paper4): the class holding the unique largest share, or None when two or more tie."""
    names = get_emotion_set(emotion_set).names
    gt = np.asarray(gt, dtype=float).reshape(-1, len(names))
    out: list[str | None] = []
    for row in gt:
        top = np.flatnonzero(np.isclose(row, row.max(), rtol=0, atol=1e-9))
        out.append(names[int(top[0])] if len(top) == 1 else None)
    return out


def build_manifest(rows: Iterable[dict[str, Any]], emotion_set: str | EmotionSet | None = None) -> pd.DataFrame:
    """A manifest over ``emotion_set`` (default paper4) from per-utterance dicts holding ``counts``
    (the in-set annotation counts, in the set's class order) and the other columns; ``gt_*``,
    ``label``, ``n_ratings`` and ``emotion_set`` are derived."""
    emotion_set = get_emotion_set(emotion_set)
    rows = list(rows)
    counts = np.array([r["counts"] for r in rows], dtype=float)
    if counts.ndim != 2 or counts.shape[1] != emotion_set.n:
        raise DataError(f"internal: annotation counts must have {emotion_set.n} entries per utterance "
                        f"(emotion set {emotion_set.name!r}), got shape {counts.shape}")
    totals = counts.sum(axis=1)
    if (totals <= 0).any():
        bad = [r["utt_id"] for r, t in zip(rows, totals) if t <= 0][:5]
        raise DataError(f"internal: utterances with no in-set annotation reached the manifest: {bad}")
    gt = counts / totals[:, None]
    columns = manifest_columns(emotion_set) + EXTRA_COLUMNS
    df = pd.DataFrame({c: [r.get(c) for r in rows] for c in columns if c not in emotion_set.gt_columns})
    for j, col in enumerate(emotion_set.gt_columns):
        df[col] = gt[:, j]
    df["label"] = majority_labels(gt, emotion_set)
    df["n_ratings"] = totals.astype("int64")
    df[EMOTION_SET_COLUMN] = emotion_set.name
    return _typed(df[list(columns)])


def finish_manifest(rows: list[dict[str, Any]], missing: list[Path], *, labels_only: bool,
                    source: str | Path, rule: str, emotion_set: str | EmotionSet | None = None) -> pd.DataFrame:
    """The manifest over ``emotion_set`` of the ``rows`` a loader's ``rule`` kept
    (``build_manifest``); DataError naming ``source`` when the rule keeps nothing, or when
    ``missing`` lists absent audio files and ``labels_only`` is off. Duplicate ids are rejected
    earlier, with file:line, by the readers."""
    if not rows:
        raise DataError(f"{source}: the {rule} keeps no utterance")
    if missing and not labels_only:
        shown = "\n  ".join(str(p) for p in missing[:5])
        raise DataError(f"{source}: {len(missing)} of {len(rows)} selected utterances have no audio "
                        f"file, e.g.\n  {shown}\n(use --labels-only to build the ground truth "
                        "without audio)")
    return build_manifest(rows, emotion_set)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in ("utt_id", "dataset", "audio_path", "label", ANNOTATIONS_COLUMN, "selection",
                "dialog", "speaker", "consensus", "transcript", "split", EMOTION_SET_COLUMN):
        if col in df:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "session" in df:
        df["session"] = _session_column(df["session"])
    for col in ("start_s", "end_s", *(c for c in df.columns if str(c).startswith("gt_"))):
        if col in df:
            df[col] = df[col].astype("float64")
    return df.reset_index(drop=True)


def _session_column(values: pd.Series) -> pd.Series:
    """Sessions as nullable integers when every one is an integer (IEMOCAP 1-5, MSP-IMPROV 1-6,
    MSP-Podcast's podcast number), else as strings (a lab's own session names)."""
    present = values.dropna()
    if all(isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())
           for v in present):
        return values.astype("Int64")
    return values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                      ).astype(object)


def check_unique_ids(df: pd.DataFrame, source: str) -> None:
    """DataError naming the first duplicate utterance ids."""
    dup = df["utt_id"][df["utt_id"].duplicated(keep=False)]
    if len(dup):
        first = sorted(set(dup))[:5]
        raise DataError(f"{source}: {dup.nunique()} duplicate utt_id value(s), e.g. {first}")


def manifest_emotion_set(df: pd.DataFrame, emotion_set: str | EmotionSet | None = None,
                         source: str = "manifest") -> EmotionSet:
    """The emotion set a manifest is over: the one its ``emotion_set`` column names (paper4 when the
    column is absent). With ``emotion_set`` given, DataError unless the manifest is over that set
    (a set file's name is checked; pass the file for a set that is not shipped)."""
    recorded = (sorted({str(v) for v in df[EMOTION_SET_COLUMN].dropna()})
                if EMOTION_SET_COLUMN in df.columns else [PAPER4.name])
    if len(recorded) > 1:
        raise DataError(f"{source}: rows over several emotion sets {recorded}; a manifest is over one set")
    name = recorded[0] if recorded else None
    if emotion_set is not None:
        wanted = get_emotion_set(emotion_set)
        if name is not None and name != wanted.name:
            raise DataError(f"{source}: built over emotion set {name!r}, not {wanted.name!r}; prepare it "
                            f"again with --emotion-set {wanted.name} (or set data.emotion_set: {name})")
        return wanted
    try:
        return get_emotion_set(name)
    except ConfigError:
        raise DataError(f"{source}: built over emotion set {name!r}, which is not a shipped set: name its "
                        f"file (read_manifest(path, emotion_set='.../{name}.yaml'), or data.emotion_set "
                        "in the config)") from None


def validate_manifest(df: pd.DataFrame, source: str,
                      emotion_set: str | EmotionSet | None = None) -> pd.DataFrame:
    """Check a manifest's columns and values against its emotion set (:func:`manifest_emotion_set`);
    DataError naming ``source`` on any problem."""
    emotion_set = manifest_emotion_set(df, emotion_set, source)
    required = manifest_columns(emotion_set)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{source}: not a manifest, missing column(s) {missing} (required for emotion "
                        f"set {emotion_set.name!r}: {list(required)})")
    stray = [c for c in df.columns if str(c).startswith("gt_") and c not in emotion_set.gt_columns]
    if stray:
        raise DataError(f"{source}: column(s) {stray} are not classes of emotion set {emotion_set.name!r} "
                        f"({', '.join(emotion_set.names)})")
    if df["utt_id"].isna().any():
        raise DataError(f"{source}: {int(df['utt_id'].isna().sum())} row(s) with an empty utt_id")
    check_unique_ids(df, source)
    gt = df[list(emotion_set.gt_columns)].to_numpy(dtype=float)
    bad = ~np.isfinite(gt).all(axis=1) | (gt < 0).any(axis=1) | ~np.isclose(gt.sum(axis=1), 1.0, atol=1e-6)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} row(s) whose gt_* columns are not a distribution, "
                        f"e.g. utt_id {df['utt_id'][bad].iloc[0]!r}")
    labels = df["label"].dropna()
    unknown = sorted(set(labels) - set(emotion_set.names))
    if unknown:
        raise DataError(f"{source}: label values {unknown} are not among {list(emotion_set.names)}")
    return df


def write_manifest(df: pd.DataFrame, path: str | Path, emotion_set: str | EmotionSet | None = None) -> Path:
    """Validate (against ``emotion_set``, default the set the manifest names) and write a manifest to
    Parquet atomically (temp file, then rename)."""
    path = Path(path).expanduser()
    validate_manifest(df, f"manifest for {path}", emotion_set)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def read_manifest(path: str | Path, emotion_set: str | EmotionSet | None = None) -> pd.DataFrame:
    """Read and validate a manifest; DataError naming the file when absent, malformed, or (with
    ``emotion_set``) over another set. The result always has the ``emotion_set`` column."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: manifest not found (build one with `python -m emologits prepare`)")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise DataError(f"{path}: not a readable Parquet manifest ({type(exc).__name__}: {exc})") from exc
    found = manifest_emotion_set(validate_manifest(df, str(path), emotion_set), emotion_set, str(path))
    if EMOTION_SET_COLUMN not in df.columns:  # written before manifests recorded their set: paper4
        df[EMOTION_SET_COLUMN] = found.name
    return _typed(df)
