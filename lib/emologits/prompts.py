"""Prompts live in ``prompts/prompts.yaml`` (id -> kind, text); the paper's are ``ambiguous`` and ``single``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emologits.config import read_yaml
from emologits.errors import ConfigError

PROMPT_KINDS = ("distribution", "single")


@dataclass(frozen=True)
class Prompt:
    id: str
    kind: str  # "distribution" (percentages) or "single" (one label)
    text: str
    source: str = ""


def load_prompts(path: str | Path) -> dict[str, Prompt]:
    """All prompts of a prompts file, validated."""
    path = Path(path)
    raw = read_yaml(path, "prompts")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of prompt id -> {{kind, text}}")
    prompts: dict[str, Prompt] = {}
    for pid, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
            raise ConfigError(f"{path}: prompt {pid!r} needs a non-empty 'text'")
        kind = entry.get("kind", "distribution")
        if kind not in PROMPT_KINDS:
            raise ConfigError(f"{path}: prompt {pid!r} has kind {kind!r}; expected one of {PROMPT_KINDS}")
        prompts[str(pid)] = Prompt(id=str(pid), kind=kind, text=" ".join(entry["text"].split()),
                                   source=str(entry.get("source", "")))
    return prompts


def get_prompt(path: str | Path, prompt_id: str) -> Prompt:
    """One prompt by id, with a clear error listing the known ids."""
    prompts = load_prompts(path)
    if prompt_id not in prompts:
        raise ConfigError(f"{path}: no prompt {prompt_id!r}; known: {sorted(prompts)}")
    return prompts[prompt_id]
