"""MSP-IMPROV: ground-truth distributions from the per-rater evaluation file (paper sec. 4.1).

``--root`` is the release folder: ``Evaluation.txt`` and the audio under
``session<N>/<S..>/<type>/MSP-IMPROV-<...>.wav`` (found by name anywhere below the root, so an
``Audio/session<N>/...`` unpacking works too).
``Evaluation.txt`` holds one block per utterance: a header line, then one line per rater::

    UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:2.5; V:1.8; D:3.0 ; N:3.5;
    rater12; Angry; Frustrated; A:3.0; V:2.0; D:3.0; N:4.0;

The header's letter is the consensus (A, H, S, N; O other, X no agreement); a rater's second field
is one of ``RATER_CLASSES`` (Angry, Happy, Sad, Neutral: the corpus's own categories, which are
``paper4``'s four classes) or ``Other``; the third field keeps any further labels, free text that
may be empty or hold ``;`` (kept raw in ``annotations``). Values may be ``NaN``. The utterance id is the file name with ``MSP-IMPROV-`` in place of
``UTD-IMPROV-``; its speaker (``F01``) gives the session (1-6). There is no official split.
"""
from __future__ import annotations

import json
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

EVALUATION_FILE = "Evaluation.txt"
#: A rater's label -> class (``Other``: none).
RATER_CLASSES: dict[str, str | None] = {
    "Angry": "anger", "Happy": "happiness", "Sad": "sadness", "Neutral": "neutral", "Other": None}
#: Header consensus letter -> class (O: other, X: no agreement).
CONSENSUS_CLASSES: dict[str, str | None] = {
    "A": "anger", "H": "happiness", "S": "sadness", "N": "neutral", "O": None, "X": None}
_NUM = r"[^;]*"
_HEADER = re.compile(rf"^UTD-IMPROV-(?P<id>[A-Za-z0-9-]+)\.avi\s*;\s*(?P<cons>[A-Z])\s*;\s*A:{_NUM};\s*V:{_NUM};"
                     rf"\s*D:{_NUM};\s*N:{_NUM};\s*$")
_RATER = re.compile(rf"^(?P<rater>[^;]+?)\s*;\s*(?P<label>[^;]*?)\s*;\s*(?P<other>.*?)\s*;\s*A:{_NUM};"
                    rf"\s*V:{_NUM};\s*D:{_NUM};\s*N:{_NUM};\s*$")
_SPEAKER = re.compile(r"^MSP-IMPROV-S\d+[A-Z]-(?P<speaker>[FM](?P<session>\d+))-")

RULES: dict[str, str] = {
    **VOTE_RULES,
    "consensus": "keep when the header's consensus letter names a class of the set (O and X never "
                 "do); distribution = the raters' labels in the set's classes, renormalised",
}


class MSPImprovOptions(StrictModel):
    """``data.options`` of ``msp-improv``."""

    #: A rater listed twice for an utterance (the release repeats some lines): keep the first, the
    #: last, or refuse the file.
    repeated_rater: Literal["first", "last", "error"] = "first"


@dataclass
class Utterance:
    """One utterance block of ``Evaluation.txt``."""

    utt_id: str
    line: int
    consensus: str
    #: rater -> (label, further labels as written).
    ratings: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def speaker(self) -> str | None:
        m = _SPEAKER.match(self.utt_id)
        return m["speaker"] if m else None

    @property
    def session(self) -> int | None:
        m = _SPEAKER.match(self.utt_id)
        return int(m["session"]) if m else None


def read_evaluation(root: Path, repeated_rater: str = "first") -> list[Utterance]:
    """Every utterance block of ``Evaluation.txt``; DataError naming file:line on a malformed line,
    an unknown rater label, a duplicate utterance, or a block without raters."""
    root = Path(root).expanduser()
    if root.is_file():
        raise DataError(f"{root}: a file; --root is the folder holding {EVALUATION_FILE} "
                        f"(did you mean {root.parent}?)")
    if not root.is_dir():
        raise DataError(f"{root}: MSP-IMPROV root not found (pass the folder holding {EVALUATION_FILE})")
    path = root / EVALUATION_FILE
    if not path.is_file():
        nested = [*root.glob(f"*/{EVALUATION_FILE}"), *root.parent.glob(EVALUATION_FILE),
                  *root.parent.parent.glob(EVALUATION_FILE)]
        hint = f"; did you mean {nested[0].parent}?" if nested else ""
        raise DataError(f"{path}: not found (--root must hold {EVALUATION_FILE}){hint}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    utts: dict[str, Utterance] = {}
    current: Utterance | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line:
            continue
        if line.startswith("UTD-IMPROV-"):
            m = _HEADER.match(line)
            if not m:
                raise DataError(f"{where}: malformed utterance header {line!r} (expected "
                                "'UTD-IMPROV-<id>.avi; <letter>; A:x; V:y; D:z ; N:w;')")
            if m["cons"] not in CONSENSUS_CLASSES:
                raise DataError(f"{where}: consensus letter {m['cons']!r} is not one of "
                                f"{', '.join(CONSENSUS_CLASSES)}")
            utt_id = f"MSP-IMPROV-{m['id']}"
            if utt_id in utts:
                raise DataError(f"{where}: duplicate utterance {utt_id} (first on line {utts[utt_id].line})")
            current = utts[utt_id] = Utterance(utt_id, number, m["cons"])
            continue
        m = _RATER.match(line)
        if not m:
            raise DataError(f"{where}: malformed line {line!r} (expected a header 'UTD-IMPROV-...' or a "
                            "rater line 'rater; Label; other labels; A:x; V:y; D:z; N:w;')")
        if current is None:
            raise DataError(f"{where}: rater line before any utterance header")
        if m["label"] not in RATER_CLASSES:
            raise DataError(f"{where}: rater label {m['label']!r} is not one of {', '.join(RATER_CLASSES)}")
        rater = m["rater"]
        if rater in current.ratings:
            if repeated_rater == "error":
                raise DataError(f"{where}: rater {rater!r} rated {current.utt_id} twice")
            if repeated_rater == "first":
                continue
        current.ratings[rater] = (m["label"], m["other"])
    if not utts:
        raise DataError(f"{path}: no utterance headers ('UTD-IMPROV-<id>.avi; ...')")
    for utt in utts.values():
        if not utt.ratings:
            raise DataError(f"{path}:{utt.line}: utterance {utt.utt_id} has no rater line")
    return list(utts.values())


def _votes(utt: Utterance) -> Counter:
    return Counter(RATER_CLASSES[label] for label, _ in utt.ratings.values())


def _keep(utt: Utterance, names: tuple[str, ...], rule: str) -> list[int] | None:
    if rule == "consensus":
        return consensus_counts(_votes(utt), names, CONSENSUS_CLASSES[utt.consensus])
    return vote_counts(_votes(utt), names, rule)


def _prepare(root: Path, *, selection: str, labels_only: bool, options: dict[str, Any],
             emotion_set: EmotionSet) -> tuple[pd.DataFrame, dict[str, int]]:
    root = Path(root).expanduser().resolve()
    utts = read_evaluation(root, options["repeated_rater"])
    audio = {p.stem: p for p in sorted(root.rglob("MSP-IMPROV-*.wav"))}
    names = emotion_set.names
    rows, missing = [], []
    for utt in utts:
        counts = _keep(utt, names, selection)
        if counts is None:
            continue
        wav = audio.get(utt.utt_id)
        if wav is None:
            missing.append(root / f"session{utt.session or '?'}" / "..." / f"{utt.utt_id}.wav")
        rows.append({
            "utt_id": utt.utt_id, "dataset": "msp-improv", "audio_path": str(wav) if wav else None,
            "counts": counts, "selection": selection, "consensus": utt.consensus,
            "annotations": json.dumps({r: [label, *([other] if other else [])]
                                       for r, (label, other) in utt.ratings.items()}),
            "speaker": utt.speaker, "session": utt.session, "split": None,
        })
    df = finish_manifest(rows, missing, labels_only=labels_only, source=root,
                         rule=f"MSP-IMPROV rule {selection!r}", emotion_set=emotion_set)
    return df, {rule: sum(_keep(u, names, rule) is not None for u in utts) for rule in RULES}


SPEC = DatasetSpec(
    name="msp-improv",
    description="MSP-IMPROV: per-rater labels (Angry, Happy, Sad, Neutral, Other) per utterance",
    prepare=_prepare,
    label_classes=tuple(c for c in RATER_CLASSES.values() if c),
    selection_rules=RULES, default_selection=DEFAULT_VOTE_RULE,
    rule_title="MSP-IMPROV rule", options_model=MSPImprovOptions, root_marker=EVALUATION_FILE,
    root_help=f"the MSP-IMPROV folder ({EVALUATION_FILE} + session*/; labels alone suffice with --labels-only)",
    source="MSP-IMPROV (Busso et al. 2017), academic licence from UT Dallas (MSP lab): "
           "https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Improv.html",
)
