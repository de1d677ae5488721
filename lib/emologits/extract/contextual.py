"""Contextual calibration (beyond the paper; "Calibrate Before Use", Zhao et al. 2021, eq. 1 there).

The ``contextual`` method (:mod:`emologits.inference.contextual`) records, per prompt, the class
scores of content-free inputs (silence, low-level noise). Their mean distribution ``p_cf`` is the
model's answer when there is nothing to hear; contextual calibration divides it out of every
utterance's distribution ``p`` and renormalises:

    q = (p / p_cf) / sum(p / p_cf)     (W = diag(p_cf)^-1, b = 0 in Zhao et al.)

``p`` and each content-free distribution come from the same class scores by the same
normalisation (``softmax``, or ``ratio``: eq. 2 as printed, z / sum z, for token-level class logits).
The class scores are those post-hoc calibration also starts from: token level, the eq. 1 class
logits averaged over steps (:func:`emologits.extract.token.token_class_scores`); label likelihood,
the class log-probs (:func:`emologits.extract.likelihood.likelihood_class_scores`).

Invalid reasons: the input tables' own (``inference_failed:<error>``, ...), ``nonpositive_logit``
(ratio with a class logit <= 0), and ``no_content_free_scores`` when no content-free input gave a
usable distribution (every row then).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from emologits.emotions import EmotionSet
from emologits.extract.common import ExtractionError, distribution_frame, invalid_row, valid_row
from emologits.extract.likelihood import likelihood_class_scores
from emologits.extract.token import NORMALIZATIONS, _normalize, token_class_scores

__all__ = ["NO_CONTENT_FREE", "content_free_distribution", "contextual_correction",
           "contextual_likelihood_distributions", "contextual_token_distributions"]

#: Reason of every row when no content-free input gave a distribution.
NO_CONTENT_FREE = "no_content_free_scores"


def _score_classes(scores: pd.DataFrame) -> list[str]:
    classes = [str(c)[2:] for c in scores.columns if str(c).startswith("s_")]
    if len(classes) < 2:
        raise ValueError(f"a class-score table needs s_<class> columns for at least two classes; got {list(scores.columns)}")
    missing = {"utt_id", "valid"} - set(scores.columns)
    if missing:
        raise ValueError(f"a class-score table lacks columns {sorted(missing)}")
    return classes


def _chosen(content_free: pd.DataFrame, inputs: Sequence[str] | None) -> pd.DataFrame:
    if inputs is None:
        return content_free
    unknown = sorted(set(inputs) - set(content_free["utt_id"].astype(str)))
    if unknown:
        raise ValueError(f"no content-free input {unknown}; the records have {content_free['utt_id'].tolist()}")
    return content_free[content_free["utt_id"].astype(str).isin(set(inputs))]


def content_free_distribution(content_free: pd.DataFrame, *, normalize: str = "softmax",
                              inputs: Sequence[str] | None = None) -> np.ndarray | None:
    """The mean distribution of the content-free inputs' class scores (``utt_id, s_<class>...,
    valid``; ``inputs``: only these ids, e.g. ``["silence"]``), each normalised by ``normalize``;
    None when none of them gives one (invalid, or ratio with a class logit <= 0)."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
    classes = _score_classes(content_free)
    rows = _chosen(content_free, inputs)
    dists = []
    for z in rows.loc[rows["valid"].astype(bool), [f"s_{c}" for c in classes]].to_numpy(dtype=np.float64):
        try:
            dists.append(_normalize(z, normalize))
        except ExtractionError:
            continue
    return np.mean(dists, axis=0) if dists else None


def contextual_correction(class_scores: pd.DataFrame, content_free: pd.DataFrame, *, normalize: str = "softmax",
                          inputs: Sequence[str] | None = None) -> pd.DataFrame:
    """Every utterance's distribution with the content-free one divided out (module docstring):
    ``class_scores`` and ``content_free`` are class-score tables (``utt_id, s_<class>..., valid,
    reason``) over the same classes; returns the distribution table ``utt_id, p_<class>..., valid,
    reason`` in ``class_scores``' order."""
    classes = _score_classes(class_scores)
    if _score_classes(content_free) != classes:
        raise ValueError(f"the content-free scores' classes {_score_classes(content_free)} differ from the "
                         f"utterances' {classes}: were they made with the same emotion set and method?")
    p_cf = content_free_distribution(content_free, normalize=normalize, inputs=inputs)
    rows = []
    for rec in class_scores.to_dict("records"):
        if not bool(rec["valid"]):
            rows.append(invalid_row(rec["utt_id"], rec.get("reason") or "invalid"))
            continue
        if p_cf is None:
            rows.append(invalid_row(rec["utt_id"], NO_CONTENT_FREE))
            continue
        try:
            p = _normalize(np.array([rec[f"s_{c}"] for c in classes], dtype=np.float64), normalize)
        except ExtractionError as exc:
            rows.append(invalid_row(rec["utt_id"], exc.reason))
            continue
        q = p / p_cf
        rows.append(valid_row(rec["utt_id"], dict(zip(classes, q / q.sum()))))
    return distribution_frame(rows, classes)


def contextual_token_distributions(records: pd.DataFrame, content_free_records: pd.DataFrame,
                                   tracked_ids: Sequence[int], class_ids: Mapping[str, Sequence[Sequence[int]]], *,
                                   steps: str = "all", normalize: str = "softmax",
                                   inputs: Sequence[str] | None = None) -> pd.DataFrame:
    """Token level with contextual calibration: the eq. 1 class logits of the ``generate`` records
    and of the ``contextual`` records of the same prompt (:func:`token_class_scores`, ``steps``),
    each normalised by ``normalize`` (eq. 2 ``ratio`` or ``softmax``), then :func:`contextual_correction`."""
    return contextual_correction(token_class_scores(records, tracked_ids, class_ids, steps=steps),
                                 token_class_scores(content_free_records, tracked_ids, class_ids, steps=steps),
                                 normalize=normalize, inputs=inputs)


def contextual_likelihood_distributions(records: pd.DataFrame, content_free_records: pd.DataFrame,
                                        emotion_set: EmotionSet | str | None = None, *, length_normalize: bool = False,
                                        inputs: Sequence[str] | None = None) -> pd.DataFrame:
    """Label likelihood with contextual calibration: the class log-probs of the ``likelihood``
    records and of the ``contextual`` records of the same prompt (:func:`likelihood_class_scores`),
    softmaxed, then :func:`contextual_correction`."""
    return contextual_correction(
        likelihood_class_scores(records, emotion_set, length_normalize=length_normalize),
        likelihood_class_scores(content_free_records, emotion_set, length_normalize=length_normalize),
        normalize="softmax", inputs=inputs)
