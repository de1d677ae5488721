"""A run's manifest (notebook 01): the configured data set and emotion set, the ``--limit`` subset."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from emologits.config import Config


def prepare_run_manifest(cfg: Config, limit: int = 0) -> tuple[pd.DataFrame, dict[str, int]]:
    """Build ``runs/<run>/manifest.parquet`` from ``cfg.data`` (data set, root, selection, options,
    emotion set; paper sec. 4.1), keeping the seeded nested subset of ``limit`` utterances (else
    ``data.limit``; 0/None: all). Returns the run's manifest and the utterances each of the data
    set's subset rules keeps."""
    from emologits.artifacts import manifest_path, subset_manifest
    from emologits.data import prepare_with_counts, write_manifest

    data = cfg.data
    full, counts = prepare_with_counts(data["dataset"], cfg.resolve(data["root"]), selection=data["selection"],
                                       options=data["options"], emotion_set=data["emotion_set"])
    manifest = subset_manifest(full, limit or data["limit"], seed=cfg.evaluation["seed"])
    path = write_manifest(manifest, manifest_path(cfg), data["emotion_set"])
    print(f"{len(manifest)} of {len(full)} utterances -> {path}")
    return manifest, counts


__all__ = ["prepare_run_manifest"]
