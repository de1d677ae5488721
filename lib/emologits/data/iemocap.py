"""IEMOCAP: parse the dialog label files and select the subset an emotion set covers (paper sec. 4.1).

``--root`` is the ``IEMOCAP_full_release`` folder. Labels come from
``Session*/dialog/EmoEvaluation/<dialog>.txt``; each utterance block is::

    [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]
    C-E2:<TAB>Neutral;<TAB>()            categorical, external evaluator 2
    C-F1:<TAB>Neutral; Anger;<TAB>()     categorical, self-evaluation (C-F<n> / C-M<n>)
    A-E3:<TAB>val 3; act 2; dom  2;<TAB>()   attributes (not used)

Audio is at ``Session*/sentences/wav/<dialog>/<utt_id>.wav``. The paper keeps "utterances that
only include four emotion classes" (4,373) without giving the rule; ``SELECTION_RULES`` names
the rules offered, the default ``aer-llm`` being the rule of the same group's AER-LLM code
(see docs/conventions.md for the evidence). The rules are stated for any emotion set the release's
labels cover (``LABEL_CLASSES``): ``paper4`` (Excited -> happiness, the paper's 4,370 with
``aer-llm``) and ``cremad6`` (Fear and Disgust too); ``msp8`` needs contempt, which IEMOCAP's
annotators could not choose.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from emologits.data.manifest import finish_manifest
from emologits.data.spec import DatasetSpec
from emologits.emotions import PAPER4, EmotionSet, get_emotion_set
from emologits.errors import DataError

#: Every categorical label in the release -> the emotion class it names (``Other``: none). A set
#: takes the labels naming its classes (Excited -> happiness, as in the paper); anything else in a
#: C- line is a DataError.
LABEL_CLASSES: dict[str, str | None] = {
    "Anger": "anger", "Happiness": "happiness", "Excited": "happiness", "Sadness": "sadness",
    "Neutral": "neutral", "Frustration": "frustration", "Surprise": "surprise", "Fear": "fear",
    "Disgust": "disgust", "Other": None,
}
KNOWN_LABELS: frozenset[str] = frozenset(LABEL_CLASSES)
#: Header consensus codes -> class (``oth``: Other; ``xxx`` = no agreement, not listed).
CONSENSUS_CLASSES: dict[str, str | None] = {
    "ang": "anger", "hap": "happiness", "exc": "happiness", "sad": "sadness", "neu": "neutral",
    "fru": "frustration", "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": None,
}


def label_map(emotion_set: str | EmotionSet | None = None) -> dict[str, str]:
    """IEMOCAP label -> class of ``emotion_set`` (default paper4), for the labels naming one."""
    names = get_emotion_set(emotion_set).names
    return {label: c for label, c in LABEL_CLASSES.items() if c in names}


#: paper4's labels: the paper's four classes (Excited -> happiness).
LABEL_TO_CLASS: dict[str, str] = label_map(PAPER4)
#: paper4's consensus codes.
CONSENSUS_TO_CLASS: dict[str, str] = {k: c for k, c in CONSENSUS_CLASSES.items() if c in PAPER4.names}

DEFAULT_SELECTION = "aer-llm"
#: Selection rule name -> one-line description (the ``--selection`` choices).
SELECTION_RULES: dict[str, str] = {
    "aer-llm": "keep when the first label of every external evaluator (C-E) names a class of the "
               "emotion set (Excited->happiness); distribution = those first labels, one count each "
               "(AER-LLM's rule; self-evaluations excluded)",
    "consensus": "keep when the release's consensus label (header) names a class of the set "
                 "(paper4: ang/hap/exc/sad/neu); distribution = the external evaluators' first "
                 "labels in the set's classes, renormalised",
    "all-labels": "keep when every label of every external evaluator names a class of the set; "
                  "distribution = all those labels, one count each",
}

_HEADER = re.compile(
    r"^\[(?P<start>\d+(?:\.\d+)?) - (?P<end>\d+(?:\.\d+)?)\]\t(?P<utt>\S+)\t(?P<cons>[a-z]+)\t"
    r"\[(?P<vad>[^\]]*)\]\s*$")
_CATEGORICAL = re.compile(r"^C-(?P<rater>[EFM]\d+):\t(?P<labels>[^\t]*)\t\((?P<comment>.*)\)\s*$")
_ATTRIBUTE = re.compile(r"^A-[EFM]\d+:\t")


@dataclass
class Utterance:
    """One utterance block of a label file."""

    utt_id: str
    dialog: str
    session: int
    start_s: float
    end_s: float
    consensus: str
    file: Path
    line: int
    #: (rater code such as "E2" / "F1" / "M3", its labels in order), in file order.
    evaluations: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def external(self) -> list[list[str]]:
        """Labels of the external evaluators (C-E lines) only."""
        return [labels for rater, labels in self.evaluations if rater.startswith("E")]

    @property
    def speaker(self) -> str:
        """The speaking actor, e.g. ``Ses01F``: session + gender letter of the id's last part."""
        return f"{self.utt_id[:5]}{self.utt_id.rsplit('_', 1)[-1][0]}"


def parse_label_file(path: Path) -> list[Utterance]:
    """All utterance blocks of one ``EmoEvaluation/<dialog>.txt``; DataError names file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: label file not found") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8/ASCII text label file ({exc.reason} at byte {exc.start})") from exc
    dialog = path.stem
    session_match = (re.fullmatch(r"Session(\d+)", path.parent.parent.parent.name)
                     or re.match(r"Ses(\d+)", dialog))
    session = int(session_match.group(1)) if session_match else 0
    utterances: list[Utterance] = []
    current: Utterance | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        where = f"{path}:{number}"
        if not line.strip() or line.startswith("%"):
            continue
        if line.startswith("["):
            m = _HEADER.match(line)
            if not m:
                raise DataError(f"{where}: malformed utterance header {line!r} (expected "
                                "'[start - end]<TAB>utt_id<TAB>label<TAB>[V, A, D]')")
            start, end = float(m["start"]), float(m["end"])
            if end < start:
                raise DataError(f"{where}: end time {end} is before start time {start}")
            current = Utterance(m["utt"], dialog, session,
                                start, end, m["cons"], path, number)
            utterances.append(current)
        elif line.startswith("C-"):
            m = _CATEGORICAL.match(line)
            if not m:
                raise DataError(f"{where}: malformed evaluator line {line!r} (expected "
                                "'C-E<n>:<TAB>Label; Label;<TAB>(comment)')")
            if current is None:
                raise DataError(f"{where}: evaluator line before any utterance header")
            labels = [lab.strip() for lab in m["labels"].split(";") if lab.strip()]
            if not labels and m["rater"].startswith("E"):
                # The release has 5 empty self-evaluation lines ("C-F1:\t;\t()"), kept as [];
                # an external evaluator without a label would leave the rules undefined.
                raise DataError(f"{where}: external evaluator line without a label")
            unknown = [lab for lab in labels if lab not in KNOWN_LABELS]
            if unknown:
                raise DataError(f"{where}: unknown label(s) {unknown}; known: {sorted(KNOWN_LABELS)}")
            current.evaluations.append((m["rater"], labels))
        elif line.startswith("A-"):
            if not _ATTRIBUTE.match(line) or current is None:
                raise DataError(f"{where}: malformed attribute line {line!r}")
        else:
            raise DataError(f"{where}: unexpected line {line!r}")
    if not utterances:
        raise DataError(f"{path}: no utterance blocks (expected lines like '[start - end]<TAB>utt_id…')")
    for utt in utterances:
        if not utt.external:
            raise DataError(f"{path}:{utt.line}: utterance {utt.utt_id} has no external evaluator "
                            "line (C-E<n>)")
    return utterances


def find_label_files(root: Path) -> list[Path]:
    """The dialog label files under an ``IEMOCAP_full_release`` root, sorted; DataError when the
    root is wrong or a session/dialog lacks its label file."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: IEMOCAP root not found (pass the IEMOCAP_full_release folder)")
    sessions = sorted(p for p in root.glob("Session*") if p.is_dir())
    if not sessions:
        hint = ""
        nested = [p for p in root.glob("*/Session*") if p.is_dir()]
        if nested:
            hint = f"; did you mean {nested[0].parent}?"
        raise DataError(f"{root}: no Session*/ folders; --root must be the IEMOCAP_full_release "
                        f"folder{hint}")
    files: list[Path] = []
    for session in sessions:
        label_dir = session / "dialog" / "EmoEvaluation"
        found = sorted(p for p in label_dir.glob("*.txt") if not p.name.startswith("."))
        if not found:
            raise DataError(f"{label_dir}: no label files (*.txt) for {session.name}")
        wav_dir = session / "sentences" / "wav"
        if wav_dir.is_dir():
            stems = {p.stem for p in found}
            for dialog in sorted(p.name for p in wav_dir.iterdir() if p.is_dir()):
                if dialog not in stems:
                    raise DataError(f"{label_dir / (dialog + '.txt')}: label file missing for the "
                                    f"audio folder {wav_dir / dialog}")
        files.extend(found)
    return files


def read_utterances(root: Path) -> list[Utterance]:
    """Every utterance of every label file under ``root``; DataError on duplicate ids."""
    seen: dict[str, Utterance] = {}
    out: list[Utterance] = []
    for path in tqdm(find_label_files(root), desc="label files", unit="file", leave=False, disable=None):
        for utt in parse_label_file(path):
            if utt.utt_id in seen:
                first = seen[utt.utt_id]
                raise DataError(f"{utt.file}:{utt.line}: duplicate utterance id {utt.utt_id} "
                                f"(first at {first.file}:{first.line})")
            seen[utt.utt_id] = utt
            out.append(utt)
    return out


@dataclass(frozen=True)
class _SetLabels:
    """An emotion set seen through IEMOCAP's labels: which labels / consensus codes name its classes."""

    names: tuple[str, ...]
    label: dict[str, str]
    consensus: frozenset[str]

    @classmethod
    def of(cls, emotion_set: str | EmotionSet | None) -> _SetLabels:
        es = get_emotion_set(emotion_set)
        return cls(es.names, label_map(es),
                   frozenset(k for k, c in CONSENSUS_CLASSES.items() if c in es.names))

    def counts(self, labels: list[str]) -> list[int]:
        classes = [self.label[lab] for lab in labels]
        return [classes.count(c) for c in self.names]


def _rule_aer_llm(utt: Utterance, s: _SetLabels) -> list[int] | None:
    firsts = [labels[0] for labels in utt.external]
    return s.counts(firsts) if all(lab in s.label for lab in firsts) else None


def _rule_consensus(utt: Utterance, s: _SetLabels) -> list[int] | None:
    if utt.consensus not in s.consensus:
        return None
    in_set = [labels[0] for labels in utt.external if labels[0] in s.label]
    return s.counts(in_set) if in_set else None


def _rule_all_labels(utt: Utterance, s: _SetLabels) -> list[int] | None:
    every = [lab for labels in utt.external for lab in labels]
    return s.counts(every) if all(lab in s.label for lab in every) else None


#: Rule name -> function(utterance, set labels) -> in-set counts (set order), or None to drop it.
_RULES: dict[str, Callable[[Utterance, _SetLabels], list[int] | None]] = {
    "aer-llm": _rule_aer_llm, "consensus": _rule_consensus, "all-labels": _rule_all_labels}


def _check_rule(selection: str) -> Callable[[Utterance, _SetLabels], list[int] | None]:
    if selection not in _RULES:
        raise DataError(f"unknown IEMOCAP selection rule {selection!r}; choose from {list(SELECTION_RULES)}")
    return _RULES[selection]


def selection_counts(root: Path, utterances: list[Utterance] | None = None,
                     emotion_set: str | EmotionSet | None = None) -> dict[str, int]:
    """Number of utterances each selection rule keeps for ``emotion_set`` (default paper4; labels
    only, audio not needed); ``utterances`` (from :func:`read_utterances`) saves reading ``root`` again."""
    utterances = read_utterances(root) if utterances is None else utterances
    s = _SetLabels.of(emotion_set)
    return {name: sum(rule(u, s) is not None for u in utterances) for name, rule in _RULES.items()}


#: A line of ``Session*/dialog/transcriptions/<dialog>.txt``: ``<utt_id> [start-end]: <text>``.
_TRANSCRIPT_LINE = re.compile(r"^(Ses\w+)\s+\[[\d.]+\s*-\s*[\d.]+\]:\s?(.*)$")


def read_transcripts(root: Path) -> dict[str, str]:
    """utt_id -> the release's transcript (``Session*/dialog/transcriptions/*.txt``); empty when the
    release's transcription files are absent. Lines without an utterance id are skipped."""
    out: dict[str, str] = {}
    for path in sorted(Path(root).glob("Session*/dialog/transcriptions/*.txt")):
        for line in path.read_text(errors="replace").splitlines():
            match = _TRANSCRIPT_LINE.match(line.strip())
            if match:
                out[match.group(1)] = match.group(2).strip()
    return out


def audio_path(root: Path, utt: Utterance) -> Path:
    """Where the release keeps an utterance's audio."""
    return Path(root) / f"Session{utt.session}" / "sentences" / "wav" / utt.dialog / f"{utt.utt_id}.wav"


def prepare_iemocap(root: Path, *, selection: str | None = None, labels_only: bool = False,
                    dataset: str = "iemocap", utterances: list[Utterance] | None = None,
                    emotion_set: str | EmotionSet | None = None) -> pd.DataFrame:
    """Manifest over ``emotion_set`` (default paper4) of the utterances that ``selection`` keeps,
    with their ground-truth distributions.

    Without ``labels_only`` every kept utterance must have its audio file (one DataError lists how
    many are missing and the first few); with it, ``audio_path`` is null where the file is absent.
    ``utterances`` (from :func:`read_utterances`) saves parsing the label files again.
    """
    selection = selection or DEFAULT_SELECTION
    rule = _check_rule(selection)
    emotion_set = SPEC.emotion_set(emotion_set)
    s = _SetLabels.of(emotion_set)
    root = Path(root).expanduser().resolve()
    utterances = read_utterances(root) if utterances is None else utterances
    transcripts = read_transcripts(root)
    rows, missing = [], []
    for utt in utterances:
        counts = rule(utt, s)
        if counts is None:
            continue
        wav = audio_path(root, utt)
        exists = wav.is_file()
        if not exists:
            missing.append(wav)
        rows.append({
            "utt_id": utt.utt_id, "dataset": dataset,
            "audio_path": str(wav) if exists else None, "counts": counts,
            "annotations": json.dumps({f"C-{rater}": labels for rater, labels in utt.evaluations}),
            "selection": selection, "session": utt.session, "dialog": utt.dialog,
            "speaker": utt.speaker, "start_s": utt.start_s, "end_s": utt.end_s,
            "consensus": utt.consensus, "transcript": transcripts.get(utt.utt_id),
        })
    return finish_manifest(rows, missing, labels_only=labels_only, source=root,
                           rule=f"selection rule {selection!r}", emotion_set=emotion_set)


def manifest_and_counts(root: Path, *, selection: str, labels_only: bool, emotion_set: EmotionSet,
                        dataset: str = "iemocap") -> tuple[pd.DataFrame, dict[str, int]]:
    """:func:`prepare_iemocap` and :func:`selection_counts` from one parse of the label files (an
    IEMOCAP-layout corpus named ``dataset``)."""
    utterances = read_utterances(root)
    return (prepare_iemocap(root, selection=selection, labels_only=labels_only, dataset=dataset,
                            utterances=utterances, emotion_set=emotion_set),
            selection_counts(root, utterances=utterances, emotion_set=emotion_set))


def _prepare(root: Path, *, selection: str, labels_only: bool, options: dict[str, Any],
             emotion_set: EmotionSet) -> tuple[pd.DataFrame, dict[str, int]]:
    return manifest_and_counts(root, selection=selection, labels_only=labels_only, emotion_set=emotion_set)


def _counts(root: Path, *, emotion_set: EmotionSet) -> dict[str, int]:
    return selection_counts(root, emotion_set=emotion_set)


SPEC = DatasetSpec(
    name="iemocap",
    description="IEMOCAP: 3 external evaluators' categorical labels per utterance (the paper's corpus)",
    prepare=_prepare, counts=_counts,
    label_classes=tuple(dict.fromkeys(c for c in LABEL_CLASSES.values() if c)),
    selection_rules=SELECTION_RULES, default_selection=DEFAULT_SELECTION,
    rule_title="IEMOCAP selection rule", root_marker="Session1",
    root_help="the IEMOCAP_full_release folder (Session1..5/; labels alone suffice with --labels-only)",
    source="IEMOCAP release, from its authors under their licence: https://sail.usc.edu/iemocap/",
)
