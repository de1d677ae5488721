"""Prompts (paper sec. 3.3 and 5.2): a prompts file (``prompts/prompts.yaml``) maps an id to its kind,
text, source and the emotion set it asks about.

- A **fixed** prompt is used verbatim and declares its emotion set (``emotion_set:``, default
  ``paper4``). The paper's two prompts, ``ambiguous`` and ``single``, are fixed, for paper4.
  ``other_sets: <template id>`` names the template a fixed prompt becomes over any other set (the
  paper's two name ``ambiguous_any`` / ``single_any``: the same wording over the set's classes), so a
  run over msp8 or cremad6 keeps the prompt ids the tables compare; the rendered text is what the
  run's records and provenance hold.
- A **template** has ``{classes}`` and/or ``{choices}`` in its text and is rendered for the run's
  emotion set (:meth:`Prompt.render`): ``{classes}`` -> the set's classes in its order, written as the
  paper writes them ("anger, happiness, sadness, and neutral"); ``{choices}`` -> each class's first
  single-prompt answer word (``answers.single`` of the set), in the set's class order, in brackets
  ("[Angry, Happiness, Sadness, Neutral]" for paper4; the paper's own list is ordered differently).

:func:`get_prompt` returns a prompt ready for a run: a template rendered, a fixed prompt checked
against the run's set (a different set is a ConfigError naming both).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from emologits.config import read_yaml
from emologits.emotions import ANSWER_KINDS, DEFAULT_EMOTION_SET, EmotionSet, get_emotion_set, set_spec_against
from emologits.errors import ConfigError

#: Prompt kinds: which text parser reads the answers (and which answers label likelihood scores).
PROMPT_KINDS: tuple[str, ...] = ANSWER_KINDS
#: Keys of one prompt entry.
PROMPT_KEYS: tuple[str, ...] = ("kind", "text", "source", "emotion_set", "other_sets")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def class_list(emotion_set: EmotionSet | str | None = None) -> str:
    """The set's classes as the paper's prompt lists them: "anger, happiness, sadness, and neutral"
    (serial comma; two classes: "anger and neutral"; ``_`` in a name read as a space)."""
    names = [n.replace("_", " ") for n in get_emotion_set(emotion_set).names]
    return " and ".join(names) if len(names) == 2 else ", ".join(names[:-1]) + ", and " + names[-1]


def choice_list(emotion_set: EmotionSet | str | None = None) -> str:
    """The single prompt's choices for a set: each class's first ``single`` answer, in the set's
    class order, in brackets ("[Angry, Happiness, Sadness, Neutral]" for paper4)."""
    answers = get_emotion_set(emotion_set).answers("single")
    return "[" + ", ".join(words[0] for words in answers.values()) + "]"


#: Template placeholders and how each is rendered for an emotion set.
PLACEHOLDERS = {"classes": class_list, "choices": choice_list}


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders of a prompt text, in order (other braces, e.g. JSON, are text)."""
    return _PLACEHOLDER.findall(text)


@dataclass(frozen=True)
class Prompt:
    """One prompt. ``emotion_set``: the name of the set a fixed prompt asks about; None for a
    template not yet rendered (see the module docstring)."""

    id: str
    kind: str  # "distribution" (percentages) or "single" (one label)
    text: str
    source: str = ""
    emotion_set: str | None = DEFAULT_EMOTION_SET
    #: The template id this fixed prompt becomes over another emotion set (None: refused there).
    other_sets: str | None = None

    @property
    def is_template(self) -> bool:
        return bool(placeholders(self.text))

    def render(self, emotion_set: EmotionSet | str | None = None) -> Prompt:
        """This prompt for a run over ``emotion_set`` (a set, its name or file; default paper4): a
        template with its placeholders filled (``emotion_set`` = the set's name); a fixed prompt
        itself when it asks about that set, else a ConfigError naming both sets."""
        es = get_emotion_set(emotion_set)
        if self.is_template:
            text = _PLACEHOLDER.sub(lambda m: PLACEHOLDERS[m[1]](es), self.text)
            return replace(self, text=text, emotion_set=es.name)
        if self.emotion_set != es.name:
            raise ConfigError(
                f"prompt {self.id!r} asks about emotion set {self.emotion_set!r}, but the run's emotion set "
                f"is {es.name!r}; use a prompt written for {es.name!r} or a template prompt "
                "({classes}/{choices}; prompts/prompts.yaml has ambiguous_any and single_any)")
        return self


def _declared_set(value: object, path: Path, pid: str) -> str:
    """The name of the set a fixed prompt declares: a shipped name, or a set file (relative to the
    prompts file)."""
    where = f"{path}: prompt {pid!r}: emotion_set"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be an emotion set name or file; got {value!r}")
    try:
        return get_emotion_set(set_spec_against(value, path.parent)).name
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _prompt(path: Path, pid: str, entry: object) -> Prompt:
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise ConfigError(f"{path}: prompt {pid!r} needs a non-empty 'text'")
    unknown = sorted(set(map(str, entry)) - set(PROMPT_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], PROMPT_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{path}: prompt {pid!r} has unknown key(s) {unknown}{hint}; known: {list(PROMPT_KEYS)}")
    kind = entry.get("kind", "distribution")
    if kind not in PROMPT_KINDS:
        raise ConfigError(f"{path}: prompt {pid!r} has kind {kind!r}; expected one of {PROMPT_KINDS}")
    text = " ".join(entry["text"].split())
    names = placeholders(text)
    bad = sorted(set(names) - set(PLACEHOLDERS))
    if bad:
        raise ConfigError(f"{path}: prompt {pid!r} has unknown placeholder(s) {['{' + b + '}' for b in bad]}; "
                          f"known: {['{' + p + '}' for p in PLACEHOLDERS]}")
    if names and "emotion_set" in entry:
        raise ConfigError(f"{path}: prompt {pid!r} is a template ({', '.join('{' + n + '}' for n in names)}), "
                          "rendered for the run's emotion set; remove its 'emotion_set' key")
    declared = None if names else _declared_set(entry.get("emotion_set", DEFAULT_EMOTION_SET), path, pid)
    other_sets = entry.get("other_sets")
    if other_sets is not None and (names or not isinstance(other_sets, str)):
        raise ConfigError(f"{path}: prompt {pid!r}: other_sets must name a template prompt and only a fixed "
                          f"prompt takes it (got {other_sets!r})")
    return Prompt(id=pid, kind=kind, text=text, source=str(entry.get("source", "")), emotion_set=declared,
                  other_sets=other_sets)


def _check_other_sets(path: Path, prompts: dict[str, Prompt]) -> None:
    for pid, prompt in prompts.items():
        target = prompts.get(prompt.other_sets) if prompt.other_sets else None
        if prompt.other_sets and (target is None or not target.is_template or target.kind != prompt.kind):
            raise ConfigError(f"{path}: prompt {pid!r}: other_sets {prompt.other_sets!r} must be a template "
                              f"prompt ({{classes}}/{{choices}}) of kind {prompt.kind!r} in this file")


def load_prompts(path: str | Path) -> dict[str, Prompt]:
    """All prompts of a prompts file, validated (templates not rendered)."""
    path = Path(path)
    raw = read_yaml(path, "prompts")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of prompt id -> {{kind, text}}")
    prompts = {str(pid): _prompt(path, str(pid), entry) for pid, entry in raw.items()}
    _check_other_sets(path, prompts)
    return prompts


def get_prompt(path: str | Path, prompt_id: str, emotion_set: EmotionSet | str | None = None) -> Prompt:
    """One prompt by id, ready for a run over ``emotion_set`` (default paper4; :meth:`Prompt.render`),
    with a clear error listing the known ids."""
    prompts = load_prompts(path)
    if prompt_id not in prompts:
        raise ConfigError(f"{path}: no prompt {prompt_id!r}; known: {sorted(prompts)}")
    prompt = prompts[prompt_id]
    if prompt.other_sets and not prompt.is_template and prompt.emotion_set != get_emotion_set(emotion_set).name:
        template = prompts[prompt.other_sets]
        prompt = replace(template, id=prompt_id,
                         source=f"{template.source} (prompt {prompt_id!r} over another emotion set: "
                                f"other_sets {prompt.other_sets!r})")
    try:
        return prompt.render(emotion_set)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def describe_prompts(path: str | Path) -> dict[str, str]:
    """id -> one line (kind, the set it asks about or "template, any emotion set", source)."""
    return {pid: f"{p.kind}; {'template, any emotion set' if p.is_template else p.emotion_set}"
                 + (f"; {p.source}" if p.source else "")
            for pid, p in load_prompts(path).items()}


__all__ = ["PLACEHOLDERS", "PROMPT_KEYS", "PROMPT_KINDS", "Prompt", "choice_list", "class_list",
           "describe_prompts", "get_prompt", "load_prompts", "placeholders"]
