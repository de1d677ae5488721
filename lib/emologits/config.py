"""Run configuration: one YAML file per experiment under ``configs/`` (see configs/demo.yaml).

One strict, typed schema (:class:`ConfigSchema`, pydantic; every key in docs/configuration.md),
checked by :func:`load_config` / :func:`config_from_dict` before any model is built: unknown keys,
wrong types and out-of-range values anywhere (back-end and data set options included) fail with the
file, the dotted path and, for a typo, the closest known key.

Relative paths inside a config resolve against the project root: the parent of the ``configs/``
folder holding the file (or the file's own folder when it is elsewhere).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator

from emologits.data import DATASETS, selection_problem
from emologits.emotions import DEFAULT_EMOTION_SET, get_emotion_set, set_spec_against
from emologits.errors import ConfigError, EmologitsError
from emologits.metrics import KL_CONVENTIONS, R2_CONVENTIONS, TIE_CONVENTIONS
from emologits.schema import Loc, StrictModel, format_problems, validate
from emologits.sfm.base import GenerationSettings, check_options

#: ``model.dtype`` values (sfm/device.py maps them to torch dtypes; ``auto``: per back-end and device).
DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")
#: eq. 2 variants for the token-level rows (``ratio``: z / sum z as printed; ``softmax``).
TOKEN_NORMALIZATIONS: tuple[str, ...] = ("ratio", "softmax")


class DataSection(StrictModel):
    """``data``: which corpus, where, which subset (paper sec. 4.1)."""

    #: A registered data set (``emologits.data.DATASETS``) or ``package.module:SPEC``.
    dataset: str | None = None
    root: str | None = None
    #: The subset rule; None: the data set's default (IEMOCAP/synthetic: aer-llm; CREMA-D: drop-other).
    selection: str | None = None
    #: A deterministic subset of N utterances (None: all).
    limit: Annotated[int, Field(ge=1)] | None = None
    #: The classes the ground truth and every distribution are over: a shipped set or a set file
    #: (a relative path resolves against the project root; loaded as the absolute path).
    emotion_set: str = DEFAULT_EMOTION_SET
    #: Per data set (its spec's ``options_model``); checked against ``dataset``'s schema.
    options: dict[str, Any] = Field(default_factory=dict)


class ModelSection(StrictModel):
    """``model``: the speech foundation model and how to run it (sec. 3.2)."""

    #: A registered back-end (``emologits.sfm.BACKENDS``) or ``package.module:Class``.
    backend: str | None = None
    name_or_path: str | None = None
    revision: str | None = None
    dtype: Literal[DTYPES] = "auto"  # type: ignore[valid-type]
    device: str = "auto"
    batch_size: Annotated[int, Field(ge=1)] = 8
    #: ``float32``: the output projection (LM head) runs in float32, so eq. 2 and the class softmax
    #: read unquantised logits; None: the model's dtype (bf16 logits step by 0.125 at 16-32).
    logits_dtype: Literal["float32"] | None = None
    #: Run code shipped with a checkpoint (families not in transformers); refused unless true.
    trust_remote_code: bool = False
    #: Per back-end (its ``options_model``); checked against ``backend``'s schema.
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        head, colon, index = value.partition(":")
        if value in ("auto", "cpu", "mps") or (head == "cuda" and (not colon or index.isdigit())):
            return value
        raise ValueError("must be auto, cpu, mps, cuda or cuda:<index>")


class PromptsSection(StrictModel):
    """``prompts``: the prompt file and the prompts to run (sec. 3.3)."""

    file: str = "prompts/prompts.yaml"
    ids: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["ambiguous", "single"])


class CalibrationSection(StrictModel):
    """``evaluation.calibration``: post-hoc calibration of class scores, cross-fitted over groups
    (beyond the paper; :mod:`emologits.calibration`, notebook 09)."""

    #: The manifest column whose values are the folds: each group is calibrated by a map fitted on
    #: the others (``session`` for IEMOCAP-like corpora, ``speaker`` for CREMA-D actors, ``split``).
    groups: str = "session"
    #: L2 weight of the Dirichlet map (on W - I and b).
    l2: Annotated[float, Field(ge=0)] = 1e-3


class EnsembleSection(StrictModel):
    """``evaluation.ensemble``: the prompts whose distributions a prompt ensemble averages
    (notebook 09; those of ``prompts.ids`` among them are used). Default: the paper's ambiguous
    prompt and its four paraphrases (one answer kind; add the paraphrases to ``prompts.ids``)."""

    prompts: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["ambiguous", "ambiguous_p1", "ambiguous_p2", "ambiguous_p3", "ambiguous_p4"])


class EvaluationSection(StrictModel):
    """``evaluation``: metric conventions (sec. 4.3) and the bootstrap."""

    kl: Literal[KL_CONVENTIONS] = "paper"  # type: ignore[valid-type]
    r2: Literal[R2_CONVENTIONS] = "paper"  # type: ignore[valid-type]
    ties: Literal[TIE_CONVENTIONS] = "paper"  # type: ignore[valid-type]
    bootstrap: Annotated[int, Field(ge=1)] = 1000
    seed: Annotated[int, Field(ge=0)] = 0
    #: The eq. 2 variant of the "Token-level" rows and Figure 3; the other is reported beside it.
    token_normalize: Literal[TOKEN_NORMALIZATIONS] = "ratio"  # type: ignore[valid-type]
    calibration: CalibrationSection = Field(default_factory=CalibrationSection)
    ensemble: EnsembleSection = Field(default_factory=EnsembleSection)


class SamplingSection(StrictModel):
    """``pipeline.sampling``: the ``sampling`` method (beyond the paper): N answers sampled per
    utterance, each read by the prompt's text parser (sec. 3.4.1), averaged into a distribution."""

    #: Answers sampled per utterance (reported for the first 1, 3, ..., n of them).
    n: Annotated[int, Field(ge=1)] = 10
    temperature: Annotated[float, Field(gt=0)] = 1.0
    #: Nucleus mass (1.0: none); ``top_k`` None: transformers' default (50; checkpoint defaults are dropped).
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    top_k: Annotated[int, Field(ge=1)] | None = None
    #: Base seed; each utterance's samples are seeded from it and its utt_id (resumable, shard-proof).
    seed: Annotated[int, Field(ge=0)] = 0


class ContextualSection(StrictModel):
    """``pipeline.contextual``: the content-free inputs of the ``contextual`` method (contextual
    calibration, Zhao et al. 2021): digital silence and ``noise_draws`` low-level Gaussian noises."""

    #: Length of each content-free input.
    seconds: Annotated[float, Field(gt=0)] = 2.0
    #: RMS amplitude of the noise inputs (full scale 1.0; 0.001 is -60 dBFS).
    noise_rms: Annotated[float, Field(gt=0, le=1)] = 1e-3
    #: Number of noise inputs (each its own seeded draw); 0: silence only.
    noise_draws: Annotated[int, Field(ge=0)] = 2
    seed: Annotated[int, Field(ge=0)] = 0


class PipelineSection(StrictModel):
    """``pipeline``: what notebook 02 runs, and when a run counts as done."""

    #: Inference methods run for every prompt (``emologits.inference.METHODS``): ``generate`` (text +
    #: token level, always needed) and ``likelihood`` (label likelihood; its table rows are skipped
    #: without it).
    methods: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["generate", "likelihood"])
    #: Largest fraction of failed utterances (per prompt) a run may have and still count as complete.
    max_failed_fraction: Annotated[float, Field(ge=0, le=1)] = 0.05
    #: Settings of the ``sampling`` method (used when ``methods`` names it).
    sampling: SamplingSection = Field(default_factory=SamplingSection)
    #: Content-free inputs of the ``contextual`` method (used when ``methods`` names it).
    contextual: ContextualSection = Field(default_factory=ContextualSection)
    #: method -> the prompts of ``prompts.ids`` it runs over (a method not named: every prompt), e.g.
    #: ``{sampling: [ambiguous]}`` to sample only where notebook 09 reads it.
    method_prompts: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(default_factory=dict)

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        from emologits.inference.methods import METHODS

        for name in value:
            try:
                METHODS.get(name)
            except ConfigError as exc:  # reported with the dotted path, like every schema problem
                raise ValueError(str(exc)) from None
        if "generate" not in value:
            raise ValueError("must include 'generate' (the text and token levels come from it)")
        if len(set(value)) != len(value):
            raise ValueError("names a method twice")
        return value


class ConfigSchema(StrictModel):
    """A whole config file (docs/configuration.md lists every key)."""

    #: The run name: ``runs/<run>/`` and ``figures/<run>/``.
    run: str
    #: True for the offline demo: its numbers are a pipeline check, not the paper's.
    pipeline_check: bool = False
    data: DataSection = Field(default_factory=DataSection)
    model: ModelSection = Field(default_factory=ModelSection)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    prompts: PromptsSection = Field(default_factory=PromptsSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    pipeline: PipelineSection = Field(default_factory=PipelineSection)

    @field_validator("run")
    @classmethod
    def _run_name(cls, value: str) -> str:
        if not value.strip() or value in (".", "..") or "/" in value or "\\" in value:
            raise ValueError("must be a non-empty name usable as a folder name (no '/')")
        return value


#: The mapping sections of a config (``Config`` attributes holding plain dicts).
SECTIONS: tuple[str, ...] = ("data", "model", "generation", "prompts", "evaluation", "pipeline")


def _merge(base: dict, override: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and key != "options":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: '{key}' must be a mapping, got {type(value).__name__}")
            out[key] = _merge(out[key], value, f"{where}:{key}")
        else:
            out[key] = value
    return out


def _method_prompts_problems(checked: ConfigSchema | None) -> list[tuple[Loc, str]]:
    """``pipeline.method_prompts`` against ``pipeline.methods`` and ``prompts.ids``."""
    if checked is None:
        return []
    problems: list[tuple[Loc, str]] = []
    for method, prompts in checked.pipeline.method_prompts.items():
        loc = ("pipeline", "method_prompts", method)
        if method not in checked.pipeline.methods:
            problems.append((loc, f"{method!r} is not in pipeline.methods {checked.pipeline.methods}"))
        problems += [(loc, f"{p!r} is not in prompts.ids {checked.prompts.ids}")
                     for p in prompts if p not in checked.prompts.ids]
    return problems


def _raw_section(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    section = raw.get(name)
    return dict(section) if isinstance(section, Mapping) else {}


def _options_problems(raw: Mapping[str, Any], checked: ConfigSchema | None,
                      sections: dict[str, dict[str, Any]],
                      project_root: Path | None = None) -> list[tuple[Loc, str]]:
    """``model.options`` against the back-end's schema, ``data.options`` against the data set's
    (both filled with their defaults in ``sections``), ``data.selection`` against the data set's
    rules and ``data.emotion_set`` (it resolves, and the data set can fill it; a relative set file
    is made absolute against ``project_root`` in ``sections``). Also runs when other keys failed,
    as long as the back-end / data set name is usable."""
    from emologits.sfm import backend_problem

    problems: list[tuple[Loc, str]] = []
    model = checked.model.model_dump() if checked else _raw_section(raw, "model")
    backend, options = model.get("backend"), model.get("options") or {}
    if backend is None and options:
        problems.append((("model", "options"), "set model.backend: the options belong to a back-end"))
    elif isinstance(backend, str) and isinstance(options, Mapping):
        cls, problem = backend_problem(backend)
        if problem:
            problems.append((("model", "backend"), problem))
        else:
            value, found = check_options(cls.options_model, options)
            problems += found
            if value is not None and checked:
                sections["model"]["options"] = value
    data = checked.data.model_dump() if checked else _raw_section(raw, "data")
    dataset, options = data.get("dataset"), data.get("options") or {}
    if dataset is None and options:
        problems.append((("data", "options"), "set data.dataset: the options belong to a data set"))
    emotion_set = None
    set_name = data.get("emotion_set", DEFAULT_EMOTION_SET)
    if isinstance(set_name, str):
        set_name = set_spec_against(set_name, project_root or Path.cwd())
        try:
            emotion_set = get_emotion_set(set_name)
        except ConfigError as exc:
            problems.append((("data", "emotion_set"), str(exc)))
        else:
            if checked:
                sections["data"]["emotion_set"] = set_name
    if not isinstance(dataset, str):  # None, or refused by the schema
        return problems
    try:
        spec = DATASETS.get(dataset)
    except ConfigError as exc:
        return problems + [(("data", "dataset"), str(exc))]
    if isinstance(options, Mapping):
        value, found = validate(spec.options_model, options, ("data", "options"))
        problems += found
        if value is not None and checked:
            sections["data"]["options"] = value.model_dump()
    selection = data.get("selection")
    if isinstance(selection, str):
        problem = selection_problem(spec, selection)
        if problem:
            problems.append((("data", "selection"), problem))
    if emotion_set is not None:
        try:
            spec.emotion_set(emotion_set)
        except EmologitsError as exc:
            problems.append((("data", "emotion_set"), str(exc)))
    return problems


def resolve_path(value: str | Path, project_root: str | Path | None = None) -> Path:
    """The one rule for paths in configs: ``~`` expanded; a relative path is relative to the project
    root (the parent of ``configs/``), or to the working directory when there is none."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return Path(project_root if project_root is not None else Path.cwd()) / path


@dataclass
class Config:
    """A loaded run configuration: every section validated (:class:`ConfigSchema`) and filled with
    its defaults, as plain dicts."""

    path: Path | None
    project_root: Path
    run: str
    pipeline_check: bool
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)
    #: Where ``runs/`` and ``figures/`` go (default: the project root); CI points it at a temp dir.
    output_root: Path | None = None

    def resolve(self, path: str | Path | None) -> Path | None:
        """Absolute path for a config value (relative to the project root); None stays None."""
        return None if path is None else resolve_path(path, self.project_root)

    @property
    def run_dir(self) -> Path:
        """``runs/<run>/``: every intermediate artefact of this run."""
        return (self.output_root or self.project_root) / "runs" / self.run

    @property
    def figures_dir(self) -> Path:
        """``figures/<run>/``: the run's tables, figures and README."""
        return (self.output_root or self.project_root) / "figures" / self.run

    def runs(self, method: str, prompt_id: str) -> bool:
        """Whether notebook 02 runs ``method`` over ``prompt_id``: the method is in ``pipeline.methods``
        and the prompt in ``prompts.ids`` and, where ``pipeline.method_prompts`` names the method, in
        its list."""
        chosen = self.pipeline.get("method_prompts", {}).get(method)
        return (method in self.pipeline["methods"] and prompt_id in self.prompts["ids"]
                and (chosen is None or prompt_id in chosen))

    def as_dict(self) -> dict[str, Any]:
        """The merged configuration as plain data (saved with every run for provenance)."""
        return {"run": self.run, "pipeline_check": self.pipeline_check,
                **{s: copy.deepcopy(getattr(self, s)) for s in SECTIONS}}


def config_from_dict(raw: dict[str, Any], *, path: Path | None = None,
                     project_root: Path | None = None,
                     overrides: Mapping[str, Any] | None = None) -> Config:
    """Validate ``raw`` against :class:`ConfigSchema` (and each ``options`` against its back-end's /
    data set's schema) and fill every default. One ConfigError lists every problem, each as
    ``<file>: <dotted.path>: <problem>``; ``overrides`` (already merged into ``raw``) only decides
    which problems are labelled ``<file> (overrides)``."""
    where = str(path) if path else "<config>"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: top level must be a mapping")

    def source(loc: Loc) -> str:
        node: Any = overrides
        for key in loc:
            if not isinstance(node, Mapping) or key not in node:
                return where
            node = node[key]
        return f"{where} (overrides)" if overrides else where

    if project_root is None:
        if path is not None:
            parent = path.resolve().parent
            project_root = parent.parent if parent.name == "configs" else parent
        else:
            project_root = Path.cwd()
    checked, problems = validate(ConfigSchema, raw)
    sections = {s: getattr(checked, s).model_dump() for s in SECTIONS} if checked else {}
    problems += _options_problems(raw, checked, sections, project_root)
    problems += _method_prompts_problems(checked)
    if problems:
        raise ConfigError(format_problems(problems, source))
    return Config(path=path, project_root=project_root, run=checked.run,
                  pipeline_check=checked.pipeline_check, **sections)


def read_yaml(path: str | Path, what: str) -> Any:
    """Parse a YAML file; a missing or malformed file is a ConfigError naming it (``what``: e.g. "config")."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None,
                output_root: str | Path | None = None) -> Config:
    """Read a YAML config; ``overrides`` (same nesting) win over the file (used by notebooks/CI);
    ``output_root`` relocates ``runs/`` and ``figures/`` (default: the project root)."""
    path = Path(path)
    raw = read_yaml(path, "config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    if overrides:
        raw = _merge(raw, overrides, f"{path} (overrides)")
    cfg = config_from_dict(raw, path=path, overrides=overrides)
    if output_root is not None:
        cfg.output_root = Path(output_root).resolve()
    return cfg
