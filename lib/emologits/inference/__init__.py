"""Inference (paper sec. 3.2-3.4): run a back-end over the manifest, keeping every record.

One module per concern:

- :mod:`.batch`: per-batch work (audio loading, the model call, failures as records);
- :mod:`.methods`: the :class:`~.methods.Method` interface and the registered methods
  (``generate``: text + emotion-token logits from one pass; ``likelihood``: class-answer scores);
- :mod:`.store`: append-only Parquet parts (resume, merge, nothing ever lost);
- :mod:`.provenance`: ``run.json`` (versions, git commit, settings fingerprint);
- :mod:`.runner`: one prompt of one method over the manifest (limit, shards, processes);
- :mod:`.cli`: ``python -m emologits infer``.
"""
from emologits.inference.cli import EXIT_SOME_FAILED, add_arguments, main
from emologits.inference.methods import (EXTRA_COLUMNS, METHOD_DIRS, METHODS, RECORD_COLUMNS, GenerateMethod,
                                             LikelihoodMethod, Method, generate_batch, likelihood_batch,
                                             token_ids_for)
from emologits.inference.provenance import package_versions
from emologits.inference.runner import (PART_BATCHES, RunOutcome, emotion_set_of, failure_examples,
                                            load_records, output_dir, parse_shard, read_run_manifest,
                                            run_configured, run_inference, run_prompt, summarize_parts)

__all__ = ["EXIT_SOME_FAILED", "EXTRA_COLUMNS", "METHODS", "METHOD_DIRS", "PART_BATCHES", "RECORD_COLUMNS", "GenerateMethod",
           "LikelihoodMethod", "Method", "RunOutcome", "add_arguments", "emotion_set_of", "failure_examples",
           "generate_batch", "likelihood_batch", "load_records", "main", "output_dir", "package_versions",
           "parse_shard", "read_run_manifest", "run_configured", "run_inference", "run_prompt", "summarize_parts", "token_ids_for"]
