"""Data preparation (paper sec. 4.1): one declared data set per file, one manifest format out.

``DATASETS`` registers each data set's :class:`DatasetSpec` (one file each: ``iemocap.py``,
``cremad.py``, ``synthetic.py``, ``msp_podcast.py``, ``msp_improv.py``, ``ratings.py``); ``"package.module:SPEC"`` names one from outside the package.
``prepare_manifest(dataset, root, …, emotion_set=…)`` returns the manifest over an emotion set
(default ``paper4``; see :mod:`emologits.data.manifest`); ``prepare_with_counts`` also the number
of utterances each subset rule keeps, from the same single reading of the labels;
``write_manifest`` / ``read_manifest`` store and load it as Parquet. Command line:
``python -m emologits prepare --dataset NAME --root DIR --out FILE [--emotion-set SET]``.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from emologits.data.manifest import (
    ALL_COLUMNS, ANNOTATIONS_COLUMN, EMOTION_SET_COLUMN, EXTRA_COLUMNS, MANIFEST_COLUMNS, build_manifest,
    finish_manifest, majority_labels, manifest_columns, manifest_emotion_set, read_manifest, validate_manifest,
    write_manifest,
)
from emologits.data.spec import DatasetSpec, NoOptions, check_spec
from emologits.emotions import EmotionSet
from emologits.errors import ConfigError, DataError
from emologits.registry import Registry
from emologits.schema import StrictModel

#: The data sets, by name (``python -m emologits list``); a spec from outside: ``"package.module:SPEC"``.
DATASETS: Registry[DatasetSpec] = Registry("dataset", check=check_spec)
DATASETS.register_lazy("iemocap", "emologits.data.iemocap:SPEC",
                       "IEMOCAP: 3 external evaluators' labels per utterance (the paper's corpus)")
DATASETS.register_lazy("cremad", "emologits.data.cremad:SPEC",
                       "CREMA-D: crowd votes (A/D/F/H/N/S) per voice-only clip")
DATASETS.register_lazy("synthetic", "emologits.data.synthetic:SPEC",
                       "synthetic IEMOCAP-layout corpus, generated offline (the demo)")
DATASETS.register_lazy("msp-podcast", "emologits.data.msp_podcast:SPEC",
                       "MSP-Podcast: 5+ raters' primary (and secondary) emotions per podcast segment")
DATASETS.register_lazy("msp-improv", "emologits.data.msp_improv:SPEC",
                       "MSP-IMPROV: per-rater labels (Angry, Happy, Sad, Neutral, Other) per utterance")
DATASETS.register_lazy("ratings", "emologits.data.ratings:SPEC",
                       "any corpus from a CSV/JSONL of ratings (long or counts shape, a label map)")


def dataset_spec(dataset: str | DatasetSpec) -> DatasetSpec:
    """The spec registered as ``dataset`` (or named ``"package.module:SPEC"``); DataError when unknown."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    try:
        return DATASETS.get(dataset)
    except ConfigError as exc:
        raise DataError(str(exc)) from None


class _OptionsView(Mapping[str, type[StrictModel]]):
    """data set name -> its ``data.options`` schema, read from the registered specs."""

    def __getitem__(self, name: str) -> type[StrictModel]:
        return dataset_spec(name).options_model

    def __iter__(self) -> Iterator[str]:
        return iter(DATASETS.names())

    def __len__(self) -> int:
        return len(DATASETS.names())


#: Schema of the options each registered data set accepts (config ``data.options``), from its spec.
DATASET_OPTIONS: Mapping[str, type[StrictModel]] = _OptionsView()

__all__ = [
    "ALL_COLUMNS", "ANNOTATIONS_COLUMN", "DATASETS", "DATASET_OPTIONS", "DatasetSpec", "EMOTION_SET_COLUMN",
    "EXTRA_COLUMNS", "MANIFEST_COLUMNS", "NoOptions", "build_manifest", "dataset_spec", "finish_manifest",
    "majority_labels", "manifest_columns", "manifest_emotion_set", "prepare_manifest", "prepare_with_counts",
    "read_manifest", "selection_counts_for", "selection_problem", "validate_manifest", "write_manifest",
]


def selection_problem(spec: DatasetSpec, selection: str) -> str | None:
    """What is wrong with ``selection`` for ``spec`` (None: it is one of its rules); names the data
    sets whose rule it is when it belongs to another one."""
    if selection in spec.selection_rules:
        return None
    owners = [name for name in DATASETS.names()
              if name != spec.name and selection in dataset_spec(name).selection_rules]
    if owners:
        return (f"{selection!r} is a rule of {', '.join(owners)}, not of {spec.name}; "
                f"{spec.name} rules: {list(spec.selection_rules)}")
    return f"unknown {spec.rule_title} {selection!r}; choose from {list(spec.selection_rules)}"


def prepare_with_counts(dataset: str | DatasetSpec, root: Path, *, selection: str | None = None,
                        labels_only: bool = False, options: dict[str, Any] | None = None,
                        emotion_set: str | EmotionSet | None = None,
                        ) -> tuple[pd.DataFrame, dict[str, int]]:
    """The manifest of ``dataset`` under ``root`` over ``emotion_set`` (default ``paper4``) and the
    number of utterances each subset rule keeps, from one reading of the labels.

    ``selection`` is one of the data set's rules (None: its default; iemocap/synthetic ``aer-llm``,
    cremad ``drop-other``). ``labels_only`` builds the ground truth without audio (``audio_path``
    null where the file is absent). ``options`` are checked against the spec's ``options_model``
    (synthetic: ``n_utterances``, ``seed``; the corpus is generated into ``root`` when absent).
    Everything is checked before any file is read: the data set, the set it must fill, the rule,
    the options.
    """
    spec = dataset_spec(dataset)
    emotion_set = spec.emotion_set(emotion_set)
    if selection is not None:
        problem = selection_problem(spec, selection)
        if problem:
            raise DataError(problem)
    selection = spec.selection(selection)
    checked = spec.options(options)
    manifest, counts = spec.prepare(Path(root).expanduser(), selection=selection, labels_only=labels_only,
                                    options=checked, emotion_set=emotion_set)
    validate_manifest(manifest, f"dataset {spec.name!r} (its prepare)", emotion_set)
    return manifest, dict(counts)


def prepare_manifest(dataset: str | DatasetSpec, root: Path, *, selection: str | None = None,
                     labels_only: bool = False, options: dict[str, Any] | None = None,
                     emotion_set: str | EmotionSet | None = None) -> pd.DataFrame:
    """The manifest of ``dataset`` under ``root`` (arguments as :func:`prepare_with_counts`)."""
    return prepare_with_counts(dataset, root, selection=selection, labels_only=labels_only,
                               options=options, emotion_set=emotion_set)[0]


def selection_counts_for(dataset: str | DatasetSpec, root: Path,
                         emotion_set: str | EmotionSet | None = None) -> dict[str, int]:
    """Utterances kept by each subset rule of ``dataset`` for ``emotion_set`` (default paper4),
    from the labels alone (no audio, nothing generated)."""
    spec = dataset_spec(dataset)
    return spec.rule_counts(Path(root).expanduser(), emotion_set=spec.emotion_set(emotion_set))


from emologits.data.run import prepare_run_manifest  # noqa: E402  (uses the names above)

__all__ += ["prepare_run_manifest"]
