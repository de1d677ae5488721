"""Text-level analysis (paper sec. 3.4.1): generated text -> a distribution over an emotion set's classes.

``parse_distribution`` reads answers to distribution prompts ("Happiness: 0%, Neutral: 0%, Sadness:
35%, Anger: 65%"); ``parse_single_label`` reads answers to the single prompt (sec. 5.2). Both return a
result with a short ``reason`` code when the text gives no valid answer; invalid answers are counted
per run (:func:`invalid_report`), never dropped. The words read as each class, and the other emotion
words, come from the emotion set (``EmotionSet.synonyms()``, ``other_words()``; default paper4, the
paper's four classes). All conventions: docs/conventions.md, "Text-level parsing".
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from emologits.emotions import PAPER4, EmotionSet, get_emotion_set
from emologits.extract.common import (STATUS_OK, distribution_frame, failed_inference_reason,
                                      invalid_report, invalid_row, valid_row)

__all__ = ["ParsedDistribution", "ParsedLabel", "parse_distribution", "parse_single_label",
           "text_distributions", "invalid_report", "SYNONYMS", "LABEL_PHRASES", "OTHER_EMOTIONS"]

#: paper4's words read as each class (lower case; matched as whole words, any case in the text):
#: ``PAPER4.synonyms()``; another set's are its ``synonyms()``.
SYNONYMS: dict[str, str] = PAPER4.synonyms()

#: Label names of several words read as one class word (IEMOCAP's own name "Neutral state", which
#: models echo); words separated by spaces, tabs, ``_`` or markdown marks. The word is then read as
#: any word: a class word of a set with a neutral class (every shipped set), else an other emotion.
LABEL_PHRASES: dict[str, str] = {"neutral state": "neutral"}
_PHRASES = [(re.compile(r"\b" + r"[ \t]+".join(map(re.escape, phrase.split())) + r"\b"), word)
            for phrase, word in LABEL_PHRASES.items()]

#: Emotion words outside paper4's classes (``PAPER4.other_words()``): their percentages are dropped
#: (the set's classes are then renormalised) and the result carries the note ``extra_emotions``.
OTHER_EMOTIONS: frozenset[str] = PAPER4.other_words()
#: Other-emotion words that do not name an emotion themselves ("other emotion"): not an answer to
#: the single prompt.
_GENERIC = frozenset({"emotion", "other", "others"})

# Horizontal space, separators and filler words allowed between a label and its number ("Anger: 65%",
# "Anger - 65%", "| Anger | 65% |", '"anger": 0.65', "anger is about 65%", "anger (65%)").
_CONN_LABEL_FIRST = (r"(?:[ \t]+|[:=~≈>(\[|/\"']|-(?=[ \t])|\b(?:is|at|of|about|around|approximately|approx"
                     r"|roughly|likelihood|probability|score|level|estimated)\b\.?){0,12}")
# Between a number and its label ("65% anger", "65% chance of anger", "65 % likely angry").
_CONN_NUMBER_FIRST = r"(?:[ \t]+|\b(?:of|for|is|are|chance|likely|likelihood|probability)\b){0,12}"
_NUMBER = r"(?P<sign>-?)(?P<num>\d+(?:\.\d+)?|\.\d+)(?:[ \t]*-[ \t]*(?P<num2>\d+(?:\.\d+)?))?[ \t]*(?P<pct>%)?"
_LABEL_FIRST = re.compile(r"\b(?P<label>[a-z]+)" + _CONN_LABEL_FIRST + _NUMBER)
_NUMBER_FIRST = re.compile(r"(?<![\w.])" + _NUMBER + _CONN_NUMBER_FIRST + r"(?P<label>[a-z]+)\b")
_WORD = re.compile(r"[a-z]+")
_SENTENCE_END = re.compile(r"[.!?;\n]")
# A negation directly before a word ("not happy", "isn't sad", "neither happy nor sad", "no anger").
_NEGATED = re.compile(r"(?:\b(?:not|never|no|neither|nor)|n['’]t)[ \t]+$")


@dataclass(frozen=True)
class ParsedDistribution:
    """``probs``: dict over the set's classes (in its order) summing to 1, or None; ``reason``: None
    when valid, else a code. ``notes``: non-fatal observations (``missing_classes``,
    ``extra_emotions``, ``sum_not_100``, ``range_midpoint``, ``mixed_scale``)."""

    probs: dict[str, float] | None
    reason: str | None
    notes: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class ParsedLabel:
    """``label``: one of the set's classes or None; ``reason``: None when valid, else a code."""

    label: str | None
    reason: str | None

    @property
    def valid(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class _Vocabulary:
    """What the parser reads for one emotion set: its classes, word -> class, the other emotion words."""

    classes: tuple[str, ...]
    synonyms: dict[str, str]
    other: frozenset[str]


def _vocabulary(emotion_set: EmotionSet | str | None) -> _Vocabulary:
    es = get_emotion_set(emotion_set)
    return _Vocabulary(es.names, es.synonyms(), es.other_words())


def _normalize(text: str) -> str:
    """Lower case; markdown emphasis/headers/code marks to spaces; percent and dash variants unified;
    :data:`LABEL_PHRASES` to their word."""
    text = text.lower().replace("\u00a0", " ").replace("％", "%").replace("−", "-")
    text = text.replace("–", "-").replace("—", "-")
    text = re.sub(r"\bper[ \t]?cent(age)?s?\b|\bpct\b", "%", text)
    text = re.sub(r"[*_`#]", " ", text)
    for pattern, word in _PHRASES:
        text = pattern.sub(word, text)
    return text


def _pairs(pattern: re.Pattern[str], text: str) -> list[tuple[str, float, bool, bool]]:
    """(word, value, has_percent, was_range) for every label/number match of one pattern."""
    out = []
    for m in pattern.finditer(text):
        value = float(m["num"])
        was_range = m["num2"] is not None
        if was_range:
            value = (value + float(m["num2"])) / 2.0
        if m["sign"]:
            value = -value
        out.append((m["label"], value, m["pct"] is not None, was_range))
    return out


def _known(pairs: list[tuple[str, float, bool, bool]], synonyms: dict[str, str]) -> int:
    return len({synonyms[w] for w, *_ in pairs if w in synonyms})


def _is_missing(text: object) -> bool:
    return text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip()


def parse_distribution(text: str | None, emotion_set: EmotionSet | str | None = None) -> ParsedDistribution:
    """Parse a distribution answer (sec. 3.4.1) over ``emotion_set``'s classes (a set, its name or
    file; default paper4) and normalise it to sum to 1 (sec. 3.3, output constraints). Reasons:
    ``empty``, ``no_distribution``, ``conflicting_values``, ``nonfinite_value``, ``negative_value``,
    ``all_zero``."""
    return _parse_distribution(text, _vocabulary(emotion_set))


def _parse_distribution(text: str | None, vocab: _Vocabulary) -> ParsedDistribution:
    if _is_missing(text):
        return ParsedDistribution(None, "empty")
    synonyms = vocab.synonyms
    norm = _normalize(str(text))
    label_first = _pairs(_LABEL_FIRST, norm)
    number_first = _pairs(_NUMBER_FIRST, norm)
    pairs = number_first if _known(number_first, synonyms) > _known(label_first, synonyms) else label_first

    values: dict[str, float] = {}
    notes: list[str] = []
    any_percent = any(has_pct for w, _, has_pct, _ in pairs if w in synonyms)
    for word, value, has_pct, was_range in pairs:
        if word in synonyms:
            emotion = synonyms[word]
            if any_percent and not has_pct and 0 < abs(value) < 1:
                value *= 100.0  # a fraction among percentages ("Anger: 65%, Sadness: 0.35")
                if "mixed_scale" not in notes:
                    notes.append("mixed_scale")
            if emotion in values and values[emotion] != value:
                return ParsedDistribution(None, "conflicting_values")
            values[emotion] = value
            if was_range and "range_midpoint" not in notes:
                notes.append("range_midpoint")
        elif word in vocab.other and "extra_emotions" not in notes:
            notes.append("extra_emotions")
    if not values:
        return ParsedDistribution(None, "no_distribution")
    if not all(math.isfinite(v) for v in values.values()):
        return ParsedDistribution(None, "nonfinite_value")
    if any(v < 0 for v in values.values()):
        return ParsedDistribution(None, "negative_value")
    total = sum(values.values())
    if total <= 0:
        return ParsedDistribution(None, "all_zero")
    if len(values) < len(vocab.classes):
        notes.append("missing_classes")
    expected = 100.0 if any_percent or max(values.values()) > 1.0 else 1.0
    if abs(total - expected) > 0.005 * expected:
        notes.append("sum_not_100")
    probs = {e: values.get(e, 0.0) / total for e in vocab.classes}
    return ParsedDistribution(probs, None, tuple(notes))


def _affirmed_words(text: str) -> list[str]:
    """The words of (normalised) ``text`` that no negation directly precedes."""
    return [m[0] for m in _WORD.finditer(text) if not _NEGATED.search(text, 0, m.start())]


def _named_classes(text: str, synonyms: dict[str, str]) -> set[str]:
    return {synonyms[w] for w in _affirmed_words(text) if w in synonyms}


def parse_single_label(text: str | None, emotion_set: EmotionSet | str | None = None) -> ParsedLabel:
    """Parse an answer to the single prompt (sec. 5.2) into one of ``emotion_set``'s classes (a set,
    its name or file; default paper4). Emotion words directly after a negation (not, n't, never, no,
    neither, nor) are skipped. The label is the class named when all remaining class words name the
    same class, else the one class named in the text's first sentence (split at . ! ? ; and
    newlines), if it names exactly one. Reasons: ``empty``, ``other_emotion`` (only emotions outside
    the set named), ``no_label``, ``multiple_labels``."""
    return _parse_single_label(text, _vocabulary(emotion_set))


def _parse_single_label(text: str | None, vocab: _Vocabulary) -> ParsedLabel:
    if _is_missing(text):
        return ParsedLabel(None, "empty")
    norm = _normalize(str(text))
    named = _named_classes(norm, vocab.synonyms)
    if not named:
        if any(w in vocab.other - _GENERIC for w in _affirmed_words(norm)):
            return ParsedLabel(None, "other_emotion")
        return ParsedLabel(None, "no_label")
    if len(named) == 1:
        return ParsedLabel(named.pop(), None)
    # several classes named: the answer's first sentence decides when it names exactly one
    first = next(seg for seg in _SENTENCE_END.split(norm) if _WORD.search(seg))
    first_named = _named_classes(first, vocab.synonyms)
    if len(first_named) == 1:
        return ParsedLabel(first_named.pop(), None)
    return ParsedLabel(None, "multiple_labels")


def text_distributions(records: pd.DataFrame, prompt_kind: str,
                       emotion_set: EmotionSet | str | None = None) -> pd.DataFrame:
    """Inference records (``utt_id, status, error, text``) -> predicted-distribution table over
    ``emotion_set``'s classes (columns ``p_<class>``; default paper4). ``prompt_kind``
    "distribution" parses percentages; "single" gives a one-hot distribution on the parsed label.
    Records whose status is not "ok" are invalid with ``inference_failed:<error>``."""
    if prompt_kind not in ("distribution", "single"):
        raise ValueError(f"prompt_kind must be 'distribution' or 'single'; got {prompt_kind!r}")
    missing = {"utt_id", "status", "error", "text"} - set(records.columns)
    if missing:
        raise ValueError(f"inference records lack columns {sorted(missing)}")
    es = get_emotion_set(emotion_set)
    vocab = _vocabulary(es)
    rows = []
    for rec in records.itertuples(index=False):
        if rec.status != STATUS_OK:
            rows.append(invalid_row(rec.utt_id, failed_inference_reason(rec.error)))
        elif prompt_kind == "distribution":
            parsed = _parse_distribution(rec.text, vocab)
            rows.append(valid_row(rec.utt_id, parsed.probs) if parsed.probs is not None
                        else invalid_row(rec.utt_id, parsed.reason))
        else:
            label = _parse_single_label(rec.text, vocab)
            rows.append(valid_row(rec.utt_id, {e: float(e == label.label) for e in vocab.classes})
                        if label.label is not None else invalid_row(rec.utt_id, label.reason))
    return distribution_frame(rows, es)
