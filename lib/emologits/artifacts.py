"""Where a run's artefacts live and how notebooks hand them to each other (files, no globals).

Layout of ``runs/<run>/`` (see README "Outputs"):
``manifest.parquet`` (01) · ``inference/<prompt>/`` and ``likelihood/<prompt>/`` (02) ·
``distributions/<name>.parquet`` (03-06) · ``reports/`` (invalid-output and other CSVs) ·
``notebooks/`` (executed copies). Tables and figures go to ``figures/<run>/``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emologits.atomic import atomic_path
from emologits.config import Config
from emologits.emotions import EMOTIONS, GT_COLUMNS, PRED_COLUMNS
from emologits.errors import EmologitsError

#: The notebooks in execution order (file stem -> what it produces).
NOTEBOOKS: dict[str, str] = {
    "01_data_prep": "manifest + data summary",
    "02_inference": "generation records (both prompts) and label-likelihood records",
    "03_text_extraction": "text-level distributions + invalid-output report",
    "04_token_extraction": "token-level distributions -> Table 1",
    "05_prompt_ablation": "ambiguous vs single prompt, token level -> Table 2",
    "06_token_subset_ablation": "all tokens vs emotion-word tokens -> Figure 3",
    "07_single_label_eval": "accuracy / F1 vs the majority label -> Table 3",
}


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
    missing = {"utt_id", *PRED_COLUMNS, "valid", "reason"} - set(distributions.columns)
    if missing:
        raise EmologitsError(f"distribution table {name!r} lacks columns {sorted(missing)}")
    return write_parquet(distributions, distribution_path(cfg, name))


def producing_notebook(name: str) -> str:
    """The notebook that writes distribution table ``name`` (``text__…`` 03, ``token__…__emotion__…``
    06, other ``token__…`` and ``likelihood__…`` 04)."""
    method = name.split("__", 1)[0]
    if method == "text":
        return "03_text_extraction"
    if method == "token" and "__emotion__" in name:
        return "06_token_subset_ablation"
    if method in ("token", "likelihood"):
        return "04_token_extraction"
    raise EmologitsError(f"unknown distribution table name {name!r} (expected text__, token__ or likelihood__)")


def read_distributions(cfg: Config, name: str) -> pd.DataFrame:
    """A distribution table; a missing one names the notebook that writes it."""
    return pd.read_parquet(require(distribution_path(cfg, name), producing_notebook(name)))


def align_with_truth(manifest: pd.DataFrame, distributions: pd.DataFrame) -> dict:
    """Pair predictions with ground truth by ``utt_id`` (manifest order).

    Returns ``truth`` and ``pred`` (n_valid, 4) arrays, ``labels`` (majority labels, may hold None),
    ``utt_ids``, ``n_total`` (manifest rows), ``n_invalid`` (rows without a valid prediction,
    including utterances missing from the predictions: counted, never dropped silently).
    """
    merged = manifest[["utt_id", "label", *GT_COLUMNS]].merge(
        distributions[["utt_id", *PRED_COLUMNS, "valid"]], on="utt_id", how="left")
    valid = merged["valid"].fillna(False).astype(bool).to_numpy()
    kept = merged[valid]
    return {
        "truth": kept[list(GT_COLUMNS)].to_numpy(dtype=float),
        "pred": kept[list(PRED_COLUMNS)].to_numpy(dtype=float),
        "labels": kept["label"].to_numpy(dtype=object),
        "utt_ids": kept["utt_id"].to_numpy(dtype=object),
        "n_total": int(len(merged)),
        "n_invalid": int((~valid).sum()),
    }


def evaluation_kwargs(cfg: Config) -> dict:
    """The config's ``evaluation`` section as keyword arguments of ``metrics.evaluate_predictions``."""
    ev = cfg.evaluation
    return {"kl": ev["kl"], "r2": ev["r2"], "ties": ev["ties"], "n_boot": int(ev["bootstrap"]),
            "seed": int(ev["seed"])}


def token_normalizations(cfg: Config) -> tuple[str, str]:
    """(primary, alternative) eq. 2 variants: the config's ``evaluation.token_normalize`` and the other."""
    primary = cfg.evaluation.get("token_normalize", "ratio")
    if primary not in ("ratio", "softmax"):
        raise EmologitsError(f"{cfg.path}: evaluation.token_normalize must be ratio or softmax, got {primary!r}")
    return primary, ("softmax" if primary == "ratio" else "ratio")


def subset_manifest(manifest: pd.DataFrame, limit: int | None, seed: int = 0) -> pd.DataFrame:
    """The ``--limit`` subset: ``limit`` utterances drawn with ``seed``, kept in manifest order
    (None or 0: all). Nested: the subset for N is contained in the subset for any larger N (the
    first N of one seeded permutation), so growing a limit only adds utterances."""
    if not limit or limit >= len(manifest):
        return manifest.reset_index(drop=True)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(manifest))[: int(limit)])
    return manifest.iloc[chosen].reset_index(drop=True)


__all__ = ["EMOTIONS", "NOTEBOOKS", "MissingInputError", "align_with_truth", "distribution_path", "evaluation_kwargs", "producing_notebook", "token_normalizations",
           "manifest_path", "read_distributions", "reports_dir", "require", "subset_manifest",
           "write_distributions", "write_parquet"]
