"""``python -m emologits predict AUDIO [AUDIO…] --config CFG [--prompt ID] [--format table|json]``.

Try the model on your audio: per file (in the order given) the generated text, the text-level
distribution (sec. 3.4.1, ``emologits.extract.text``) and the token-level distribution (sec. 3.4.2,
eq. 1-2, ``emologits.extract.token``; both eq. 2 as printed, ``ratio``, and the ``softmax``
alternative), from one generation pass per file. Uses the runner's per-batch code
(:func:`emologits.inference.generate_batch`), so failures carry the same reason codes.

Output: ``--format json`` (one JSON object per line; the default when stdout is not a terminal)
or ``--format table`` (one row per file, percentages; the default on a terminal). Output from the
demo model (a pipeline check: ``pipeline_check: true`` or the ``tiny-demo`` back-end) says so:
``"pipeline_check": true`` and ``"note"`` in JSON, a banner line in the table. Every file is
checked (exists, is a file, can be opened) before the model loads.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emologits.audio import TOO_LONG_POLICIES
from emologits.config import Config, load_config
from emologits.emotions import EMOTIONS
from emologits.errors import DataError
from emologits.prompts import get_prompt
from emologits.sfm.base import SFMBackend
from emologits.report.stamp import PIPELINE_CHECK_STAMP, is_pipeline_check

#: Output formats of ``predict``.
FORMATS: tuple[str, ...] = ("table", "json")


def _distribution(table: pd.DataFrame, j: int) -> dict[str, Any]:
    """Row ``j`` of a predicted-distribution table as ``{"probs", "reason"}``."""
    row = table.iloc[j]
    columns = [c for c in table.columns if c.startswith("p_")]  # the emotion set's classes, in order
    probs = {c[2:]: float(row[c]) for c in columns} if bool(row["valid"]) else None
    return {"probs": probs, "reason": None if probs is not None else row["reason"]}


def check_audio_files(audio_paths: Sequence[str | Path]) -> None:
    """Raise :class:`DataError` naming every path that is missing, a directory or cannot be
    opened ("no such file: PATH"), so nothing runs (and no model loads) for a mistyped name."""
    problems = []
    for p in audio_paths:
        path = Path(p)
        if not path.exists():
            problems.append(f"no such file: {p}")
        elif path.is_dir():
            problems.append(f"not a file (a directory): {p}")
        else:
            try:
                path.open("rb").close()
            except OSError as exc:
                problems.append(f"cannot open {p}: {exc.strerror or exc}")
    if problems:
        raise DataError("; ".join(problems) + " (nothing was run; fix the path and try again)")


def predict_files(cfg: Config, audio_paths: Sequence[str | Path], prompt_id: str | None = None, *,
                  backend: SFMBackend | None = None, too_long: str = "truncate") -> list[dict[str, Any]]:
    """One result dict per file: ``file, prompt, status, error, error_message, text, text_level,
    token_level, token_level_softmax, truncated, pipeline_check, note`` (distributions as
    ``{"probs", "reason"}``; ``note`` is the pipeline-check stamp for the demo model, else None).
    The files are checked (:func:`check_audio_files`) before the model loads."""
    from emologits.extract.text import text_distributions
    from emologits.extract.token import token_distributions
    from emologits.inference import emotion_set_of, generate_batch, token_ids_for
    from emologits.sfm import load_backend
    from emologits.sfm.base import GenerationSettings

    paths = [str(p) for p in audio_paths]
    check_audio_files(paths)
    emotion_set = emotion_set_of(cfg)
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id or cfg.prompts["ids"][0], emotion_set)
    backend = backend or load_backend(cfg.model, project_root=cfg.project_root)
    demo = is_pipeline_check(cfg) or bool(backend.provenance().get("pipeline_check"))
    class_ids, tracked = token_ids_for(backend.tokenizer, emotion_set)
    settings = GenerationSettings.from_config(cfg.generation)
    batch_size = int(cfg.model.get("batch_size") or 1)
    results = []
    for start in range(0, len(paths), batch_size):
        batch = paths[start: start + batch_size]
        records = generate_batch(backend, batch, batch, prompt, tracked, settings, too_long=too_long)
        table = pd.DataFrame([{k: rec.get(k) for k in ("utt_id", "status", "error", "text",
                                                       "generated_token_ids", "tracked_logits")}
                              for rec in records])
        text_level = text_distributions(table, prompt.kind, emotion_set)
        ratio = token_distributions(table, tracked, class_ids, normalize="ratio")
        softmax = token_distributions(table, tracked, class_ids, normalize="softmax")
        for j, rec in enumerate(records):
            results.append({
                "file": rec["utt_id"], "prompt": prompt.id, "status": rec["status"], "error": rec.get("error"),
                "error_message": rec.get("error_message"), "text": rec.get("text"),
                "text_level": _distribution(text_level, j),
                "token_level": _distribution(ratio, j),
                "token_level_softmax": _distribution(softmax, j),
                "truncated": rec.get("truncated"),
                "pipeline_check": demo,
                "note": PIPELINE_CHECK_STAMP if demo else None,
            })
    return results


def _percent_cells(dist: dict[str, Any], classes: Sequence[str]) -> list[str]:
    probs = dist.get("probs")
    return [f"{100 * probs[e]:.1f}" if probs else "-" for e in classes]


def _note(result: dict[str, Any], token_key: str) -> str:
    if result["status"] != "ok":
        return f"failed: {result.get('error') or 'error'}"
    notes = [f"{label}: {result[key]['reason']}" for label, key in (("text", "text_level"), ("token", token_key))
             if result[key]["probs"] is None]
    if result.get("truncated"):
        notes.append("audio truncated to the model's window")
    return "; ".join(notes)


def format_table(results: Sequence[dict[str, Any]], *, token_normalize: str = "ratio", answer_width: int = 48) -> str:
    """The results as a plain-text table, one row per file: status, the text-level and the
    token-level (``token_normalize``: eq. 2 variant) distributions in percent, a note (failure
    reason, invalid distribution, truncation) and the start of the answer. Demo-model output starts
    with the pipeline-check banner."""
    token_key = "token_level_softmax" if token_normalize == "softmax" else "token_level"
    classes = next((list(r[k]["probs"]) for r in results for k in ("text_level", "token_level_softmax", token_key)
                    if r[k]["probs"]), list(EMOTIONS))
    groups = [("", ["file", "status"]), ("text level (%)", classes),
              (f"token level, {token_normalize} (%)", classes), ("", ["note", "answer"])]
    rows = []
    for r in results:
        answer = " ".join(str(r.get("text") or "").split())
        if len(answer) > answer_width:
            answer = answer[: answer_width - 3] + "..."
        rows.append([str(r["file"]), str(r["status"]), *_percent_cells(r["text_level"], classes),
                     *_percent_cells(r[token_key], classes), _note(r, token_key), answer])
    names = [n for _, cols in groups for n in cols]
    widths = [max([len(n)] + [len(row[i]) for row in rows]) for i, n in enumerate(names)]
    numeric = [i for i, n in enumerate(names) if 2 <= i < 2 + 2 * len(classes)]
    start = 0
    for title, cols in groups:  # a group title wider than its columns widens the last of them
        span = sum(widths[start: start + len(cols)]) + 2 * (len(cols) - 1)
        widths[start + len(cols) - 1] += max(0, len(title) - span)
        start += len(cols)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    top, start = [], 0
    for title, cols in groups:
        span = sum(widths[start: start + len(cols)]) + 2 * (len(cols) - 1)
        top.append(title.center(span) if title else " " * span)
        start += len(cols)
    out = []
    if any(r.get("pipeline_check") for r in results):
        out += [f"*** {PIPELINE_CHECK_STAMP} ***", ""]
    if results:
        out.append(f"prompt: {results[0]['prompt']}")
    out += ["  ".join(top).rstrip(), line(names)] + [line(row) for row in rows]
    return "\n".join(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio file(s): any format/rate soundfile reads")
    parser.add_argument("--config", required=True, help="run config naming the model, e.g. configs/demo.yaml")
    parser.add_argument("--prompt", default=None, metavar="ID",
                        help="prompt id (default: the first of the config's prompts.ids)")
    parser.add_argument("--too-long", choices=TOO_LONG_POLICIES, default="truncate",
                        help="audio longer than the model's window: truncate it (default) or fail it")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="table: one row per file, percentages (default on a terminal); "
                             "json: one JSON object per line (default otherwise)")


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    results = predict_files(cfg, args.audio, args.prompt, too_long=args.too_long)
    if fmt == "table":
        print(format_table(results, token_normalize=cfg.evaluation.get("token_normalize", "ratio")), flush=True)
    else:
        for result in results:
            print(json.dumps(result), flush=True)
    failed = sum(r["status"] != "ok" for r in results)
    if failed:
        where = "the note column" if fmt == "table" else "their 'error'"
        print(f"{failed} of {len(results)} file(s) failed (see {where})", file=sys.stderr)
    return 0 if not failed else 1
