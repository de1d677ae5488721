"""``python -m emologits predict AUDIO [AUDIO…] --config CFG [--prompt ID]``: try the model on your audio.

Prints one JSON line per file (in the order given): the generated text, the text-level distribution
(sec. 3.4.1, ``emologits.extract.text``) and the token-level distribution (sec. 3.4.2, eq. 1-2,
``emologits.extract.token``; both eq. 2 as printed, ``ratio``, and the ``softmax`` alternative),
from one generation pass per file. Uses the runner's per-batch code
(:func:`emologits.inference.generate_batch`), so failures carry the same reason codes.
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
from emologits.emotions import EMOTIONS, PRED_COLUMNS
from emologits.prompts import get_prompt


def _distribution(table: pd.DataFrame, j: int) -> dict[str, Any]:
    """Row ``j`` of a predicted-distribution table as ``{"probs", "reason"}``."""
    row = table.iloc[j]
    probs = {e: float(row[c]) for e, c in zip(EMOTIONS, PRED_COLUMNS)} if bool(row["valid"]) else None
    return {"probs": probs, "reason": None if probs is not None else row["reason"]}


def predict_files(cfg: Config, audio_paths: Sequence[str | Path], prompt_id: str | None = None, *,
                  backend: Any = None, too_long: str = "truncate") -> list[dict[str, Any]]:
    """One result dict per file: ``file, status, error, error_message, text, text_level,
    token_level, token_level_softmax, truncated`` (distributions as ``{"probs", "reason"}``)."""
    from emologits.extract.text import text_distributions
    from emologits.extract.token import token_distributions
    from emologits.inference import generate_batch, token_ids_for
    from emologits.sfm import load_backend
    from emologits.sfm.base import GenerationSettings

    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id or cfg.prompts["ids"][0])
    backend = backend or load_backend(cfg.model, project_root=cfg.project_root)
    class_ids, tracked = token_ids_for(backend.tokenizer)
    settings = GenerationSettings.from_config(cfg.generation)
    batch_size = int(cfg.model.get("batch_size") or 1)
    paths = [str(p) for p in audio_paths]
    results = []
    for start in range(0, len(paths), batch_size):
        batch = paths[start: start + batch_size]
        records = generate_batch(backend, batch, batch, prompt, tracked, settings, too_long=too_long)
        table = pd.DataFrame([{k: rec.get(k) for k in ("utt_id", "status", "error", "text",
                                                       "generated_token_ids", "tracked_logits")}
                              for rec in records])
        text_level = text_distributions(table, prompt.kind)
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
            })
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio file(s): any format/rate soundfile reads")
    parser.add_argument("--config", required=True, help="run config naming the model, e.g. configs/demo.yaml")
    parser.add_argument("--prompt", default=None, metavar="ID",
                        help="prompt id (default: the first of the config's prompts.ids)")
    parser.add_argument("--too-long", choices=TOO_LONG_POLICIES, default="truncate",
                        help="audio longer than the model's window: truncate it (default) or fail it")


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    results = predict_files(cfg, args.audio, args.prompt, too_long=args.too_long)
    for result in results:
        print(json.dumps(result), flush=True)
    failed = sum(r["status"] != "ok" for r in results)
    if failed:
        print(f"{failed} of {len(results)} file(s) failed (see their 'error')", file=sys.stderr)
    return 0 if not failed else 1
