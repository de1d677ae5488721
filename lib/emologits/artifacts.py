"""Where a run's artefacts live and how notebooks hand them to each other (files, no globals).

Layout of ``runs/<run>/`` (see README "Outputs"):
``manifest.parquet`` (01) · ``inference/<prompt>/`` and ``likelihood/<prompt>/`` (02) ·
``distributions/<name>.parquet`` (03-06) · ``reports/`` (invalid-output and other CSVs) ·
``notebooks/`` (executed copies). Tables and figures go to ``figures/<run>/``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emologits.atomic import atomic_path
from emologits.config import TOKEN_NORMALIZATIONS, Config
from emologits.errors import EmologitsError
from emologits.metrics.functions import distribution_columns

#: The notebooks in execution order (file stem -> what it produces).
NOTEBOOKS: dict[str, str] = {
    "01_data_prep": "manifest + data summary",
    "02_inference": "generation records (both prompts) and label-likelihood records",
    "03_text_extraction": "text-level distributions + invalid-output report",
    "04_token_extraction": "token-level distributions -> Table 1",
    "05_prompt_ablation": "ambiguous vs single prompt, token level -> Table 2",
    "06_token_subset_ablation": "all tokens vs emotion-word tokens -> Figure 3",
    "07_single_label_eval": "accuracy / F1 vs the majority label -> Table 3",
    "09_beyond_the_paper": "calibrated distributions, prompt ensembles, model-seconds -> table_beyond",
}

#: Notebooks of a model comparison (``./run_all.sh configs/compare_<name>.yaml``, :mod:`emologits.compare`),
#: run after every model's own run; never part of a single model's run (:data:`NOTEBOOKS`).
COMPARISON_NOTEBOOKS: dict[str, str] = {
    "08_model_comparison": "leaderboard: models x methods x metrics (a compare config only)",
}


def notebook_stem(value: str, stems: Iterable[str] = (*NOTEBOOKS, *COMPARISON_NOTEBOOKS)) -> str | None:
    """The notebook of ``stems`` that ``value`` names (its number, ``03`` or ``3``, or its file
    name, ``03_text_extraction``, ``.ipynb`` optional), or None."""
    name = str(value).strip().removesuffix(".ipynb")
    for stem in stems:
        if name == stem or (name.isdigit() and int(name) == int(stem.split("_", 1)[0])):
            return stem
    return None


class MissingInputError(EmologitsError):
    """A notebook's input artefact is missing: run the named notebook first."""


def manifest_path(cfg: Config) -> Path:
    return cfg.run_dir / "manifest.parquet"


def distribution_path(cfg: Config, name: str) -> Path:
    """``runs/<run>/distributions/<name>.parquet``; names look like ``token__ambiguous__all__ratio``."""
    return cfg.run_dir / "distributions" / f"{name}.parquet"


def reports_dir(cfg: Config) -> Path:
    path = cfg.run_dir / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def require(path: Path, produced_by: str) -> Path:
    """Stop at once, naming the notebook to run first, when an input artefact is missing."""
    if not Path(path).exists():
        raise MissingInputError(
            f"{path} not found: run notebooks/{produced_by}.ipynb first (or ./run_all.sh, which runs "
            f"the notebooks in order)")
    return Path(path)


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Atomic Parquet write (temp file + rename): a killed run never leaves half a file."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_distributions(cfg: Config, name: str, distributions: pd.DataFrame) -> Path:
    missing = {"utt_id", "valid", "reason"} - set(distributions.columns)
    if missing or not distribution_columns(distributions, "p_"):
        raise EmologitsError(f"distribution table {name!r} lacks columns "
                             f"{sorted(missing) or ['p_<class>']} (utt_id, p_<class>..., valid, reason)")
    return write_parquet(distributions, distribution_path(cfg, name))


#: Which notebook writes a distribution table, by (method, token-step set): text level 03, token level
#: over all steps and label likelihood 04, token level over emotion-word steps 06.
PRODUCERS: dict[tuple[str, str | None], str] = {
    ("text", None): "03_text_extraction",
    ("token", "all"): "04_token_extraction",
    ("likelihood", None): "04_token_extraction",
    ("token", "emotion"): "06_token_subset_ablation",
}


@dataclass(frozen=True)
class DistributionKey:
    """Names one predicted-distribution table of a run: method (``text``, ``token``,
    ``likelihood``; sec. 3.4), prompt id, and for the token level the step set (``all`` generated
    steps or ``emotion``-word steps, sec. 5.3) and the eq. 2 normalisation (``ratio``, ``softmax``).
    ``name`` is the table's file stem, e.g. ``token__ambiguous__all__ratio``."""

    method: str
    prompt: str
    steps: str | None = None
    normalize: str | None = None

    def __post_init__(self) -> None:
        if (self.method, self.steps) not in PRODUCERS:
            raise EmologitsError(f"no distribution table {self.method!r} with steps={self.steps!r}; known: "
                                 + ", ".join(f"{m} (steps={s})" for m, s in PRODUCERS))
        if (self.steps is None) != (self.normalize is None):
            raise EmologitsError(f"{self.method} distributions: give both steps and normalize, or neither")

    @property
    def name(self) -> str:
        return "__".join(p for p in (self.method, self.prompt, self.steps, self.normalize) if p is not None)

    @property
    def producing_notebook(self) -> str:
        """The notebook that writes this table."""
        return PRODUCERS[(self.method, self.steps)]

    @property
    def inference_method(self) -> str:
        """The inference method whose records it is extracted from (``pipeline.methods``)."""
        return "likelihood" if self.method == "likelihood" else "generate"

    @classmethod
    def parse(cls, name: str) -> DistributionKey:
        """The key of a table name (``text__single``, ``token__ambiguous__emotion__softmax``)."""
        parts = name.split("__")
        if len(parts) not in (2, 4):
            raise EmologitsError(f"unknown distribution table name {name!r} (expected method__prompt or "
                                 "token__prompt__steps__normalize)")
        return cls(*parts)

    def __str__(self) -> str:
        return self.name


def producing_notebook(name: str | DistributionKey) -> str:
    """The notebook that writes distribution table ``name`` (see :data:`PRODUCERS`)."""
    key = name if isinstance(name, DistributionKey) else DistributionKey.parse(name)
    return key.producing_notebook


def read_distributions(cfg: Config, name: str | DistributionKey) -> pd.DataFrame:
    """A distribution table; a missing one names the notebook that writes it."""
    return pd.read_parquet(require(distribution_path(cfg, str(name)), producing_notebook(name)))


def align_with_truth(manifest: pd.DataFrame, distributions: pd.DataFrame) -> dict:
    """Pair predictions with ground truth by ``utt_id`` (manifest order).

    The classes are the manifest's ``gt_<class>`` columns; the table must have the same
    ``p_<class>`` columns. Returns ``classes``, ``truth`` and ``pred`` (n_valid, N) arrays,
    ``labels`` (majority labels, may hold None), ``utt_ids``, ``n_total`` (manifest rows),
    ``n_invalid`` (rows without a valid prediction, including utterances missing from the
    predictions: counted, never dropped silently).
    """
    gt = distribution_columns(manifest, "gt_")
    classes = tuple(c[len("gt_"):] for c in gt)
    pred_cols = [f"p_{c}" for c in classes]
    have = distribution_columns(distributions, "p_")
    if not gt or sorted(have) != sorted(pred_cols):
        raise EmologitsError(f"the manifest's classes {list(classes)} differ from the distribution table's "
                             f"{[c[2:] for c in have]}: were they made with the same emotion set?")
    merged = manifest[["utt_id", "label", *gt]].merge(
        distributions[["utt_id", *pred_cols, "valid"]], on="utt_id", how="left")
    valid = merged["valid"].fillna(False).astype(bool).to_numpy()
    kept = merged[valid]
    return {
        "classes": classes,
        "truth": kept[gt].to_numpy(dtype=float),
        "pred": kept[pred_cols].to_numpy(dtype=float),
        "labels": kept["label"].to_numpy(dtype=object),
        "utt_ids": kept["utt_id"].to_numpy(dtype=object),
        "n_total": int(len(merged)),
        "n_invalid": int((~valid).sum()),
    }


def evaluation_kwargs(cfg: Config) -> dict:
    """The config's ``evaluation`` section as keyword arguments of ``metrics.evaluate_predictions``:
    a key named like a registered metric (``kl``, ``r2``) chooses its convention."""
    from emologits.metrics import METRICS

    ev = cfg.evaluation
    return {"conventions": {m: ev[m] for m in METRICS.names() if m in ev}, "ties": ev["ties"],
            "n_boot": int(ev["bootstrap"]), "seed": int(ev["seed"])}


def token_normalizations(cfg: Config) -> tuple[str, str]:
    """(configured, other) eq. 2 variants: the config's ``evaluation.token_normalize`` and the other."""
    primary = cfg.evaluation.get("token_normalize", "ratio")
    if primary not in TOKEN_NORMALIZATIONS:
        raise EmologitsError(f"{cfg.path}: evaluation.token_normalize must be ratio or softmax, got {primary!r}")
    return primary, next(v for v in TOKEN_NORMALIZATIONS if v != primary)


def subset_manifest(manifest: pd.DataFrame, limit: int | None, seed: int = 0) -> pd.DataFrame:
    """The ``--limit`` subset: ``limit`` utterances drawn with ``seed``, kept in manifest order
    (None or 0: all). Nested: the subset for N is contained in the subset for any larger N (the
    first N of one seeded permutation), so growing a limit only adds utterances. A negative
    ``limit`` is a ConfigError."""
    if limit is not None and int(limit) < 0:
        from emologits.errors import ConfigError

        raise ConfigError(f"limit must be >= 1 (or 0 / None for all utterances), got {limit}")
    if not limit or limit >= len(manifest):
        return manifest.reset_index(drop=True)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(manifest))[: int(limit)])
    return manifest.iloc[chosen].reset_index(drop=True)


__all__ = ["COMPARISON_NOTEBOOKS", "NOTEBOOKS", "PRODUCERS", "DistributionKey", "MissingInputError", "align_with_truth", "distribution_path", "evaluation_kwargs", "producing_notebook", "token_normalizations",
           "manifest_path", "notebook_stem", "read_distributions", "reports_dir", "require", "subset_manifest",
           "write_distributions", "write_parquet"]
