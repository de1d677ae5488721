"""CREMA-D: ground-truth distributions from the crowd votes of ``tabulatedVotes.csv``.

``--root`` holds ``tabulatedVotes.csv`` and, when audio is present, ``AudioWAV/<fileName>.wav``.
The first column is ``100000 * queryType + clipNum``; only voice-only ratings (``1xxxxx``) are
used. Columns A, D, F, H, N, S count the votes for anger, disgust, fear, happiness, neutral,
sadness. The paper's four classes are A, H, S, N; what happens to disgust/fear (D/F) votes is
the ``--cremad-rule`` (``CREMAD_RULES``).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

import pandas as pd

from emologits.data.manifest import finish_manifest
from emologits.errors import DataError

VOTE_COLUMNS: tuple[str, ...] = ("A", "D", "F", "H", "N", "S")
#: Vote columns of the four classes, in EMOTIONS order (anger, happiness, sadness, neutral).
CLASS_VOTES: tuple[str, ...] = ("A", "H", "S", "N")
VOTES_FILE = "tabulatedVotes.csv"
VOICE_ONLY = 1  # queryType of voice-only ratings

DEFAULT_CREMAD_RULE = "drop-other"
#: Rule name -> one-line description (the ``--cremad-rule`` choices).
CREMAD_RULES: dict[str, str] = {
    "drop-other": "drop the D/F votes and renormalise over A/H/S/N; clips with no A/H/S/N vote "
                  "are excluded",
    "exclude-other": "keep only clips without any D/F vote",
    "other-minority": "keep clips whose D+F votes are fewer than half of all votes; then drop the "
                      "D/F votes and renormalise over A/H/S/N",
}
_RULES: dict[str, Callable[[dict[str, int]], bool]] = {
    "drop-other": lambda v: sum(v[c] for c in CLASS_VOTES) > 0,
    "exclude-other": lambda v: v["D"] + v["F"] == 0,
    "other-minority": lambda v: 2 * (v["D"] + v["F"]) < sum(v.values()),
}


def read_votes(root: Path) -> list[dict]:
    """Voice-only rows of ``tabulatedVotes.csv``: ``{"fileName", "votes": {A..S: int}, "line"}``;
    DataError naming file and line on a missing column or a malformed row."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: CREMA-D root not found (pass the folder holding {VOTES_FILE})")
    path = root / VOTES_FILE
    if not path.is_file():
        raise DataError(f"{path}: vote table not found (--root must hold {VOTES_FILE})")
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


def _check_rule(rule: str) -> Callable[[dict[str, int]], bool]:
    if rule not in _RULES:
        raise DataError(f"unknown CREMA-D rule {rule!r}; choose from {list(CREMAD_RULES)}")
    return _RULES[rule]


def rule_counts(root: Path, rows: list[dict] | None = None) -> dict[str, int]:
    """Number of clips each CREMA-D rule keeps; ``rows`` (from :func:`read_votes`) saves reading
    ``root`` again."""
    rows = read_votes(root) if rows is None else rows
    return {name: sum(keep(r["votes"]) for r in rows) for name, keep in _RULES.items()}


def prepare_cremad(root: Path, *, rule: str | None = None, labels_only: bool = False,
                   rows: list[dict] | None = None) -> pd.DataFrame:
    """Manifest of the voice-only clips that ``rule`` keeps; gt = A/H/S/N votes renormalised.
    ``rows`` (from :func:`read_votes`) saves reading the vote table again."""
    rule = rule or DEFAULT_CREMAD_RULE
    keep = _check_rule(rule)
    root = Path(root).expanduser().resolve()
    rows = read_votes(root) if rows is None else rows
    out, missing = [], []
    for r in rows:
        votes = r["votes"]
        if not keep(votes):
            continue
        wav = root / "AudioWAV" / f"{r['fileName']}.wav"
        exists = wav.is_file()
        if not exists:
            missing.append(wav)
        out.append({
            "utt_id": r["fileName"], "dataset": "cremad", "audio_path": str(wav) if exists else None,
            "counts": [votes[c] for c in CLASS_VOTES], "annotations": json.dumps(votes),
            "selection": rule, "speaker": r["fileName"].split("_", 1)[0],
        })
    return finish_manifest(out, missing, labels_only=labels_only, source=root,
                           rule=f"CREMA-D rule {rule!r}")
