"""What a data set is: one declarative :class:`DatasetSpec` per corpus (paper sec. 4.1).

A spec names the corpus, the options it takes (``data.options``), its subset rules, what a valid
root holds, the emotion classes its annotators could choose (so which emotion sets it can fill),
where to get it, and the function that reads it into a manifest. ``emologits.data.DATASETS``
registers the shipped specs; a config or ``prepare --dataset`` may also name one from outside the
package as ``"package.module:SPEC"``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from emologits.emotions import EmotionSet, get_emotion_set, shipped_emotion_sets
from emologits.errors import ConfigError, DataError
from emologits.schema import StrictModel, format_problems, validate


class NoOptions(StrictModel):
    """A data set that takes no ``data.options``."""


class PrepareFn(Protocol):
    """Read a corpus into a manifest over ``emotion_set`` and count what each subset rule keeps."""

    def __call__(self, root: Path, *, selection: str, labels_only: bool, options: dict[str, Any],
                 emotion_set: EmotionSet) -> tuple[pd.DataFrame, dict[str, int]]: ...


class CountsFn(Protocol):
    """Utterances each subset rule keeps for ``emotion_set``, from the labels alone."""

    def __call__(self, root: Path, *, emotion_set: EmotionSet) -> dict[str, int]: ...


@dataclass(frozen=True)
class DatasetSpec:
    """One data set, declared (paper sec. 4.1: ground truth = the annotators' label distribution).

    ``prepare(root, *, selection, labels_only, options, emotion_set)`` returns the manifest (see
    :mod:`emologits.data.manifest`) and the number of utterances each rule keeps; it receives a
    known rule, validated options (a dict) and a set this data set can fill. ``label_classes`` are
    the classes its annotators could choose: a set can be filled when every one of its classes is
    among them (labels outside the set are what the subset rules handle).
    """

    name: str
    description: str
    prepare: PrepareFn
    label_classes: tuple[str, ...]
    selection_rules: Mapping[str, str]
    default_selection: str
    #: How the rules are named in messages, e.g. "IEMOCAP selection rule".
    rule_title: str = "selection rule"
    options_model: type[StrictModel] = NoOptions
    #: A path (relative to the root) every valid root holds; None: ``prepare`` makes the root.
    root_marker: str | None = None
    #: What ``--root`` / ``data.root`` must be.
    root_help: str = "the data set's folder"
    #: Licence and where to get the corpus.
    source: str = ""
    #: Counts from the labels alone; None: ``prepare(..., labels_only=True)``'s counts.
    counts: CountsFn | None = None

    def __post_init__(self) -> None:
        if self.default_selection not in self.selection_rules:
            raise ValueError(f"dataset {self.name!r}: default_selection {self.default_selection!r} "
                             f"is not among its rules {list(self.selection_rules)}")

    def missing_classes(self, emotion_set: EmotionSet) -> tuple[str, ...]:
        """The classes of ``emotion_set`` this data set's annotators could not choose."""
        return tuple(c for c in emotion_set.names if c not in self.label_classes)

    def fillable_sets(self) -> list[str]:
        """The shipped emotion sets this data set can fill."""
        return [name for name in shipped_emotion_sets()
                if not self.missing_classes(get_emotion_set(name))]

    def emotion_set(self, name_or_path: str | EmotionSet | None = None) -> EmotionSet:
        """The emotion set (default ``paper4``), or DataError when this data set cannot fill it."""
        emotion_set = get_emotion_set(name_or_path)
        missing = self.missing_classes(emotion_set)
        if missing:
            raise DataError(
                f"dataset {self.name!r} cannot fill emotion set {emotion_set.name!r}: "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not among its classes "
                f"({', '.join(self.label_classes)}); it can fill: {', '.join(self.fillable_sets())} "
                "(or any set whose classes are among its classes)")
        return emotion_set

    def selection(self, selection: str | None = None) -> str:
        """The subset rule (default ``default_selection``), or DataError naming the choices."""
        if selection is None:
            return self.default_selection
        if selection in self.selection_rules:
            return selection
        raise DataError(f"unknown {self.rule_title} {selection!r}; choose from "
                        f"{list(self.selection_rules)}")

    def options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``options`` validated against ``options_model`` (defaults filled), or DataError."""
        checked, problems = validate(self.options_model, options, ("data", "options"))
        if problems:
            raise DataError(f"dataset {self.name!r}: " + format_problems(problems))
        return checked.model_dump()

    def rule_counts(self, root: Path, *, emotion_set: EmotionSet) -> dict[str, int]:
        """Utterances each rule keeps, from the labels alone (``counts``, else a labels-only prepare)."""
        if self.counts is not None:
            return self.counts(root, emotion_set=emotion_set)
        return self.prepare(root, selection=self.default_selection, labels_only=True,
                            options=self.options(), emotion_set=emotion_set)[1]


def check_spec(obj: Any, name: str) -> DatasetSpec:
    """The registry's check: a data set is a :class:`DatasetSpec`."""
    if not isinstance(obj, DatasetSpec):
        raise ConfigError(f"dataset {name!r} is a {type(obj).__name__}, not an emologits.data.DatasetSpec")
    return obj


__all__ = ["CountsFn", "DatasetSpec", "NoOptions", "PrepareFn", "check_spec"]
