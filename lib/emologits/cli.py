"""Command line: ``python -m emologits <command> …``.

Each command lives in the module that does the work; that module provides
``add_arguments(parser)`` and ``main(args) -> int``. Only the chosen command's module is
imported, so ``prepare`` never pays for importing torch.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from emologits.errors import EmologitsError

#: command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("emologits.data.cli", "build a manifest (utterances + ground-truth distributions)"),
    "infer": ("emologits.inference", "run an SFM over a manifest, keeping text and emotion-token logits"),
    "predict": ("emologits.predict", "try the model on your own audio files (a table, or JSON lines)"),
    "list": ("emologits.listing", "what is registered: data sets, emotion sets, back-ends, methods, metrics, prompts, artefacts"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emologits", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        build_parser().print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    args = build_parser(command).parse_args(argv)
    try:
        rc = int(importlib.import_module(COMMANDS[command][0]).main(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return rc
    except BrokenPipeError:  # ``… | head``: the reader has gone; end quietly with SIGPIPE's status
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except EmologitsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
