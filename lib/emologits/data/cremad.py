"""CREMA-D: ground-truth distributions from the crowd votes of ``tabulatedVotes.csv``.

``--root`` holds ``tabulatedVotes.csv`` and, when audio is present, ``AudioWAV/<fileName>.wav``.
The first column is ``100000 * queryType + clipNum``; only voice-only ratings (``1xxxxx``) are
used. Columns A, D, F, H, N, S count the votes for anger, disgust, fear, happiness, neutral,
sadness (``VOTE_CLASSES``). An emotion set takes the votes of its classes; what happens to the
votes outside the set (paper4: D/F) is the rule (``CREMAD_RULES``). ``cremad6`` keeps all six
vote counts (nothing is outside it); sets with a class the raters could not choose (``msp8``:
surprise, contempt) are refused.

When the root also holds the per-rater response file ``finishedResponses.csv`` (columns read by
name: ``localid`` rater, ``queryType``, ``clipName``, ``respEmo`` A/D/F/H/N/S), the votes are
counted from it so the rater ids are kept (``annotations``: ``{localid: "A"}``); option ``votes``
chooses (``auto``: the response file when present, else the tabulated votes). Like the release's
own tabulation (``processFinishedResponses.R``), responses whose first click took over 10 s
(``finishedEmoResponses.csv``, ``ttr`` > 10000, matched on ``sessionNums``, ``queryType``,
``questNum``) are left out when that file is present.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from emologits.data.manifest import finish_manifest
from emologits.data.ratings import vote_counts, vote_rule_counts
from emologits.data.spec import DatasetSpec
from emologits.emotions import EmotionSet, get_emotion_set
from emologits.errors import DataError
from emologits.schema import StrictModel

#: Vote column -> the class its raters chose.
VOTE_CLASSES: dict[str, str] = {"A": "anger", "D": "disgust", "F": "fear", "H": "happiness",
                                "N": "neutral", "S": "sadness"}
VOTE_COLUMNS: tuple[str, ...] = tuple(VOTE_CLASSES)
VOTES_FILE = "tabulatedVotes.csv"
VOICE_ONLY = 1  # queryType of voice-only ratings
RESPONSES_FILE = "finishedResponses.csv"
EMO_RESPONSES_FILE = "finishedEmoResponses.csv"
DISTRACTED_MS = 10_000  # the release's tabulation drops responses whose first click took longer


class CremadOptions(StrictModel):
    """``data.options`` of ``cremad``."""

    #: Where the votes come from: ``auto`` (finishedResponses.csv when the root holds it, else
    #: tabulatedVotes.csv), ``tabulated`` or ``responses`` (per rater; rater ids kept).
    votes: Literal["auto", "tabulated", "responses"] = "auto"


def class_votes(emotion_set: str | EmotionSet | None = None) -> tuple[str, ...]:
    """The vote column of each class of ``emotion_set`` (default paper4), in the set's order."""
    es = SPEC.emotion_set(emotion_set)
    column = {c: v for v, c in VOTE_CLASSES.items()}
    return tuple(column[c] for c in es.names)


DEFAULT_CREMAD_RULE = "drop-other"
#: Rule name -> one-line description (the ``--selection`` choices): the vote rules of
#: :data:`~emologits.data.ratings.VOTE_RULES` (:func:`~emologits.data.ratings.vote_counts` applies
#: them), told for clips. "Other" votes: those outside the emotion set (paper4: D/F; cremad6: none).
CREMAD_RULES: dict[str, str] = {
    "drop-other": "drop the votes outside the emotion set (paper4: D/F) and renormalise over the "
                  "set's classes; clips with no vote in the set are excluded",
    "exclude-other": "keep only clips without any vote outside the set (paper4: no D/F vote)",
    "other-minority": "keep clips whose votes outside the set are fewer than half of all votes; "
                      "then drop them and renormalise over the set's classes",
}

def read_votes(root: Path) -> list[dict]:
    """Voice-only rows of ``tabulatedVotes.csv``: ``{"fileName", "votes": {A..S: int}, "line"}``;
    DataError naming file and line on a missing column or a malformed row."""
    root = Path(root).expanduser()
    if root.is_file():
        raise DataError(f"{root}: a file; --root is the folder holding {VOTES_FILE} (did you mean {root.parent}?)")
    if not root.is_dir():
        raise DataError(f"{root}: CREMA-D root not found (pass the folder holding {VOTES_FILE})")
    path = root / VOTES_FILE
    if not path.is_file():
        nested = [*root.glob(f"*/{VOTES_FILE}"), *root.glob(f"*/*/{VOTES_FILE}"), *root.parent.glob(VOTES_FILE)]
        hint = f"; did you mean {nested[0].parent}?" if nested else ""
        raise DataError(f"{path}: vote table not found (--root must hold {VOTES_FILE}){hint}")
    rows: list[dict] = []
    seen: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}:1: empty file")
            missing = [c for c in (*VOTE_COLUMNS, "fileName") if c not in header]
            if missing:
                raise DataError(f"{path}:1: missing column(s) {missing}")
            col = {name: header.index(name) for name in (*VOTE_COLUMNS, "fileName")}
            for record in reader:
                number = reader.line_num
                if not record or not any(field.strip() for field in record):
                    continue
                if len(record) != len(header):
                    raise DataError(f"{path}:{number}: {len(record)} fields, expected {len(header)}")
                try:
                    query = int(record[0])
                    votes = {c: int(record[col[c]]) for c in VOTE_COLUMNS}
                except ValueError as exc:
                    raise DataError(f"{path}:{number}: non-integer id or vote count ({exc})") from exc
                if any(v < 0 for v in votes.values()):
                    raise DataError(f"{path}:{number}: negative vote count")
                if query // 100000 != VOICE_ONLY:
                    continue
                name = record[col["fileName"]].strip()
                if not name:
                    raise DataError(f"{path}:{number}: empty fileName")
                if name in seen:
                    raise DataError(f"{path}:{number}: duplicate voice-only row for {name} "
                                    f"(first on line {seen[name]})")
                seen[name] = number
                rows.append({"fileName": name, "votes": votes, "line": number})
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not rows:
        raise DataError(f"{path}: no voice-only rows (first column 1xxxxx)")
    return rows


def _csv_rows(path: Path, needed: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in needed if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}:1: missing column(s) {missing}")
            return [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _int(path: Path, number: int, row: dict[str, str], column: str) -> int:
    try:
        return int(float(row[column]))
    except (TypeError, ValueError):
        raise DataError(f"{path}:{number}: column {column}: {row[column]!r} is not a number") from None


def read_responses(root: Path) -> list[dict]:
    """Voice-only clips from the per-rater ``finishedResponses.csv``: ``{"fileName", "votes",
    "raters": {localid: vote}, "line"}`` (first line of the clip); distracted responses left out
    when ``finishedEmoResponses.csv`` is present. DataError naming file:line on a bad row or a
    rater answering a clip twice."""
    root = Path(root).expanduser()
    path = root / RESPONSES_FILE
    if not path.is_file():
        raise DataError(f"{path}: per-rater response file not found (option votes: responses needs it)")
    key_cols = ("sessionNums", "queryType", "questNum")
    distracted: set[tuple[str, ...]] = set()
    emo = root / EMO_RESPONSES_FILE
    if emo.is_file():
        for number, row in _csv_rows(emo, (*key_cols, "ttr")):
            try:
                slow = float(row["ttr"]) > DISTRACTED_MS
            except (TypeError, ValueError):
                raise DataError(f"{emo}:{number}: column ttr: {row['ttr']!r} is not a number") from None
            if slow:
                distracted.add(tuple(str(_int(emo, number, row, c)) for c in key_cols))
    rows = _csv_rows(path, ("localid", "queryType", "clipName", "respEmo"))
    check_keys = bool(distracted) and all(c in rows[0][1] for c in key_cols) if rows else False
    clips: dict[str, dict] = {}
    for number, row in rows:
        if _int(path, number, row, "queryType") != VOICE_ONLY:
            continue
        if check_keys and tuple(str(_int(path, number, row, c)) for c in key_cols) in distracted:
            continue
        name = Path((row["clipName"] or "").strip()).stem
        rater = (row["localid"] or "").strip()
        vote = (row["respEmo"] or "").strip()
        if not name or not rater:
            raise DataError(f"{path}:{number}: empty clipName or localid")
        if vote not in VOTE_CLASSES:
            raise DataError(f"{path}:{number}: column respEmo: {vote!r} is not one of {', '.join(VOTE_COLUMNS)}")
        clip = clips.setdefault(name, {"fileName": name, "votes": dict.fromkeys(VOTE_COLUMNS, 0),
                                       "raters": {}, "line": number})
        if rater in clip["raters"]:
            raise DataError(f"{path}:{number}: rater {rater!r} answered {name} twice (voice-only)")
        clip["raters"][rater] = vote
        clip["votes"][vote] += 1
    if not clips:
        raise DataError(f"{path}: no voice-only responses (queryType 1)")
    return list(clips.values())


def read_clips(root: Path, votes: str = "auto") -> list[dict]:
    """The voice-only clips from the source ``votes`` names (see :class:`CremadOptions`)."""
    if votes == "responses" or (votes == "auto" and (Path(root).expanduser() / RESPONSES_FILE).is_file()):
        return read_responses(root)
    return read_votes(root)


def _check_rule(rule: str) -> None:
    if rule not in CREMAD_RULES:
        raise DataError(f"unknown CREMA-D rule {rule!r}; choose from {list(CREMAD_RULES)}")


def rule_counts(root: Path, rows: list[dict] | None = None,
                emotion_set: str | EmotionSet | None = None) -> dict[str, int]:
    """Number of clips each CREMA-D rule keeps for ``emotion_set`` (default paper4); ``rows`` (from
    :func:`read_votes`) saves reading ``root`` again."""
    inset = class_votes(emotion_set)
    rows = read_votes(root) if rows is None else rows
    return vote_rule_counts((r["votes"] for r in rows), inset)


def prepare_cremad(root: Path, *, rule: str | None = None, labels_only: bool = False,
                   rows: list[dict] | None = None,
                   emotion_set: str | EmotionSet | None = None) -> pd.DataFrame:
    """Manifest over ``emotion_set`` (default paper4) of the voice-only clips that ``rule`` keeps;
    gt = the votes of the set's classes, renormalised. ``rows`` (from :func:`read_votes`) saves
    reading the vote table again."""
    rule = rule or DEFAULT_CREMAD_RULE
    _check_rule(rule)
    emotion_set = get_emotion_set(emotion_set)
    inset = class_votes(emotion_set)
    root = Path(root).expanduser().resolve()
    rows = read_votes(root) if rows is None else rows
    out, missing = [], []
    for r in rows:
        votes = r["votes"]
        counts = vote_counts(votes, inset, rule)
        if counts is None:
            continue
        wav = root / "AudioWAV" / f"{r['fileName']}.wav"
        exists = wav.is_file()
        if not exists:
            missing.append(wav)
        out.append({
            "utt_id": r["fileName"], "dataset": "cremad", "audio_path": str(wav) if exists else None,
            "counts": counts, "annotations": json.dumps(r.get("raters", votes)),
            "selection": rule, "speaker": r["fileName"].split("_", 1)[0],
        })
    return finish_manifest(out, missing, labels_only=labels_only, source=root,
                           rule=f"CREMA-D rule {rule!r}", emotion_set=emotion_set)


def _prepare(root: Path, *, selection: str, labels_only: bool, options: dict[str, Any],
             emotion_set: EmotionSet) -> tuple[pd.DataFrame, dict[str, int]]:
    rows = read_clips(root, options.get("votes", "auto"))  # read once for the manifest and the counts
    return (prepare_cremad(root, rule=selection, labels_only=labels_only, rows=rows, emotion_set=emotion_set),
            rule_counts(root, rows=rows, emotion_set=emotion_set))


def _counts(root: Path, *, emotion_set: EmotionSet) -> dict[str, int]:
    return rule_counts(root, rows=read_clips(root), emotion_set=emotion_set)


SPEC = DatasetSpec(
    name="cremad",
    description="CREMA-D: crowd votes (A/D/F/H/N/S) per voice-only clip, 7,442 clips",
    prepare=_prepare, counts=_counts,
    label_classes=tuple(VOTE_CLASSES.values()),
    selection_rules=CREMAD_RULES, default_selection=DEFAULT_CREMAD_RULE,
    rule_title="CREMA-D rule", options_model=CremadOptions, root_marker=VOTES_FILE,
    root_help=f"the CREMA-D folder ({VOTES_FILE} + AudioWAV/)",
    source="CREMA-D (Cao et al. 2014), Open Database License: https://github.com/CheyneyComputerScience/CREMA-D",
)
