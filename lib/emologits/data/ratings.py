"""Any corpus from a table of ratings (``--dataset ratings``), and the vote rules every per-rater
corpus shares (paper sec. 4.1: ground truth = the raters' label distribution).

``--root`` is one file, CSV (``.csv``, ``.tsv``) or JSON Lines (``.jsonl``), in one of two shapes:

- long: ``utt_id, audio_path, rater, label`` (one row per rating; optional ``speaker, session,
  split, transcript``);
- counts: ``utt_id, audio_path`` plus one count column per label (CREMA-D's tabulated shape;
  optional ``speaker, session, split, transcript``).

A label becomes a class of the emotion set through ``label_map`` (option, or ``--label-map
map.yaml``: ``corpus label: class`` or ``corpus label: null`` for a label outside the set); a label
that already is a class name needs no entry. A label neither mapped nor a class name is a DataError
naming file, line, column and the close matches (``unknown_labels: other`` counts it as outside
the set instead). Relative audio paths resolve against the ratings file's folder.

The vote rules (``VOTE_RULES``: ``drop-other``, ``exclude-other``, ``other-minority``) decide what
happens to the ratings outside the set, as for CREMA-D; MSP-Podcast and MSP-IMPROV use them too.
"""
from __future__ import annotations

import csv
import difflib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from emologits.data.manifest import finish_manifest
from emologits.data.spec import DatasetSpec
from emologits.emotions import EmotionSet
from emologits.errors import DataError
from emologits.schema import StrictModel

#: A rating's class: a class name, or None for a label outside every class ("other").
Votes = Counter  # Counter[str | None] -> number of ratings

DEFAULT_VOTE_RULE = "drop-other"
#: Rule name -> one line (``--selection``). "Other": ratings whose label is outside the emotion set.
VOTE_RULES: dict[str, str] = {
    "drop-other": "drop the ratings outside the emotion set and renormalise over the set's classes; "
                  "utterances with no rating in the set are excluded",
    "exclude-other": "keep only utterances without any rating outside the set",
    "other-minority": "keep utterances whose ratings outside the set are fewer than half of all "
                      "their ratings; then drop those and renormalise",
}
_KEEP: dict[str, Callable[[int, int], bool]] = {  # (in-set ratings, other ratings) -> keep
    "drop-other": lambda inset, other: inset > 0,
    "exclude-other": lambda inset, other: inset > 0 and other == 0,
    "other-minority": lambda inset, other: inset > 0 and 2 * other < inset + other,
}


def vote_counts(votes: Mapping[str | None, float], names: tuple[str, ...], rule: str) -> list[int] | None:
    """The in-set counts (``names`` order) that ``rule`` keeps from ``votes``, or None (dropped)."""
    inset = [int(votes.get(c, 0)) for c in names]
    other = int(sum(n for c, n in votes.items() if c not in names))
    return inset if _KEEP[rule](sum(inset), other) else None


def consensus_counts(votes: Mapping[str | None, float], names: tuple[str, ...],
                     consensus_class: str | None) -> list[int] | None:
    """The MSP corpora's ``consensus`` rule: kept when the release's consensus class is one of
    ``names``; the distribution is ``drop-other``'s (the in-set ratings, renormalised)."""
    return vote_counts(votes, names, "drop-other") if consensus_class in names else None


def vote_rule_counts(all_votes: Iterable[Mapping[str | None, float]], names: tuple[str, ...]) -> dict[str, int]:
    """Utterances each vote rule keeps."""
    all_votes = list(all_votes)
    return {rule: sum(vote_counts(v, names, rule) is not None for v in all_votes) for rule in VOTE_RULES}


def close_matches(word: str, known: Iterable[str]) -> str:
    """`` (close: 'Angry', 'Anger')`` for a message, or ``""``."""
    known = sorted(set(known))
    lower = {k.lower(): k for k in known}
    found = difflib.get_close_matches(word.lower(), list(lower), n=3, cutoff=0.6)
    return f" (close: {', '.join(repr(lower[f]) for f in found)})" if found else ""


class RatingsOptions(StrictModel):
    """``data.options`` of ``ratings``."""

    #: Corpus label -> class of the emotion set (null: outside the set); or the path of such a YAML
    #: file (relative: to the ratings file's folder). None: the labels are the set's class names.
    label_map: str | dict[str, str | None] | None = None
    #: A label neither in the map nor a class name: an error (default) or a rating outside the set.
    unknown_labels: Literal["error", "other"] = "error"
    #: The file's shape; auto: long when it has ``rater`` and ``label`` columns, else counts.
    shape: Literal["auto", "long", "counts"] = "auto"
    #: Counts shape: columns that are neither labels nor the known columns, to ignore.
    ignore_columns: list[str] = []


META_COLUMNS: tuple[str, ...] = ("speaker", "session", "split", "transcript")
LONG_COLUMNS: tuple[str, ...] = ("utt_id", "audio_path", "rater", "label")


@dataclass
class _Utt:
    utt_id: str
    line: int
    audio: str
    meta: dict[str, Any]
    votes: Votes = field(default_factory=Counter)
    raw: dict[str, Any] = field(default_factory=dict)


def load_label_map(spec: str | Mapping[str, str | None] | None, base: Path,
                   emotion_set: EmotionSet) -> dict[str, str | None]:
    """The label map (file or mapping), its values checked against ``emotion_set``'s classes."""
    if spec is None:
        return {}
    where = "label_map"
    if isinstance(spec, str):
        path = Path(spec).expanduser()
        path = path if path.is_absolute() else base / path
        where = str(path)
        if not path.is_file():
            raise DataError(f"{path}: label map not found (a YAML mapping 'corpus label: class or null')")
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(spec, dict):
            raise DataError(f"{path}: a label map is a mapping 'corpus label: class or null', "
                            f"got {type(spec).__name__}")
    out: dict[str, str | None] = {}
    for label, target in spec.items():
        if target is not None and target not in emotion_set.names:
            raise DataError(f"{where}: {label!r} maps to {target!r}, not a class of emotion set "
                            f"{emotion_set.name!r} ({', '.join(emotion_set.names)}){close_matches(str(target), emotion_set.names)}; "
                            "map labels outside the set to null")
        out[str(label)] = target
    return out


def _delimiter(path: Path, header: str) -> str:
    """The CSV field separator: the one of ``,``, tab, ``;`` that makes ``utt_id`` a header field
    (spreadsheets save ``;``-separated files in some locales), else tab for ``.tsv``, else ``,``."""
    for delimiter in (",", "\t", ";"):
        if "utt_id" in (field.strip().strip('"') for field in header.split(delimiter)):
            return delimiter
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """(columns, [(line number, row)]) of a CSV/TSV or JSONL file (UTF-8, a byte-order mark
    allowed); DataError naming file:line."""
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() == ".json":
        raise DataError(f"{path}: a .json file; write the ratings as JSON Lines (.jsonl: one JSON object "
                        "per line, one line per rating or per utterance) or as a CSV file")
    try:
        if path.suffix.lower() == ".jsonl":
            columns: dict[str, None] = {}
            for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise DataError(f"{path}:{number}: not a JSON object")
                columns.update(dict.fromkeys(obj))
                rows.append((number, obj))
            return list(columns), rows
        with open(path, newline="", encoding="utf-8-sig") as fh:
            delimiter = _delimiter(path, fh.readline())
            fh.seek(0)  # the decoder starts again and drops the byte-order mark again
            reader = csv.DictReader(fh, delimiter=delimiter)
            columns_list = [c.strip() for c in (reader.fieldnames or [])]
            reader.fieldnames = columns_list
            for row in reader:
                if None in row:
                    raise DataError(f"{path}:{reader.line_num}: more fields than the header's {len(columns_list)}")
                if not any((v or "").strip() for v in row.values()):
                    continue
                rows.append((reader.line_num, {k: v for k, v in row.items()}))
            return columns_list, rows
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


class _Labels:
    """Corpus label -> class (or None: outside the set). Unknown labels are collected (first place,
    number of ratings) so that one error names them all (:meth:`check`)."""

    def __init__(self, mapping: dict[str, str | None], emotion_set: EmotionSet, unknown: str) -> None:
        self.mapping, self.names, self.unknown = mapping, emotion_set.names, unknown
        self.lower = {n.lower(): n for n in emotion_set.names}
        self.words = emotion_set.synonyms()
        self.seen: dict[str, list[Any]] = {}  # unknown label -> [first place, its line, ratings]

    def __call__(self, label: str, where: str, line: int) -> str | None:
        if label in self.mapping:
            return self.mapping[label]
        if label.lower() in self.lower:
            return self.lower[label.lower()]
        if self.unknown == "error":
            self.seen.setdefault(label, [where, line, 0])[2] += 1
        return None

    def _guess(self, label: str) -> str:
        """A class for a map line suggestion: the set's word for it, a close word's class, else null."""
        word = label.lower()
        if word in self.words:
            return self.words[word]
        close = difflib.get_close_matches(word, list(self.words), n=1, cutoff=0.75)
        return self.words[close[0]] if close else "null"

    def check(self) -> None:
        """DataError naming every unknown label (the first with its place and close matches) and a
        label map to start from."""
        if not self.seen:
            return
        (first, (where, _, _)), *rest = self.seen.items()
        also = ""
        if rest:
            shown = ", ".join(f"{lab!r} (line {line}, {n} rating{'s' if n > 1 else ''})"
                              for lab, (_, line, n) in rest[:8])
            also = f"; {len(rest)} more unknown label(s): {shown}{', ...' if len(rest) > 8 else ''}"
        start = "\n".join(f"  {json.dumps(lab)}: {self._guess(lab)}" for lab in list(self.seen)[:20])
        raise DataError(
            f"{where}: unknown label {first!r}{close_matches(first, [*self.mapping, *self.names])}{also}; "
            "add them to the label map (--label-map map.yaml, 'label: class' or 'label: null' for a label "
            "outside the set) or use --option unknown_labels=other. A map to start from (check each "
            f"line):\n{start}")


def read_ratings(path: Path, options: Mapping[str, Any], emotion_set: EmotionSet) -> list[_Utt]:
    """The utterances of a ratings file, each with its votes (class or None -> count)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DataError(f"{path}: a folder; --root must be the ratings file (CSV or JSONL)")
    if not path.is_file():
        raise DataError(f"{path}: ratings file not found (--root must be a CSV or JSONL file)")
    columns, rows = _read_rows(path)
    if not rows:
        raise DataError(f"{path}: no rating rows")
    shape = options.get("shape", "auto")
    if shape == "auto":
        shape = "long" if {"rater", "label"} <= set(columns) else "counts"
    required = LONG_COLUMNS if shape == "long" else ("utt_id", "audio_path")
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"{path}:1: missing column(s) {missing} ({shape} shape: {', '.join(required)}"
                        f"{', <one count column per label>' if shape == 'counts' else ''}; optional "
                        f"{', '.join(META_COLUMNS)})")
    labels = _Labels(load_label_map(options.get("label_map"), path.parent, emotion_set), emotion_set,
                     options.get("unknown_labels", "error"))
    utts: dict[str, _Utt] = {}
    if shape == "long":
        seen: dict[tuple[str, str], int] = {}
        for number, row in rows:
            where = f"{path}:{number}"
            utt_id, rater, label = (_text(row.get(c)) for c in ("utt_id", "rater", "label"))
            if not utt_id:
                raise DataError(f"{where}: column utt_id: empty")
            if not rater:
                raise DataError(f"{where}: column rater: empty")
            if (utt_id, rater) in seen:
                raise DataError(f"{where}: duplicate rating of {utt_id!r} by rater {rater!r} (first on line "
                                f"{seen[(utt_id, rater)]}); one row per (utt_id, rater)")
            seen[(utt_id, rater)] = number
            utt = _merge(utts, utt_id, number, row, where)
            if not label:
                continue  # a rater who gave no label: no rating
            utt.votes[labels(label, f"{where}: column label", number)] += 1
            utt.raw[rater] = label
        labels.check()
    else:
        ignored = set(options.get("ignore_columns") or [])
        label_columns = [c for c in columns if c not in (*required, *META_COLUMNS) and c not in ignored]
        if not label_columns:
            raise DataError(f"{path}:1: no count columns (counts shape: utt_id, audio_path, one column per "
                            "label); a long file needs the columns rater and label")
        classes = {c: labels(c, f"{path}:1: column {c!r}", 1) for c in label_columns}
        labels.check()
        for number, row in rows:
            where = f"{path}:{number}"
            utt_id = _text(row.get("utt_id"))
            if not utt_id:
                raise DataError(f"{where}: column utt_id: empty")
            if utt_id in utts:
                raise DataError(f"{where}: duplicate utt_id {utt_id!r} (first on line {utts[utt_id].line}); "
                                "the counts shape has one row per utterance")
            utt = _merge(utts, utt_id, number, row, where)
            for column in label_columns:
                value = row.get(column)
                text = _text(value)
                try:
                    count = float(text) if text else 0.0
                except ValueError:
                    raise DataError(f"{where}: column {column!r}: count {text!r} is not a number") from None
                if count < 0 or not count.is_integer():
                    raise DataError(f"{where}: column {column!r}: count {text!r} is not a whole number >= 0")
                utt.votes[classes[column]] += int(count)
                utt.raw[column] = int(count)
    for utt in utts.values():
        if sum(utt.votes.values()) == 0:
            what = ("column label: empty on each of its rows" if shape == "long"
                    else f"columns {', '.join(label_columns)}: every count 0")
            raise DataError(f"{path}:{utt.line}: utterance {utt.utt_id!r} has no usable rating ({what}); "
                            "give it a rating or leave it out")
    rated = {c for u in utts.values() for c in u.votes if c is not None}
    never = [c for c in emotion_set.names if c not in rated]
    if never:
        raise DataError(f"{path}: no rating maps to {', '.join(never)} of emotion set {emotion_set.name!r}: a "
                        "class nobody chose is not a measurement; map a label to it or use a set without it")
    return list(utts.values())


def _merge(utts: dict[str, _Utt], utt_id: str, number: int, row: Mapping[str, Any], where: str) -> _Utt:
    """The utterance ``utt_id`` (created at its first row); its audio path and speaker/session/split/
    transcript must agree across its rows."""
    values = {c: _text(row.get(c)) for c in ("audio_path", *META_COLUMNS)}
    utt = utts.get(utt_id)
    if utt is None:
        utt = utts[utt_id] = _Utt(utt_id, number, values["audio_path"],
                                  {c: values[c] or None for c in META_COLUMNS})
        return utt
    if values["audio_path"] != utt.audio:
        raise DataError(f"{where}: column audio_path: {values['audio_path']!r} differs from "
                        f"{utt.audio!r} on line {utt.line} for {utt_id!r}")
    for c in META_COLUMNS:
        if values[c] and utt.meta[c] is None:
            utt.meta[c] = values[c]
        elif values[c] and values[c] != utt.meta[c]:
            raise DataError(f"{where}: column {c}: {values[c]!r} differs from {utt.meta[c]!r} for {utt_id!r}")
    return utt


def _session(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def _prepare(root: Path, *, selection: str, labels_only: bool, options: dict[str, Any],
             emotion_set: EmotionSet) -> tuple[pd.DataFrame, dict[str, int]]:
    path = Path(root).expanduser().resolve()
    utts = read_ratings(path, options, emotion_set)
    rows, missing = [], []
    absent: list[tuple[int, str]] = []  # (line, what) of utterances whose audio is not there
    for utt in utts:
        counts = vote_counts(utt.votes, emotion_set.names, selection)
        if counts is None:
            continue
        audio = None
        if utt.audio:
            candidate = Path(utt.audio).expanduser()
            candidate = candidate if candidate.is_absolute() else path.parent / candidate
            if candidate.is_file():
                audio = str(candidate)
            else:
                missing.append(candidate)
                absent.append((utt.line, f"{candidate} does not exist"))
        else:
            absent.append((utt.line, f"empty for {utt.utt_id!r}"))
        rows.append({
            "utt_id": utt.utt_id, "dataset": "ratings", "audio_path": audio, "counts": counts,
            "annotations": json.dumps(utt.raw), "selection": selection,
            "speaker": utt.meta["speaker"], "session": _session(utt.meta["session"]),
            "split": utt.meta["split"], "transcript": utt.meta["transcript"],
        })
    if absent and not labels_only:
        (line, what), more = absent[0], [f"  line {n}: {w}" for n, w in absent[1:6]]
        if len(absent) > 6:
            more.append("  ...")
        listing = "; also\n" + "\n".join(more) + "\n" if more else "; "
        raise DataError(f"{path}:{line}: column audio_path: {what} ({len(absent)} of the utterances the rule keeps "
                        f"have no audio file{listing}relative paths resolve against {path.parent}; --labels-only "
                        "builds the ground truth without audio)")
    df = finish_manifest(rows, missing, labels_only=labels_only, source=path,
                         rule=f"rule {selection!r}", emotion_set=emotion_set)
    return df, vote_rule_counts((u.votes for u in utts), emotion_set.names)


class _AnyClasses(tuple):
    """The classes of a ratings file are whatever its labels map to: every set is accepted here
    (``read_ratings`` refuses a set class that no rating maps to)."""

    def __contains__(self, item: object) -> bool:
        return True


SPEC = DatasetSpec(
    name="ratings",
    description="any corpus from a CSV/JSONL of ratings (long: one row per rating; counts: one column per label)",
    prepare=_prepare,
    label_classes=_AnyClasses(),
    selection_rules=VOTE_RULES, default_selection=DEFAULT_VOTE_RULE,
    rule_title="ratings rule", options_model=RatingsOptions,
    root_marker=".",  # the root is the ratings file itself: it must exist
    root_help="the ratings file (CSV/TSV or JSONL; long or counts shape, see docs/data.md)",
    source="your own corpus",
)
