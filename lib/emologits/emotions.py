"""Emotion sets: the N ordered classes a distribution is over (paper sec. 3.1), as data.

An :class:`EmotionSet` is a name, the ordered classes, and per class the surface forms the
verbalizer tracks (sec. 3.4.2), the words the text parser reads (sec. 3.4.1) and the answers label
likelihood scores. Shipped sets are YAML files in ``emologits/emotion_sets/`` (``paper4``, the
paper's four classes and the default; ``cremad6``; ``msp8``); a user adds one by writing such a file
and naming its path wherever a set name is accepted (``--emotion-set my_set.yaml``,
``data.emotion_set`` in a config). Every array in the package is in the set's class order; manifests
carry ``gt_<class>`` columns, distribution tables ``p_<class>``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from emologits.errors import ConfigError

#: Where the shipped sets live (one YAML file per set; the file stem is the set's name).
SHIPPED_DIR = Path(__file__).resolve().parent / "emotion_sets"
DEFAULT_EMOTION_SET = "paper4"
#: Prompt kinds whose answers label likelihood scores (see emologits.prompts).
ANSWER_KINDS: tuple[str, ...] = ("distribution", "single")

#: Emotion words a model may name besides a set's classes; a set's ``other_words`` are these minus
#: its own class words (their percentages are dropped and noted ``extra_emotions``).
EMOTION_LEXICON: frozenset[str] = frozenset({
    "anger", "angry", "happiness", "happy", "sadness", "sad", "neutral", "neutrality",
    "fear", "fearful", "afraid", "surprise", "surprised", "disgust", "disgusted", "contempt",
    "contemptuous", "frustration", "frustrated", "excitement", "excited", "calm", "calmness", "joy",
    "joyful", "love", "boredom", "bored", "confusion", "confused", "anxiety", "anxious", "other",
    "others", "emotion"})


@dataclass(frozen=True)
class EmotionClass:
    """One class: its name, the surface forms the verbalizer tracks, the words the text parser
    reads as it, and its label-likelihood answers per prompt kind."""

    name: str
    surface_forms: tuple[str, ...]
    words: tuple[str, ...]
    answers: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class EmotionSet:
    """N ordered classes (paper sec. 3.1: the predicted distribution is over N emotion classes)."""

    name: str
    classes: tuple[EmotionClass, ...]
    description: str = ""
    source: str = ""
    _by_name: dict[str, EmotionClass] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.name: c for c in self.classes})

    @property
    def names(self) -> tuple[str, ...]:
        """The class names, in the set's order (the column order of every array)."""
        return tuple(c.name for c in self.classes)

    @property
    def n(self) -> int:
        return len(self.classes)

    @property
    def gt_columns(self) -> tuple[str, ...]:
        """Manifest columns of the ground-truth distribution: ``gt_<class>``."""
        return tuple(f"gt_{c}" for c in self.names)

    @property
    def pred_columns(self) -> tuple[str, ...]:
        """Distribution-table columns: ``p_<class>``."""
        return tuple(f"p_{c}" for c in self.names)

    def __getitem__(self, name: str) -> EmotionClass:
        return self._by_name[name]

    def surface_forms(self) -> dict[str, tuple[str, ...]]:
        """class -> surface forms (the verbalizer's input)."""
        return {c.name: c.surface_forms for c in self.classes}

    def synonyms(self) -> dict[str, str]:
        """word -> class, for the text parser."""
        return {w: c.name for c in self.classes for w in c.words}

    def other_words(self) -> frozenset[str]:
        """Emotion words that are not this set's classes (:data:`EMOTION_LEXICON` minus its words)."""
        return EMOTION_LEXICON - set(self.synonyms())

    def answers(self, prompt_kind: str) -> dict[str, tuple[str, ...]]:
        """class -> label-likelihood continuations for a prompt kind."""
        if prompt_kind not in ANSWER_KINDS:
            raise ValueError(f"prompt_kind must be one of {list(ANSWER_KINDS)}; got {prompt_kind!r}")
        return {c.name: tuple(c.answers[prompt_kind]) for c in self.classes}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value \
            or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: expected a non-empty list of non-empty strings, got {value!r}")
    return tuple(value)


def emotion_set_from_dict(raw: Mapping[str, Any], *, source: str = "<emotion set>") -> EmotionSet:
    """Validate a parsed emotion-set file (see ``emotion_sets/paper4.yaml`` for the format)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: top level must be a mapping with name, description, classes")
    unknown = sorted(set(raw) - {"name", "description", "classes"})
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known: name, description, classes")
    name, classes = raw.get("name"), raw.get("classes")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: 'name' must be a non-empty string")
    if not isinstance(classes, Mapping) or len(classes) < 2:
        raise ConfigError(f"{source}: 'classes' must map at least two class names to their words")
    built, seen_words = [], {}
    for cname, entry in classes.items():
        where = f"{source}: classes.{cname}"
        if not isinstance(cname, str) or not cname.isidentifier() or cname != cname.lower():
            raise ConfigError(f"{where}: class names must be lower-case identifiers (they name columns)")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping with surface_forms, words, answers")
        extra = sorted(set(entry) - {"surface_forms", "words", "answers"})
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {extra}; known: surface_forms, words, answers")
        forms = _strings(entry.get("surface_forms"), f"{where}.surface_forms")
        words = tuple(w.lower() for w in _strings(entry.get("words", [cname]), f"{where}.words"))
        for w in words:
            if w in seen_words:
                raise ConfigError(f"{where}.words: {w!r} is already a word of class {seen_words[w]!r}")
            seen_words[w] = cname
        answers_raw = entry.get("answers") or {kind: [forms[0]] for kind in ANSWER_KINDS}
        if not isinstance(answers_raw, Mapping) or set(answers_raw) - set(ANSWER_KINDS):
            raise ConfigError(f"{where}.answers: expected a mapping with keys among {list(ANSWER_KINDS)}")
        answers = {kind: _strings(answers_raw.get(kind, [forms[0]]), f"{where}.answers.{kind}")
                   for kind in ANSWER_KINDS}
        built.append(EmotionClass(cname, forms, words, answers))
    return EmotionSet(name=name, classes=tuple(built), description=str(raw.get("description", "")),
                      source=source)


@cache
def _load_file(path: str) -> EmotionSet:
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the emotion set file: {exc}") from None
    return emotion_set_from_dict(raw, source=path)


def shipped_emotion_sets() -> dict[str, Path]:
    """name -> file of every shipped set."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.yaml"))}


def set_spec_against(name_or_path: str, base: str | Path) -> str:
    """A shipped set's name as it is; a set file (``*.yaml``/``*.yml``) relative to ``base``, made
    absolute (``~`` expanded; an absolute path stays as it is)."""
    if name_or_path in shipped_emotion_sets() or Path(name_or_path).suffix not in (".yaml", ".yml"):
        return name_or_path
    return str(Path(base) / Path(name_or_path).expanduser())


def get_emotion_set(name_or_path: str | EmotionSet | None = None) -> EmotionSet:
    """A shipped set by name (default ``paper4``), or a set file by path (``*.yaml``)."""
    if isinstance(name_or_path, EmotionSet):
        return name_or_path
    name = name_or_path or DEFAULT_EMOTION_SET
    shipped = shipped_emotion_sets()
    if name in shipped:
        found = _load_file(str(shipped[name]))
        if found.name != name:
            raise ConfigError(f"{shipped[name]}: its name {found.name!r} differs from the file name")
        return found
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return _load_file(str(path.resolve()))
    import difflib

    close = difflib.get_close_matches(str(name), list(shipped), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown emotion set {name!r}{hint}; shipped: {', '.join(shipped)}, or the path of "
                      "a set file (see emologits/emotion_sets/paper4.yaml for the format)")


#: The paper's set, and its names as constants (the default everywhere).
PAPER4: EmotionSet = get_emotion_set(DEFAULT_EMOTION_SET)
#: Column order of the paper's (n, 4) arrays: anger, happiness, sadness, neutral.
EMOTIONS: tuple[str, ...] = PAPER4.names
#: Manifest columns of the paper's ground truth, in EMOTIONS order.
GT_COLUMNS: tuple[str, ...] = PAPER4.gt_columns
#: Columns of a paper4 distribution table (``utt_id``, these, ``valid``, ``reason``).
PRED_COLUMNS: tuple[str, ...] = PAPER4.pred_columns

__all__ = ["ANSWER_KINDS", "DEFAULT_EMOTION_SET", "EMOTIONS", "EMOTION_LEXICON", "EmotionClass", "EmotionSet",
           "GT_COLUMNS", "PAPER4", "PRED_COLUMNS", "emotion_set_from_dict", "get_emotion_set",
           "set_spec_against", "shipped_emotion_sets"]
