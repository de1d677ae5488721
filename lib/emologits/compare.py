"""Model comparison: several model configs over one data set, then a leaderboard (notebook 08).

    ./run_all.sh configs/compare_demo.yaml [--limit N] [--output-root DIR] [--only 02 08]

A comparison config (``configs/compare_<name>.yaml``, top-level key ``comparison``; every key in
docs/configuration.md, "Comparison configs") lists model configs (paths to run configs, each with
optional ``overrides`` merged into it and checked the same way) and gives, once for all of them,
the data set (``data``) and the evaluation settings (``evaluation``), so every model is scored on
the same utterances with the same bootstrap. For each model, in order, the normal pipeline runs
(:func:`emologits.pipeline.run_notebooks`) on a config written to
``runs/<comparison>/configs/<model>.yaml`` (run name ``<comparison>__<model>``; resumable like any
run: inference skips finished utterances); then ``notebooks/08_model_comparison.ipynb`` writes the
leaderboard (:mod:`emologits.report.leaderboard`) into ``figures/<comparison>/``.

Notebook 08 is not one of a single model's notebooks (:data:`emologits.artifacts.NOTEBOOKS`):
it only runs for a comparison config (:data:`emologits.artifacts.COMPARISON_NOTEBOOKS`).
"""
from __future__ import annotations

import copy
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, field_validator, model_validator

from emologits.artifacts import COMPARISON_NOTEBOOKS, NOTEBOOKS, DistributionKey, notebook_stem
from emologits.config import (Config, DataSection, EvaluationSection, _merge, config_from_dict, read_yaml,
                               resolve_path)
from emologits.errors import ConfigError
from emologits.schema import StrictModel, format_problems, validate

#: The per-model notebooks the leaderboard needs: manifest (01), records (02), text-level (03),
#: token-level and label-likelihood distributions (04).
REQUIRED_NOTEBOOKS: tuple[str, ...] = ("01_data_prep", "02_inference", "03_text_extraction", "04_token_extraction")

#: Leaderboard method name -> (distribution method, token steps, eq. 2 normalisation): the tables of
#: sec. 3.4.1 (text), 3.4.2 (token level, both eq. 2 variants) and the label likelihood.
LEADERBOARD_METHODS: dict[str, tuple[str, str | None, str | None]] = {
    "text": ("text", None, None),
    "token_ratio": ("token", "all", "ratio"),
    "token_softmax": ("token", "all", "softmax"),
    "likelihood": ("likelihood", None, None),
}
#: How each leaderboard method is named in the tables and the figure.
METHOD_LABELS: dict[str, str] = {
    "text": "Text", "token_ratio": "Token-level (ratio)", "token_softmax": "Token-level (softmax)",
    "likelihood": "Label likelihood",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ComparedModel(StrictModel):
    """``models[i]``: one model of the comparison."""

    #: Short, folder-safe id: the run is ``<comparison>__<name>``.
    name: str
    #: The model's name in the leaderboard (default: ``name``).
    label: str | None = None
    #: A run config (relative paths: against the comparison config's project root).
    config: str
    #: Merged into that config (same nesting, ``options`` replaced whole), then checked like it.
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be a short id of letters, digits, '-', '_' or '.' (it names a run folder)")
        return value

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        shared = sorted(set(value) & {"run", "data", "evaluation"})
        if shared:
            raise ValueError(f"may not set {shared}: the run name is <comparison>__<name>, and data and "
                             "evaluation are set once at the comparison's top level (one data set, one bootstrap)")
        return value


class LeaderboardSection(StrictModel):
    """``leaderboard``: which rows, metrics and figure panels the leaderboard has."""

    #: Leaderboard methods (:data:`LEADERBOARD_METHODS`), each for every prompt of ``prompts``.
    methods: Annotated[list[Literal[tuple(LEADERBOARD_METHODS)]], Field(min_length=1)] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(LEADERBOARD_METHODS))
    #: Prompt ids (every model's ``prompts.ids`` must hold them).
    prompts: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["ambiguous", "single"])
    #: Registered metric names (``python -m emologits list``) or ``package.module:OBJECT``.
    metrics: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["kl", "bd", "r2", "accuracy", "ua", "f1_macro"])
    #: The metrics drawn in the figure (one panel each); each must be in ``metrics``.
    figure_metrics: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["bd", "ua"])

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[str]) -> list[str]:
        from emologits.metrics import METRICS

        for name in value:
            try:
                METRICS.get(name)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _figure_in_metrics(self) -> LeaderboardSection:
        missing = [m for m in self.figure_metrics if m not in self.metrics]
        if missing:
            raise ValueError(f"figure_metrics {missing} are not in metrics {self.metrics}")
        return self


class ComparisonSchema(StrictModel):
    """A whole comparison config (docs/configuration.md, "Comparison configs")."""

    #: The comparison's name: ``figures/<comparison>/`` and ``runs/<comparison>/``.
    comparison: str
    #: True: every output is a pipeline check (also true when any model's run is one).
    pipeline_check: bool = False
    #: The one data set every model runs on (replaces each model config's ``data``).
    data: DataSection = Field(default_factory=DataSection)
    #: Metric conventions and bootstrap for every model (replaces each model config's ``evaluation``).
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    models: Annotated[list[ComparedModel], Field(min_length=2)]
    #: The notebooks each model's run executes (numbers or names); must include 01-04.
    notebooks: list[str] = Field(default_factory=lambda: list(REQUIRED_NOTEBOOKS))
    leaderboard: LeaderboardSection = Field(default_factory=LeaderboardSection)

    @field_validator("comparison")
    @classmethod
    def _comparison(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be a name usable as a folder name (letters, digits, '-', '_', '.')")
        return value

    @field_validator("notebooks")
    @classmethod
    def _notebooks(cls, value: list[str]) -> list[str]:
        stems = [notebook_stem(v) for v in value]
        unknown = [v for v, s in zip(value, stems) if s is None or s in COMPARISON_NOTEBOOKS]
        if unknown:
            raise ValueError(f"{unknown}: not a model notebook (known: {', '.join(NOTEBOOKS)})")
        missing = [s for s in REQUIRED_NOTEBOOKS if s not in stems]
        if missing:
            raise ValueError(f"must include {missing}: the leaderboard reads their outputs")
        return [s for s in NOTEBOOKS if s in stems]  # type: ignore[misc]

    @model_validator(mode="after")
    def _unique_names(self) -> ComparisonSchema:
        names = [m.name for m in self.models]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"models: each name once (repeated: {twice})")
        return self


def is_comparison_config(path: str | Path) -> bool:
    """True for a comparison config: a YAML mapping with a top-level ``comparison`` key."""
    try:
        raw = read_yaml(path, "config")
    except ConfigError:
        return False
    return isinstance(raw, dict) and "comparison" in raw


def _project_root(path: Path) -> Path:
    """The project root of a config file (the parent of its ``configs/`` folder; see config.py)."""
    parent = path.resolve().parent
    return parent.parent if parent.name == "configs" else parent


def _absolute(value: Any, root: Path, *, always: bool = False) -> Any:
    """A path-like config value made absolute against ``root`` (config.py's rule), so the written
    config means the same wherever it lies; anything else unchanged."""
    if not isinstance(value, str) or not value:
        return value
    local = always or value.startswith(("./", "../", ".cache", "~")) or (root / value).exists()
    return str(resolve_path(value, root).resolve()) if local else value


def _absolute_data(data: dict[str, Any], root: Path) -> dict[str, Any]:
    """A ``data`` section (a copy) whose ``root`` and emotion-set file are absolute against ``root``."""
    out = copy.deepcopy(data)
    if isinstance(out.get("root"), str):
        out["root"] = _absolute(out["root"], root, always=True)
    if str(out.get("emotion_set", "")).endswith((".yaml", ".yml")):
        out["emotion_set"] = _absolute(out["emotion_set"], root, always=True)
    return out


def _with_absolute_paths(full: dict[str, Any], root: Path) -> dict[str, Any]:
    """A filled config (``Config.as_dict()``) whose local paths are absolute."""
    out = copy.deepcopy(full)
    out["data"] = _absolute_data(out["data"], root)
    out["prompts"]["file"] = _absolute(out["prompts"].get("file"), root, always=True)
    out["model"]["name_or_path"] = _absolute(out["model"].get("name_or_path"), root)
    options = out["model"].get("options") or {}
    out["model"]["options"] = {k: _absolute(v, root) for k, v in options.items()}
    return out


@dataclass
class ModelRun:
    """One model of a comparison: its entry and its run config (loaded, every default filled)."""

    name: str
    label: str
    source: Path
    cfg: Config

    @property
    def config_path(self) -> Path:
        """The written run config (``runs/<comparison>/configs/<name>.yaml``) the notebooks load."""
        assert self.cfg.path is not None
        return self.cfg.path


@dataclass
class Comparison:
    """A loaded comparison (see the module doc): the checked config, the models' run configs,
    where its outputs go, the ``--limit`` subset and the pipeline-check stamp."""

    path: Path
    spec: ComparisonSchema
    project_root: Path
    output_root: Path
    models: list[ModelRun]
    limit: int = 0
    _sessions: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.spec.comparison

    @property
    def run_dir(self) -> Path:
        """``runs/<comparison>/``: the models' written configs and notebook 08's executed copy."""
        return self.output_root / "runs" / self.name

    @property
    def figures_dir(self) -> Path:
        """``figures/<comparison>/``: the leaderboard (CSV/MD/LaTeX), its figure and README."""
        return self.output_root / "figures" / self.name

    @cached_property
    def stamp(self) -> str | None:
        """The pipeline-check stamp when the comparison or any model's run is a pipeline check."""
        from emologits.report.stamp import PIPELINE_CHECK_STAMP, is_pipeline_check

        check = self.spec.pipeline_check or any(is_pipeline_check(m.cfg) for m in self.models)
        return PIPELINE_CHECK_STAMP if check else None

    def session(self, model: ModelRun) -> Any:
        """The model run's :class:`emologits.notebook.Session` (one per model, evaluations cached)."""
        from emologits.notebook import Session

        if model.name not in self._sessions:
            self._sessions[model.name] = Session.from_config(model.cfg, self.limit)
        return self._sessions[model.name]

    def write_configs(self) -> list[Path]:
        """Write every model's run config (absolute paths) to ``runs/<comparison>/configs/``."""
        from emologits.atomic import write_text_atomic

        for m in self.models:
            write_text_atomic(m.config_path, yaml.safe_dump(
                _with_absolute_paths(m.cfg.as_dict(), m.cfg.project_root), sort_keys=False, allow_unicode=True))
        return [m.config_path for m in self.models]

    def overview(self) -> pd.DataFrame:
        """One row per model: name, label, back-end, checkpoint, config, run folder."""
        return pd.DataFrame([{"model": m.label, "name": m.name, "backend": m.cfg.model.get("backend"),
                              "name_or_path": m.cfg.model.get("name_or_path"), "config": str(m.source),
                              "run": str(m.cfg.run_dir)} for m in self.models])


def load_comparison(path: str | Path, *, output_root: str | Path | None = None, limit: int = 0) -> Comparison:
    """Read and check a comparison config and every model config it names (with its overrides, the
    comparison's ``data`` and ``evaluation``). One ConfigError lists every problem, each as
    ``<file>: <dotted.path>: <problem>`` (a model config's problems are labelled with the comparison's
    ``models[i]`` and the model config's file)."""
    path = Path(path).resolve()
    raw = read_yaml(path, "comparison config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    spec, problems = validate(ComparisonSchema, raw)
    if spec is None:
        raise ConfigError(format_problems(problems, str(path)))
    root = _project_root(path)
    out_root = Path(output_root).resolve() if output_root else root
    data = _absolute_data(raw.get("data") or {}, root)
    evaluation = spec.evaluation.model_dump()
    models, errors = [], []
    for i, entry in enumerate(spec.models):
        source = resolve_path(entry.config, root).resolve()
        written = out_root / "runs" / spec.comparison / "configs" / f"{entry.name}.yaml"
        shared = {"run": f"{spec.comparison}__{entry.name}", "data": copy.deepcopy(data),
                  "evaluation": copy.deepcopy(evaluation)}
        try:
            model_raw = read_yaml(source, "model config")
            if not isinstance(model_raw, dict):
                raise ConfigError(f"{source}: top level must be a mapping")
            merged = {**_merge(model_raw, entry.overrides, f"{path}: models[{i}].overrides"), **shared}
            merged["pipeline_check"] = bool(merged.get("pipeline_check")) or spec.pipeline_check
            cfg = config_from_dict(merged, path=written, project_root=_project_root(source),
                                   overrides={**entry.overrides, **shared})
        except ConfigError as exc:
            # label each problem with the file it comes from: the comparison (data, evaluation,
            # overrides) or the model config
            text = str(exc)
            for section in ("data", "evaluation", "run"):
                text = text.replace(f"{written} (overrides): {section}", f"{path}: {section}")
            text = text.replace(f"{written} (overrides): ", f"{path}: models[{i}].overrides.")
            errors.append(f"models[{i}] ({entry.name}): " + text.replace(str(written), str(source)))
            continue
        cfg.output_root = out_root
        models.append(ModelRun(entry.name, entry.label or entry.name, source, cfg))
    if errors:
        raise ConfigError(f"{path}: " + ("\n  - ".join(["model configs need attention:", *errors])
                                         if len(errors) > 1 else errors[0]))
    return Comparison(path, spec, root, out_root, models, int(limit or 0))


def setup(config_path: str | Path, output_root: str | Path | None = "", limit: int = 0) -> Comparison:
    """Notebook 08's one setup call: load the comparison (like :func:`emologits.notebook.setup` for
    a run), print what it compares and, for a pipeline check, the stamp."""
    from emologits.pipeline import check_limit

    check_limit(limit or None)
    comparison = load_comparison(config_path, output_root=output_root or None, limit=int(limit or 0))
    print(f"comparison {comparison.name!r}: {len(comparison.models)} models -> {comparison.figures_dir}")
    if comparison.stamp:
        print(comparison.stamp)
    return comparison


def leaderboard_keys(spec: LeaderboardSection) -> list[tuple[str, DistributionKey]]:
    """(leaderboard method, distribution table) for every prompt x method, prompts outermost."""
    return [(m, DistributionKey(LEADERBOARD_METHODS[m][0], p, *LEADERBOARD_METHODS[m][1:]))
            for p in spec.prompts for m in spec.methods]


def seconds_per_utterance(records: pd.DataFrame) -> np.ndarray:
    """Model-seconds of each successful record of one prompt's run (``seconds``: the batch's time
    shared by its utterances; :meth:`emologits.notebook.Session.records`: the run's manifest subset)."""
    ok = records[records["status"] == "ok"] if "status" in records else records
    return ok["seconds"].to_numpy(dtype=float)


def _split_only(only: Sequence[str] | None, notebooks: Sequence[str]) -> tuple[list[str], bool]:
    """(the model notebooks to run, whether to run 08) for ``--only`` (None: all of them)."""
    if not only:
        return list(notebooks), True
    stems = {notebook_stem(v): v for v in only}
    unknown = [v for s, v in stems.items() if s is None or (s not in notebooks and s not in COMPARISON_NOTEBOOKS)]
    if unknown:
        listing = ", ".join([*notebooks, *COMPARISON_NOTEBOOKS])
        raise ConfigError(f"--only {' '.join(map(str, unknown))}: not a notebook of this comparison ({listing})")
    return [s for s in notebooks if s in stems], any(s in stems for s in COMPARISON_NOTEBOOKS)


def run_comparison(config_path: str | Path, *, output_root: str | Path | None = None, limit: int | None = None,
                   only: Sequence[str] | None = None, kernel: str | None = None,
                   notebooks_dir: Path | None = None, progress_to: str | None = "stderr") -> list[Path]:
    """``./run_all.sh`` for a comparison config: check every model config, then run each model's
    notebooks (``notebooks``, one model after the other, resumable), then notebook 08 (the
    leaderboard). ``only``: notebook numbers or names (``--only 08`` rebuilds the leaderboard from
    finished runs). Returns the executed notebooks."""
    from emologits import pipeline

    pipeline.check_limit(limit)
    comparison = load_comparison(config_path, output_root=output_root, limit=int(limit or 0))
    model_notebooks, run_08 = _split_only(only, comparison.spec.notebooks)
    problems = [p for m in comparison.models for p in pipeline.check_config(m.cfg)]
    if problems:
        raise ConfigError("the comparison's model configs need attention before any heavy work:\n  - "
                          + "\n  - ".join(problems))
    comparison.write_configs()
    kernel = kernel or pipeline.DEFAULT_KERNEL
    executed: list[Path] = []
    for i, model in enumerate(comparison.models, 1):
        if not model_notebooks:
            break
        started = time.perf_counter()
        print(f"[compare] model {i}/{len(comparison.models)} {model.name!r} ({model.cfg.model.get('backend')}): "
              f"runs/{model.cfg.run}", flush=True)
        executed += pipeline.run_notebooks(model.config_path, output_root=comparison.output_root, limit=limit,
                                           only=model_notebooks, kernel=kernel, notebooks_dir=notebooks_dir,
                                           progress_to=progress_to)
        print(f"[compare] model {model.name!r}: done in {time.perf_counter() - started:.0f} s", flush=True)
    if run_08:
        src_dir = notebooks_dir or pipeline.PROJECT_ROOT / "notebooks"
        parameters = {"config_path": str(comparison.path), "output_root": str(comparison.output_root),
                      "limit": int(limit or 0)}
        with pipeline._environment(**pipeline._kernel_environment(progress_to)):
            executed += [pipeline.run_step(stem, what, src_dir, comparison.run_dir / "notebooks", parameters,
                                           kernel=kernel, run_dir=comparison.run_dir)
                         for stem, what in COMPARISON_NOTEBOOKS.items()]
        print(f"[run_all] leaderboard: {comparison.figures_dir}/leaderboard.md", flush=True)
    return executed


def failures_summary(config_path: str | Path, *, output_root: str | Path | None = None) -> str:
    """The run's last line for a comparison: each model's failures at inference."""
    from emologits import pipeline

    comparison = load_comparison(config_path, output_root=output_root)
    return "; ".join(f"{m.name}: {pipeline.failures_line(pipeline.inference_failures(m.cfg.run_dir))}"
                     for m in comparison.models)


__all__ = ["COMPARISON_NOTEBOOKS", "LEADERBOARD_METHODS", "METHOD_LABELS", "REQUIRED_NOTEBOOKS", "Comparison",
           "ComparedModel", "ComparisonSchema", "failures_summary", "LeaderboardSection", "ModelRun", "is_comparison_config",
           "leaderboard_keys", "load_comparison", "run_comparison", "seconds_per_utterance", "setup"]
