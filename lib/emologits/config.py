"""Run configuration: one YAML file per experiment under ``configs/`` (see configs/demo.yaml).

Relative paths inside a config resolve against the project root: the parent of the ``configs/``
folder holding the file (or the file's own folder when it is elsewhere).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emologits.errors import ConfigError

#: Defaults for every section; a config overrides what it names. ``data.selection: None`` means the
#: data set's own default rule (IEMOCAP/synthetic: aer-llm; CREMA-D: drop-other).
DEFAULTS: dict[str, Any] = {
    "run": None,
    "pipeline_check": False,
    "data": {"dataset": None, "root": None, "selection": None, "limit": None, "options": {}},
    "model": {
        "backend": None, "name_or_path": None, "revision": None, "dtype": "auto",
        "device": "auto", "batch_size": 8, "options": {},
    },
    "generation": {"preset": "greedy"},
    "prompts": {"file": "prompts/prompts.yaml", "ids": ["ambiguous", "single"]},
    # token_normalize: the eq. 2 variant used for the "Token-level" rows and Figure 3 ("ratio" =
    # z / sum z as printed; "softmax"); the other one is always reported beside it.
    "evaluation": {"kl": "paper", "r2": "paper", "ties": "paper", "bootstrap": 1000, "seed": 0,
                   "token_normalize": "ratio"},
}
SECTIONS = tuple(k for k, v in DEFAULTS.items() if isinstance(v, dict))


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


@dataclass
class Config:
    """A loaded run configuration (all sections merged with DEFAULTS)."""

    path: Path | None
    project_root: Path
    run: str
    pipeline_check: bool
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    #: Where ``runs/`` and ``figures/`` go (default: the project root); CI points it at a temp dir.
    output_root: Path | None = None

    def resolve(self, path: str | Path | None) -> Path | None:
        """Absolute path for a config value (relative to the project root); None stays None."""
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.project_root / p)

    @property
    def run_dir(self) -> Path:
        """``runs/<run>/``: every intermediate artefact of this run."""
        return (self.output_root or self.project_root) / "runs" / self.run

    @property
    def figures_dir(self) -> Path:
        """``figures/<run>/``: the run's tables, figures and README."""
        return (self.output_root or self.project_root) / "figures" / self.run

    def as_dict(self) -> dict[str, Any]:
        """The merged configuration as plain data (saved with every run for provenance)."""
        return {"run": self.run, "pipeline_check": self.pipeline_check,
                **{s: copy.deepcopy(getattr(self, s)) for s in SECTIONS}}


def config_from_dict(raw: dict[str, Any], *, path: Path | None = None,
                     project_root: Path | None = None) -> Config:
    """Validate and merge a raw mapping with DEFAULTS."""
    where = str(path) if path else "<config>"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: top level must be a mapping")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(DEFAULTS)}")
    merged = _merge(DEFAULTS, raw, where)
    if not merged["run"]:
        raise ConfigError(f"{where}: 'run' (the run name, used for runs/<run>/) is required")
    if project_root is None:
        if path is not None:
            parent = path.resolve().parent
            project_root = parent.parent if parent.name == "configs" else parent
        else:
            project_root = Path.cwd()
    return Config(path=path, project_root=project_root, run=str(merged["run"]),
                  pipeline_check=bool(merged["pipeline_check"]),
                  **{s: merged[s] for s in SECTIONS})


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
    if overrides:
        raw = _merge(raw, overrides, f"{path} (overrides)")
    cfg = config_from_dict(raw, path=path)
    if output_root is not None:
        cfg.output_root = Path(output_root).resolve()
    return cfg
