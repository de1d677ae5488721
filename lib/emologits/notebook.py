"""The notebooks' one setup call: ``session = setup(config_path, output_root, limit)``.

A :class:`Session` holds what every step of a run reads: the loaded config, the pipeline-check
stamp (None for a real run), the run's folders, the manifest (read once, on first use), the
prompts, the configured eq. 2 normalisation, the evaluation options; it reads each prompt's
inference records once per (prompt, method), reads distribution tables and evaluates them once per
(table, metrics). Artefacts are built from it
(:func:`emologits.report.build_artefact`), with or without a notebook:
``Session.from_config(cfg)`` is the same without printing.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from emologits import artifacts
from emologits.artifacts import DistributionKey
from emologits.config import Config, load_config
from emologits.emotions import EmotionSet
from emologits.metrics import EvaluationResult, evaluate_predictions
from emologits.report.stamp import pipeline_check_stamp


@dataclass
class Session:
    """One run's context for building its products (see the module doc)."""

    cfg: Config
    stamp: str | None = None
    limit: int = 0
    _evaluations: dict[tuple[str, tuple[str, ...]], EvaluationResult] = field(default_factory=dict, repr=False)
    _records: dict[tuple[str, str], tuple[pd.DataFrame, dict]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, cfg: Config, limit: int = 0) -> Session:
        """A session for ``cfg`` (its stamp from :func:`emologits.report.stamp.pipeline_check_stamp`)."""
        return cls(cfg, pipeline_check_stamp(cfg), limit)

    # ---- folders --------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    @property
    def figures_dir(self) -> Path:
        return self.cfg.figures_dir

    @property
    def reports_dir(self) -> Path:
        return artifacts.reports_dir(self.cfg)

    # ---- inputs ---------------------------------------------------------------------------
    @cached_property
    def manifest(self) -> pd.DataFrame:
        """The run's manifest (notebook 01's output)."""
        from emologits.data import read_manifest

        return read_manifest(artifacts.require(artifacts.manifest_path(self.cfg), produced_by="01_data_prep"),
                             emotion_set=self.emotion_set)

    @cached_property
    def prompts(self) -> dict[str, Any]:
        """Prompt id -> prompt of the config's prompt file."""
        from emologits.prompts import load_prompts

        return load_prompts(self.cfg.resolve(self.cfg.prompts["file"]))

    @cached_property
    def emotion_set(self) -> EmotionSet:
        """The run's emotion set (``data.emotion_set``: a shipped name or a set file)."""
        from emologits.inference import emotion_set_of

        return emotion_set_of(self.cfg)

    @property
    def normalizations(self) -> tuple[str, str]:
        """(configured, other) eq. 2 variants (``evaluation.token_normalize`` first)."""
        return artifacts.token_normalizations(self.cfg)

    @property
    def evaluation(self) -> dict[str, Any]:
        """Keyword arguments of :func:`emologits.metrics.evaluate_predictions` from the config."""
        return artifacts.evaluation_kwargs(self.cfg)

    def fill(self, text: str) -> str:
        """``text`` with ``{configured}`` / ``{other}`` replaced by the normalisations."""
        configured, other = self.normalizations
        return text.replace("{configured}", configured).replace("{other}", other)

    def key(self, key: DistributionKey) -> DistributionKey:
        """``key`` with a ``{configured}`` / ``{other}`` normalisation filled in."""
        return key if key.normalize is None else replace(key, normalize=self.fill(key.normalize))

    def configured(self, key: DistributionKey) -> bool:
        """Whether the run computes ``key``'s records (:meth:`Config.runs`: its inference method over
        its prompt)."""
        return self.cfg.runs(key.inference_method, key.prompt)

    def records(self, prompt: str, method: str = "generate") -> tuple[pd.DataFrame, dict]:
        """:func:`emologits.inference.load_records` of one prompt and inference method (read once;
        callers must not modify the table)."""
        if (prompt, method) not in self._records:
            from emologits.inference import load_records

            self._records[prompt, method] = load_records(self.run_dir, prompt, method=method)
        return self._records[prompt, method]

    def distributions(self, key: DistributionKey) -> pd.DataFrame:
        """A distribution table of the run (a missing one names the notebook that writes it)."""
        return artifacts.read_distributions(self.cfg, self.key(key))

    def evaluate(self, key: DistributionKey, metrics: Sequence[str]) -> EvaluationResult:
        """:func:`~emologits.metrics.evaluate_predictions` of one table with the config's options
        (computed once per table and metric list)."""
        key = self.key(key)
        cache_key = (key.name, tuple(metrics))
        if cache_key not in self._evaluations:
            self._evaluations[cache_key] = evaluate_predictions(
                self.manifest, self.distributions(key), metrics=list(metrics), **self.evaluation)
        return self._evaluations[cache_key]


def setup(config_path: str | os.PathLike, output_root: str | os.PathLike | None = "", limit: int = 0) -> Session:
    """Load the run's config (``output_root`` empty: the project root), print the run and, for a
    pipeline check, its stamp; return the :class:`Session`. ``limit``: the notebooks' subset
    parameter (0: all; a negative value is an error)."""
    from emologits.pipeline import check_limit

    check_limit(limit or None)
    cfg = load_config(config_path, output_root=output_root or None)
    session = Session.from_config(cfg, int(limit or 0))
    print(f"run {cfg.run!r}: {cfg.run_dir}")
    if session.stamp:
        print(session.stamp)
    return session


__all__ = ["Session", "setup"]
