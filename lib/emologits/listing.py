"""``python -m emologits list``: what is registered, one line each with a short description.

Nothing heavy is imported: registries hold lazy entries, so listing never loads torch or a model.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emologits.registry import Registry, import_object

#: kind -> the registry holding it ("module:attribute").
REGISTRIES: dict[str, str] = {
    "data sets": "emologits.data:DATASETS",
    "back-ends": "emologits.sfm:BACKENDS",
    "inference methods": "emologits.inference.methods:METHODS",
    "metrics": "emologits.metrics:METRICS",
    "artefacts": "emologits.report:ARTEFACTS",
}
DEFAULT_PROMPTS = Path(__file__).resolve().parents[2] / "prompts" / "prompts.yaml"


def registered(prompts_file: str | Path | None = None) -> dict[str, dict[str, str]]:
    """kind -> {name: description} for every registry, the shipped emotion sets and the prompts."""
    from emologits.emotions import get_emotion_set, shipped_emotion_sets
    from emologits.prompts import describe_prompts

    out: dict[str, dict[str, str]] = {}
    for kind, target in REGISTRIES.items():
        registry: Registry = import_object(target, what="registry")
        out[kind] = registry.describe()
    out["emotion sets"] = {name: get_emotion_set(name).description for name in shipped_emotion_sets()}
    path = Path(prompts_file) if prompts_file else DEFAULT_PROMPTS
    if path.is_file():
        out[f"prompts ({path.name})"] = describe_prompts(path)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompts", default=None, help=f"prompts file to list (default: {DEFAULT_PROMPTS.name})")


def main(args: argparse.Namespace) -> int:
    for kind, entries in registered(args.prompts).items():
        print(f"{kind}:")
        width = max((len(n) for n in entries), default=0)
        for name, description in entries.items():
            print(f"  {name:<{width}}  {description}")
        print()
    return 0


__all__ = ["REGISTRIES", "add_arguments", "main", "registered"]
