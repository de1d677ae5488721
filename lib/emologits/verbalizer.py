r"""The verbalizer: each emotion class -> its surface forms -> their subword token ids (paper sec. 3.4.2).

Shared by the inference runner (which captures the logits of :func:`tracked_token_ids` at every
generated step) and by token-level extraction (which averages them per word, eq. 1).

Surface forms come from an emotion set (``EmotionSet.surface_forms()``, any N >= 2 classes, in the
set's order). The default is ``paper4``'s: the words as the model writes them in the paper's response
format ``"Happiness: 0%, Neutral: 0%, Sadness: 35%, Anger: 65%"`` (capitalised nouns) plus
``"Angry"``, the single prompt's choice word for anger. Lower-case forms are not defaults (the
paper's format is capitalised).

Word-initial pieces. A word in that format occurs in two positions, which tokenize differently:

* ``"start"``: the response's first word, right after the chat template's newline (Qwen2-Audio's
  assistant turn, LTU-AS's ``"### Response:\n"``): encode(``"Response:\n"`` + word) minus the ids of
  encode(``"Response:\n"``);
* ``"after_space"``: a later word, after ``", "``: encode(``"Sadness: 35%, "`` + word) minus the ids of
  encode(``"Sadness: 35%,"``), so the space is attached exactly as the tokenizer attaches it inside a
  response (SentencePiece's stray ``"▁"`` piece of a bare ``" " + word`` never appears).

Byte-level BPE (Qwen2): ``"H" "appiness"`` vs ``"ĠHappiness"``. SentencePiece (LLaMA): no ``"▁"``
after the newline (``"H" "app" "iness"``), ``"▁H" "app" "iness"`` after a space. Leading pieces that
decode to whitespace only (a bare ``"Ġ"`` when a BPE has ``"Happiness"`` but no ``"ĠHappiness"``) belong
to the separator, not the word, and are dropped. Distinct id sequences become separate surface-form
entries.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emologits.emotions import PAPER4, EmotionSet

#: paper4's class -> surface forms (``emotion_sets/paper4.yaml``): as written word-initially in the
#: paper's response format (sec. 3.4.1) plus the single prompt's "Angry" (sec. 5.2).
DEFAULT_SURFACE_FORMS: dict[str, tuple[str, ...]] = PAPER4.surface_forms()

#: What :func:`class_token_ids` accepts: class -> surface forms, or an emotion set.
SurfaceForms = Mapping[str, Sequence[str]] | EmotionSet

#: Word positions whose tokenizations count as surface-form entries (see module docstring).
POSITIONS: tuple[str, ...] = ("start", "after_space")

#: Text preceding a word in each position; the word's ids are those after the context's ids.
#: "start": the first word of a response, which every chat template (Qwen2-Audio's, LTU-AS's
#: "### Response:\n") places right after a newline, so SentencePiece gives no "▁" there
#: ("Ang", "er") while byte-level BPE gives no "Ġ"; "after_space": a later word, after ", ".
#: Each entry is (context, joiner): the word is encoded as context + joiner + word, and the joiner
#: (the space) belongs to the word's first piece, as tokenizers attach it ("▁An", "ĠAng").
_CONTEXTS: dict[str, tuple[str, str]] = {"start": ("Response:\n", ""), "after_space": ("Sadness: 35%,", " ")}


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Ids without special tokens; works for transformers tokenizers and raw ``tokenizers.Tokenizer``."""
    encoded = tokenizer.encode(text, add_special_tokens=False)
    return [int(i) for i in getattr(encoded, "ids", encoded)]


def word_token_ids(tokenizer: Any, word: str, position: str = "start") -> list[int]:
    """Token ids of ``word`` as it appears at ``position`` ("start" or "after_space") in a response,
    without leading pieces that decode to whitespace only (they belong to the separator)."""
    if position not in _CONTEXTS:
        raise ValueError(f"unknown position {position!r}; expected one of {POSITIONS}")
    context, joiner = _CONTEXTS[position]
    prefix = _encode(tokenizer, context)
    full = _encode(tokenizer, context + joiner + word)
    if full[: len(prefix)] != prefix:
        raise ValueError(f"tokenizer merges {word!r} with the text before it; cannot isolate its pieces")
    ids = full[len(prefix):]
    while len(ids) > 1 and not tokenizer.decode([ids[0]]).strip():
        ids = ids[1:]
    if not ids:
        raise ValueError(f"surface form {word!r} tokenizes to no ids")
    return ids


def check_surface_forms(surface_forms: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Validate a class -> surface forms mapping: at least two classes (non-empty string names), each
    a non-empty list of non-empty strings. Returns it as lists, in the mapping's order; raises
    ``ValueError`` otherwise."""
    if not isinstance(surface_forms, Mapping) or len(surface_forms) < 2:
        got = sorted(surface_forms) if isinstance(surface_forms, Mapping) else repr(surface_forms)
        raise ValueError(f"surface_forms must map at least two classes to their surface forms; got {got}")
    out: dict[str, list[str]] = {}
    for emotion, forms in surface_forms.items():
        if not isinstance(emotion, str) or not emotion.strip():
            raise ValueError(f"surface_forms: class names must be non-empty strings; got {emotion!r}")
        if isinstance(forms, str) or not forms or not all(isinstance(f, str) and f.strip() for f in forms):
            raise ValueError(f"surface_forms[{emotion!r}] must be a non-empty list of non-empty strings")
        out[emotion] = list(forms)
    return out


def class_token_ids(tokenizer: Any, surface_forms: SurfaceForms | None = None) -> dict[str, list[list[int]]]:
    """Per class (in the order of ``surface_forms``), one token-id list per distinct tokenization of
    each surface form at each of :data:`POSITIONS` (form-major, duplicates removed).

    ``surface_forms``: a class -> surface forms mapping (see :func:`check_surface_forms`) or an
    :class:`~emologits.emotions.EmotionSet` (its ``surface_forms()``); default paper4's
    (:data:`DEFAULT_SURFACE_FORMS`)."""
    if isinstance(surface_forms, EmotionSet):
        surface_forms = surface_forms.surface_forms()
    forms = check_surface_forms(DEFAULT_SURFACE_FORMS if surface_forms is None else surface_forms)
    out: dict[str, list[list[int]]] = {}
    for emotion, words in forms.items():
        entries: list[list[int]] = []
        for word in words:
            for position in POSITIONS:
                ids = word_token_ids(tokenizer, word, position)
                if ids not in entries:
                    entries.append(ids)
        out[emotion] = entries
    return out


def tracked_token_ids(tokenizer: Any, surface_forms: SurfaceForms | None = None) -> list[int]:
    """Sorted unique union of all ids of :func:`class_token_ids`: what the runner captures per step."""
    return union_token_ids(class_token_ids(tokenizer, surface_forms))


def union_token_ids(class_ids: Mapping[str, Sequence[Sequence[int]]]) -> list[int]:
    """Sorted unique union of the ids of a :func:`class_token_ids` result."""
    return sorted({i for entries in class_ids.values() for ids in entries for i in ids})
