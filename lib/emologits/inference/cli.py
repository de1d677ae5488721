"""``python -m emologits infer``: run a back-end over the manifest with each prompt (paper sec. 3.2-3.4).

``--method generate`` (default) keeps, from one generation pass per utterance, the text (sec.
3.4.1) and the emotion-word token logits at every step (sec. 3.4.2); ``--method likelihood`` scores
the verbalised class answers; ``sampling`` and ``contextual`` are beyond the paper (their modules). Resumable, sharded, never losing a record (:mod:`.runner`).
"""
from __future__ import annotations

import argparse
import sys

from emologits.audio import TOO_LONG_POLICIES
from emologits.config import load_config
from emologits.inference.methods import METHODS
from emologits.inference.runner import (RunOutcome, _check_run_arguments, _distributed_state, _load_backend,
                                        emotion_set_of, parse_shard, read_run_manifest, run_prompt)
from emologits.prompts import get_prompt

#: ``infer``'s exit status when every utterance was written but some failed (0: all ok; 2: a
#: configuration or input error before any work; 130: interrupted).
EXIT_SOME_FAILED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config (YAML), e.g. configs/demo.yaml")
    parser.add_argument("--prompt", action="append", dest="prompts", metavar="ID",
                        help="prompt id (repeatable; default: every id in the config's prompts.ids)")
    parser.add_argument("--limit", type=int, default=None,
                        help="compute only a seeded subset of N manifest utterances (nested; the pipeline's "
                             "--limit takes the same subset); existing records are always kept")
    parser.add_argument("--shard", default=None, metavar="i/n",
                        help="do shard i of n (0-based; e.g. $SLURM_ARRAY_TASK_ID/4); merge is automatic")
    parser.add_argument("--method", choices=METHODS.names(), default="generate",
                        help="generate: text + emotion-token logits (default); likelihood: score class answers; "
                             "sampling: N sampled answers (pipeline.sampling); contextual: content-free inputs' "
                             "scores for contextual calibration (pipeline.contextual)")
    parser.add_argument("--too-long", choices=TOO_LONG_POLICIES, default="truncate",
                        help="audio longer than the model's window: truncate it (default) or fail it")
    parser.add_argument("--retry-failed", action="store_true",
                        help="also recompute the utterances whose record failed (successful records are kept)")
    parser.add_argument("--output-root", default=None, help="where runs/ goes (default: the project root)")


def _report_failures(label: str, outcome: RunOutcome) -> None:
    """Counts by reason and the first failed utterances with their messages, on stderr."""
    summary = outcome.summary
    reasons = ", ".join(f"{r}={n}" for r, n in summary["failures_by_reason"].items())
    print(f"{label}: {summary['n_failed']} of {summary['n_expected']} utterances failed ({reasons}); "
          f"records in {outcome.out_dir}", file=sys.stderr)
    for fail in outcome.failures:
        print(f"  {fail['utt_id']} [{fail['error']}]: {fail['error_message']}", file=sys.stderr)
    if summary["n_failed"] > len(outcome.failures):
        print(f"  ... and {summary['n_failed'] - len(outcome.failures)} more", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Run every requested prompt. Exit status: 0 when every utterance of this process's share has
    a successful record, :data:`EXIT_SOME_FAILED` when some failed (all records are still written)."""
    cfg = load_config(args.config, output_root=args.output_root)
    prompt_ids = args.prompts or list(cfg.prompts["ids"])
    _check_run_arguments(args.limit, args.too_long)  # fail early, before the model loads
    manifest = read_run_manifest(cfg)
    parse_shard(args.shard)  # fail early on a bad --shard
    for pid in prompt_ids:
        get_prompt(cfg.resolve(cfg.prompts["file"]), pid, emotion_set_of(cfg))  # before the model loads
    backend = _load_backend(cfg, _distributed_state(cfg.model))
    outcomes = {pid: run_prompt(cfg, pid, limit=args.limit, shard=args.shard, method=args.method, backend=backend,
                                manifest=manifest, too_long=args.too_long, retry_failed=args.retry_failed)
                for pid in prompt_ids}
    failed = {pid: o for pid, o in outcomes.items() if o.summary["n_failed"]}
    for pid, outcome in failed.items():
        _report_failures(f"{METHODS.get(args.method).subdir} {pid}", outcome)
    if failed:
        print(f"exit status {EXIT_SOME_FAILED}: some utterances failed (see above). Fix their audio, then "
              "rerun with --retry-failed to recompute only those.", file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


__all__ = ["EXIT_SOME_FAILED", "add_arguments", "main"]
