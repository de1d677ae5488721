"""Data preparation (paper sec. 4.1): one loader per data set, one manifest format out.

``prepare_manifest(dataset, root, …)`` returns the manifest (see :mod:`emologits.data.manifest`);
``prepare_with_counts`` also the number of utterances each subset rule keeps, from the same
single reading of the labels;
``write_manifest`` / ``read_manifest`` store and load it as Parquet. Command line:
``python -m emologits prepare --dataset {iemocap,cremad,synthetic} --root DIR --out FILE``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import Field

from emologits.data.manifest import (
    ALL_COLUMNS, ANNOTATIONS_COLUMN, EXTRA_COLUMNS, MANIFEST_COLUMNS, majority_labels,
    read_manifest, validate_manifest, write_manifest,
)
from emologits.errors import DataError
from emologits.schema import StrictModel, format_problems, validate

DATASETS: tuple[str, ...] = ("iemocap", "cremad", "synthetic")


class NoOptions(StrictModel):
    """A data set that takes no ``data.options``."""


class SyntheticOptions(StrictModel):
    """``data.options`` of the synthetic corpus (None: 240 utterances, seed 0, or whatever the
    corpus already in ``data.root`` was made with)."""

    n_utterances: Annotated[int, Field(ge=1)] | None = None
    seed: Annotated[int, Field(ge=0)] | None = None


#: Schema of the options each data set accepts in ``prepare_manifest(options=…)`` (config
#: ``data.options``), checked when the config loads.
DATASET_OPTIONS: dict[str, type[StrictModel]] = {
    "iemocap": NoOptions, "cremad": NoOptions, "synthetic": SyntheticOptions}

__all__ = [
    "ALL_COLUMNS", "ANNOTATIONS_COLUMN", "DATASETS", "EXTRA_COLUMNS", "MANIFEST_COLUMNS",
    "majority_labels", "prepare_manifest", "prepare_with_counts", "read_manifest",
    "selection_counts_for",
    "validate_manifest", "write_manifest",
]


def prepare_with_counts(dataset: str, root: Path, *, selection: str | None = None,
                        labels_only: bool = False, options: dict[str, Any] | None = None,
                        ) -> tuple[pd.DataFrame, dict[str, int]]:
    """The manifest of ``dataset`` under ``root`` and the number of utterances each subset rule
    keeps (as :func:`selection_counts_for`), from one reading of the label files / vote table.

    ``selection`` is the subset rule: an IEMOCAP rule (``iemocap.SELECTION_RULES``, default
    ``aer-llm``) for iemocap and synthetic, a CREMA-D rule (``cremad.CREMAD_RULES``, default
    ``drop-other``) for cremad. ``labels_only`` builds the ground truth without audio
    (``audio_path`` null where the file is absent). ``options``: synthetic takes
    ``n_utterances`` and ``seed`` (the corpus is generated into ``root`` when absent).
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose from {list(DATASETS)}")
    checked, problems = validate(DATASET_OPTIONS[dataset], options, ("data", "options"))
    if problems:
        raise DataError(f"dataset {dataset!r}: " + format_problems(problems))
    options = checked.model_dump()
    root = Path(root).expanduser()
    from emologits.data.iemocap import SELECTION_RULES
    if dataset == "cremad":
        from emologits.data.cremad import (CREMAD_RULES, _check_rule, prepare_cremad, read_votes,
                                           rule_counts)
        if selection in SELECTION_RULES:
            raise DataError(f"selection {selection!r} is an IEMOCAP rule; CREMA-D rules: "
                            f"{list(CREMAD_RULES)}")
        if selection is not None:
            _check_rule(selection)  # before reading the votes
        rows = read_votes(root)
        return (prepare_cremad(root, rule=selection, labels_only=labels_only, rows=rows),
                rule_counts(root, rows=rows))
    from emologits.data.iemocap import (_check_rule, prepare_iemocap, read_utterances,
                                        selection_counts)
    if selection is not None:
        _check_rule(selection)  # before generating or parsing anything
    if dataset == "synthetic":
        from emologits.data.synthetic import ensure_synthetic_corpus
        root = ensure_synthetic_corpus(root, n_utterances=options.get("n_utterances"),
                                       seed=options.get("seed"))
    utterances = read_utterances(root)
    return (prepare_iemocap(root, selection=selection, labels_only=labels_only, dataset=dataset,
                            utterances=utterances),
            selection_counts(root, utterances=utterances))


def prepare_manifest(dataset: str, root: Path, *, selection: str | None = None,
                     labels_only: bool = False, options: dict[str, Any] | None = None) -> pd.DataFrame:
    """The manifest of ``dataset`` under ``root`` (arguments as :func:`prepare_with_counts`)."""
    return prepare_with_counts(dataset, root, selection=selection, labels_only=labels_only,
                               options=options)[0]


def selection_counts_for(dataset: str, root: Path) -> dict[str, int]:
    """Utterances kept by each subset rule of ``dataset`` (IEMOCAP rules for iemocap/synthetic,
    CREMA-D rules for cremad), from the labels alone (no audio, nothing generated)."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose from {list(DATASETS)}")
    if dataset == "cremad":
        from emologits.data.cremad import rule_counts
        return rule_counts(Path(root).expanduser())
    from emologits.data.iemocap import selection_counts
    return selection_counts(Path(root).expanduser())
