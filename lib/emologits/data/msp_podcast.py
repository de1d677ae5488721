"""MSP-Podcast: ground-truth distributions from the per-rater primary emotions (paper sec. 4.1).

``--root`` is the release folder: ``Labels/`` and ``Audios/<FileName>`` (and, when present,
``Transcripts/<name>.txt``). Read:

- the per-rater file ``Labels/labels_detailed.csv`` in either of its public forms: columns
  ``FileName, EmoClass_Major, EmoClass_Second`` and a worker column (``WorkerID``, ``Workers``,
  ``Worker``, or any name holding "worker" or "annotator"), or ``FileName, EmoDetail`` with ``EmoDetail`` = ``"WORKER00001; Angry; Annoyed,Frustrated;
  A:4.0; V:2.0; D:5.0;"`` (the secondary field may be empty or absent); or the JSON form of older
  releases, ``Labels/labels_detailed.json``, as ``{FileName: {worker: {"EmoClass_Major": ...,
  "EmoClass_Second": ...}}}`` or ``{FileName: {"Workers": [{"Name": worker, "EmoClass_Major": ...}]}}``;
- the consensus file ``Labels/labels_consensus.csv`` (older: ``labels_concensus.csv``, or the
  ``.json`` forms) for ``EmoClass`` (consensus code), ``SpkrID`` and ``Split_Set``.

Primary emotions ``PRIMARY_CLASSES`` (Angry, Sad, Happy, Surprise, Fear, Disgust, Contempt,
Neutral) name msp8's classes; ``Other``, ``Other-<free text>``, anything starting "Other" (any case)
name none (ratings outside every set, handled by the rule, as CREMA-D's). Secondary emotions stay in ``annotations`` and count with
``secondary: true``. docs/data.md says which public sources the layout comes from.
"""
from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from emologits.data.manifest import finish_manifest
from emologits.data.ratings import DEFAULT_VOTE_RULE, VOTE_RULES, consensus_counts, vote_counts
from emologits.data.spec import DatasetSpec
from emologits.emotions import EmotionSet
from emologits.errors import DataError
from emologits.schema import StrictModel

#: Primary (and secondary) emotion spelling -> msp8 class; ``Other`` / ``Other-...``: none.
PRIMARY_CLASSES: dict[str, str] = {
    "Angry": "anger", "Sad": "sadness", "Happy": "happiness", "Surprise": "surprise", "Fear": "fear",
    "Disgust": "disgust", "Contempt": "contempt", "Neutral": "neutral",
}
#: Consensus ``EmoClass`` code -> class; ``O`` (Other) and ``X`` (no agreement) name none.
CONSENSUS_CLASSES: dict[str, str | None] = {
    "A": "anger", "S": "sadness", "H": "happiness", "U": "surprise", "F": "fear", "D": "disgust",
    "C": "contempt", "N": "neutral", "O": None, "X": None,
}
WORKER_COLUMNS: tuple[str, ...] = ("WorkerID", "Workers", "Worker")
#: ``WORKER; Primary; Secondary,...; A:x; V:y; D:z;``: the labels part is everything between the worker
#: and ``A:``; its first ``;`` field is the primary emotion, the rest the secondary tags (absent, empty,
#: or free text that may itself hold ``;``).
_DETAIL = re.compile(r"^\s*(?P<worker>[^;]+?)\s*;(?P<labels>.*?);\s*A:[^;]*;\s*V:[^;]*;\s*D:[^;]*;?\s*$")
_PODCAST = re.compile(r"^MSP-PODCAST_(\d+)_")

RULES: dict[str, str] = {
    **VOTE_RULES,
    "consensus": "keep when the release's consensus EmoClass names a class of the set (O and X never "
                 "do); distribution = the primary ratings in the set's classes, renormalised",
}


class MSPPodcastOptions(StrictModel):
    """``data.options`` of ``msp-podcast``."""

    #: Also count each secondary emotion naming a class of the set (secondary tags outside the
    #: set are ignored, not counted as "other").
    secondary: bool = False
    #: Consensus codes whose utterances are left out under every rule, e.g. [X] (no agreement), [O, X].
    exclude_consensus: list[Literal["A", "S", "H", "U", "F", "D", "C", "N", "O", "X"]] = []
    #: A worker who rated an utterance twice: keep the first rating, the last, or refuse the file.
    repeated_rater: Literal["first", "last", "error"] = "first"


def primary_class(label: str) -> str | None:
    """The class of a primary-emotion spelling (None: Other); KeyError for anything else."""
    if label[:5].lower() == "other":  # "Other", "Other-<free text>", "Other (…)", any case
        return None
    return PRIMARY_CLASSES[label]


@dataclass
class Utterance:
    """One MSP-Podcast segment: its consensus row and its raters' labels."""

    file_name: str
    line: int
    consensus: str
    speaker: str | None
    split: str | None
    #: worker -> (primary, [secondary...]), in file order.
    ratings: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


def _labels_dir(root: Path) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: MSP-Podcast root not found (pass the release folder holding Labels/ and Audios/)")
    labels = root / "Labels"
    if not labels.is_dir():
        nested = [p.parent for p in root.glob("*/Labels") if p.is_dir()]
        if (root.parent / "Labels").is_dir():  # Labels/, Audios/ or Transcripts/ given
            nested = [root.parent]
        hint = f"; did you mean {nested[0]}?" if nested else ""
        other = [p.name for p in (root / "label", root / "labels") if p.is_dir() and p.name in os.listdir(root)]
        if other:  # some older releases name the folder label/ or labels/
            hint = f"; it has {other[0]}/: rename it (or link it) to Labels/"
        raise DataError(f"{root}: no Labels/ folder; --root must be the MSP-Podcast release folder{hint}")
    return labels


def _first(labels: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (labels / name).is_file():
            return labels / name
    raise DataError(f"{labels}: no {what} file (looked for {', '.join(names)})")


def read_consensus(labels: Path) -> dict[str, Utterance]:
    """FileName -> Utterance from the consensus file (CSV or JSON)."""
    path = _first(labels, ("labels_consensus.csv", "labels_concensus.csv", "labels_consensus.json",
                           "labels_concensus.json"), "consensus")
    out: dict[str, Utterance] = {}
    records: list[tuple[int, dict[str, Any]]] = []
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for number, (name, value) in enumerate(data.items(), start=1):
            row = value[0] if isinstance(value, list) and value else value
            if not isinstance(row, dict):
                raise DataError(f"{path}: entry {name!r} is not an object")
            records.append((number, {"FileName": name, **row}))
    else:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in ("FileName", "EmoClass", "SpkrID", "Split_Set") if c not in columns]
            if missing:
                raise DataError(f"{path}:1: missing column(s) {missing}")
            records = [(reader.line_num, row) for row in reader]
    for number, row in records:
        where = f"{path}:{number}"
        name = str(row.get("FileName") or "").strip()
        code = str(row.get("EmoClass", row.get("EmoClass_Major", "")) or "").strip()
        if not name:
            raise DataError(f"{where}: column FileName: empty")
        if code not in CONSENSUS_CLASSES:
            raise DataError(f"{where}: column EmoClass: {code!r} is not a consensus code "
                            f"({', '.join(CONSENSUS_CLASSES)})")
        if name in out:
            raise DataError(f"{where}: duplicate FileName {name!r} (first on line {out[name].line})")
        speaker = str(row.get("SpkrID") or "").strip()
        split = str(row.get("Split_Set") or "").strip()
        out[name] = Utterance(name, number, code, None if speaker in ("", "Unknown") else speaker,
                              split or None)
    if not out:
        raise DataError(f"{path}: no utterances")
    return out


def _detailed_rows(labels: Path) -> tuple[Path, list[tuple[int, str, str, str, list[str]]]]:
    """(file, [(line, FileName, worker, primary, secondaries)]) from the per-rater file."""
    path = _first(labels, ("labels_detailed.csv", "labels_detailed.json"), "per-rater (labels_detailed)")
    rows: list[tuple[int, str, str, str, list[str]]] = []
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for number, (name, workers) in enumerate(data.items(), start=1):
            for worker, labels_ in _json_workers(path, name, workers):
                primary = str(labels_.get("EmoClass_Major", "")).strip()
                rows.append((number, name, worker, primary, _tags(labels_.get("EmoClass_Second"))))
        return path, rows
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        worker_col = next((c for c in WORKER_COLUMNS if c in columns), None) or next(
            (c for c in columns if "worker" in c.lower() or "annotator" in c.lower()), None)
        if "FileName" in columns and "EmoDetail" in columns:
            for row in reader:
                where = f"{path}:{reader.line_num}"
                m = _DETAIL.match(row["EmoDetail"] or "")
                if not m:
                    raise DataError(f"{where}: column EmoDetail: {row['EmoDetail']!r} is not "
                                    "'WORKER; Primary; Secondary,...; A:x; V:y; D:z;'")
                primary, _, secondary = m["labels"].partition(";")
                rows.append((reader.line_num, row["FileName"].strip(), m["worker"], primary.strip(),
                             _tags(secondary.replace(";", ","))))
        elif "FileName" in columns and "EmoClass_Major" in columns and worker_col:
            for row in reader:
                rows.append((reader.line_num, row["FileName"].strip(), (row[worker_col] or "").strip(),
                             (row["EmoClass_Major"] or "").strip(), _tags(row.get("EmoClass_Second"))))
        else:
            raise DataError(f"{path}:1: unknown layout {columns}: expected FileName, EmoClass_Major, "
                            f"EmoClass_Second and a worker column ({', '.join(WORKER_COLUMNS)}, or any name "
                            "holding 'worker' or 'annotator'), or "
                            "FileName, EmoDetail")
    return path, rows


def _json_workers(path: Path, name: str, workers: Any) -> list[tuple[str, dict[str, Any]]]:
    """(worker, labels) of one entry of ``labels_detailed.json``, in either published form:
    ``{worker: {...}}`` or ``{"Workers": [{"Name": worker, ...}, ...]}``."""
    if isinstance(workers, dict) and isinstance(workers.get("Workers"), list):
        out = []
        for k, item in enumerate(workers["Workers"]):
            if not isinstance(item, dict) or not str(item.get("Name") or "").strip():
                raise DataError(f"{path}: entry {name!r}, Workers[{k}]: not an object with a Name")
            out.append((str(item["Name"]).strip(), item))
        return out
    if isinstance(workers, dict) and all(isinstance(v, dict) for v in workers.values()):
        return [(str(w), v) for w, v in workers.items()]
    raise DataError(f"{path}: entry {name!r} is neither {{worker: {{EmoClass_Major: ...}}}} nor "
                    "{\"Workers\": [{\"Name\": worker, \"EmoClass_Major\": ...}]}")


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value).split(",") if t.strip()]


def read_utterances(root: Path, repeated_rater: str = "first") -> list[Utterance]:
    """Every utterance of the consensus file with its raters' labels; DataError naming file:line
    for a segment without a consensus row, an unknown primary emotion, an empty worker, or (with
    ``repeated_rater: error``) a worker rating a segment twice."""
    labels = _labels_dir(root)
    utts = read_consensus(labels)
    path, rows = _detailed_rows(labels)
    for number, name, worker, primary, secondary in rows:
        where = f"{path}:{number}"
        utt = utts.get(name)
        if utt is None:
            raise DataError(f"{where}: {name!r} has no row in the consensus file")
        if not worker:
            raise DataError(f"{where}: empty worker id")
        try:
            primary_class(primary)
        except KeyError:
            raise DataError(f"{where}: primary emotion {primary!r} is not one of "
                            f"{', '.join(PRIMARY_CLASSES)}, Other, Other-<text>") from None
        if worker in utt.ratings:
            if repeated_rater == "error":
                raise DataError(f"{where}: worker {worker!r} rated {name!r} twice")
            if repeated_rater == "first":
                continue
        utt.ratings[worker] = (primary, secondary)
    unrated = [u for u in utts.values() if not u.ratings]
    if unrated:
        raise DataError(f"{path}: {len(unrated)} segment(s) of the consensus file have no rating, e.g. "
                        f"{unrated[0].file_name!r}")
    return list(utts.values())


def votes(utt: Utterance, names: tuple[str, ...], secondary: bool) -> Counter:
    """class (None: Other) -> ratings; with ``secondary``, in-set secondary tags count too."""
    out: Counter = Counter(primary_class(p) for p, _ in utt.ratings.values())
    if secondary:
        for _, tags in utt.ratings.values():
            for tag in tags:
                c = PRIMARY_CLASSES.get(tag)
                if c in names:
                    out[c] += 1
    return out


def _keep(utt: Utterance, names: tuple[str, ...], rule: str, options: dict[str, Any]) -> list[int] | None:
    if utt.consensus in options["exclude_consensus"]:
        return None
    v = votes(utt, names, options["secondary"])
    if rule == "consensus":
        return consensus_counts(v, names, CONSENSUS_CLASSES[utt.consensus])
    return vote_counts(v, names, rule)


def _prepare(root: Path, *, selection: str, labels_only: bool, options: dict[str, Any],
             emotion_set: EmotionSet) -> tuple[pd.DataFrame, dict[str, int]]:
    root = Path(root).expanduser().resolve()
    utts = read_utterances(root, options["repeated_rater"])
    names = emotion_set.names
    rows, missing = [], []
    for utt in utts:
        counts = _keep(utt, names, selection, options)
        if counts is None:
            continue
        stem = utt.file_name[:-4] if utt.file_name.lower().endswith(".wav") else utt.file_name
        wav = root / "Audios" / (stem + ".wav")
        exists = wav.is_file()
        if not exists:
            missing.append(wav)
        transcript = root / "Transcripts" / f"{stem}.txt"
        podcast = _PODCAST.match(stem)
        rows.append({
            "utt_id": stem, "dataset": "msp-podcast", "audio_path": str(wav) if exists else None,
            "counts": counts, "selection": selection, "consensus": utt.consensus,
            "annotations": json.dumps({w: [p, *s] for w, (p, s) in utt.ratings.items()}),
            "speaker": utt.speaker, "split": utt.split, "session": int(podcast.group(1)) if podcast else None,
            "transcript": transcript.read_text(encoding="utf-8", errors="replace").strip()
            if transcript.is_file() else None,
        })
    df = finish_manifest(rows, missing, labels_only=labels_only, source=root,
                         rule=f"MSP-Podcast rule {selection!r}", emotion_set=emotion_set)
    counts = {rule: sum(_keep(u, names, rule, options) is not None for u in utts) for rule in RULES}
    return df, counts


SPEC = DatasetSpec(
    name="msp-podcast",
    description="MSP-Podcast: 5+ raters' primary (and secondary) emotions per podcast segment",
    prepare=_prepare,
    label_classes=tuple(PRIMARY_CLASSES.values()),
    selection_rules=RULES, default_selection=DEFAULT_VOTE_RULE,
    rule_title="MSP-Podcast rule", options_model=MSPPodcastOptions, root_marker="Labels",
    root_help="the MSP-Podcast release folder (Labels/ + Audios/; labels alone suffice with --labels-only)",
    source="MSP-Podcast (Lotfian & Busso 2019), academic licence from UT Dallas (MSP lab): "
           "https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html",
)
