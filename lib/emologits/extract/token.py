"""Token-level analysis (paper sec. 3.4.2, eq. 1-2; Figure 3 ablation of sec. 5.3).

At every generated step j the runner keeps the raw logits of the verbalizer's tracked ids. Per class,
eq. 1 averages the logits of an emotion word's K subword tokens at step j; several surface forms of one
class (e.g. "Anger" and "Angry", or BPE's start-of-response and after-space tokenizations) are averaged
with equal weight (with one surface form this is eq. 1 exactly). The class values are then averaged
over the chosen steps (all J steps by default, as the paper) and turned into a distribution by eq. 2
(``normalize="ratio"``: z / Σz) or by a softmax over the classes (``normalize="softmax"``).

The classes are the keys of the verbalizer's ``class_ids``, in their order (any emotion set, N >= 2;
paper4 by default in the runner); the table has ``p_<class>`` columns for them.

Eq. 2 is a distribution only when all N class logits are positive: a class logit <= 0 makes the
result invalid with reason ``nonpositive_logit`` (counted in the run's invalid report, never clipped or
shifted). All conventions: docs/conventions.md, "Token-level distribution (eq. 1-2)".
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from emologits.extract.common import (STATUS_OK, ExtractionError, class_scores_frame, distribution_frame,
                                      failed_inference_reason, invalid_row, pred_columns, scores_row, valid_row)

__all__ = ["class_logits_from_logits", "distribution_from_logits", "token_class_scores", "emotion_word_steps", "token_distributions", "NORMALIZATIONS", "STEP_SETS"]

#: Eq. 2 as printed, and the softmax alternative.
NORMALIZATIONS: tuple[str, ...] = ("ratio", "softmax")
#: Steps averaged: all J generated steps (paper default) or only the emotion-word steps (Figure 3).
STEP_SETS: tuple[str, ...] = ("all", "emotion")


def _normalize(z: np.ndarray, normalize: str) -> np.ndarray:
    if normalize == "ratio":
        if np.any(z <= 0):
            raise ExtractionError("nonpositive_logit", f"eq. 2 needs positive class logits; got {z.tolist()}")
        return z / z.sum()
    if normalize == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")


def distribution_from_logits(step_logits: np.ndarray, class_token_ids: Mapping[str, Sequence[Sequence[int]]],
                             steps: Sequence[int] | None = None, normalize: str = "ratio",
                             token_ids: Sequence[int] | None = None) -> dict[str, float]:
    """Eq. 1 per step and class, mean over ``steps`` (None = all J steps), then eq. 2 (or softmax).

    ``step_logits``: (J, V) full logits, or the gathered (J, T) form whose column t holds the logit of
    ``token_ids[t]``. ``class_token_ids``: per class (N >= 2, the result's order), one id list per
    surface form (the verbalizer's form). Raises ``ExtractionError`` with reason ``empty_steps``, ``nonfinite_logit`` or
    ``nonpositive_logit``."""
    class_z = class_logits_from_logits(step_logits, class_token_ids, steps, token_ids)
    phi = _normalize(class_z, normalize)
    return {e: float(p) for e, p in zip(class_token_ids, phi)}


def class_logits_from_logits(step_logits: np.ndarray, class_token_ids: Mapping[str, Sequence[Sequence[int]]],
                             steps: Sequence[int] | None = None,
                             token_ids: Sequence[int] | None = None) -> np.ndarray:
    """The N class logits before eq. 2: eq. 1 per step and class, mean over ``steps`` (arguments
    as :func:`distribution_from_logits`; the class scores that post-hoc calibration maps).
    Raises ``ExtractionError`` with reason ``empty_steps`` or ``nonfinite_logit``."""
    z = np.asarray(step_logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"step_logits must be 2-D (J, V) or (J, T); got shape {z.shape}")
    if token_ids is None:
        column = None
    else:
        if len(token_ids) != z.shape[1]:
            raise ValueError(f"token_ids has {len(token_ids)} ids but step_logits has {z.shape[1]} columns")
        column = {int(t): i for i, t in enumerate(token_ids)}

    def columns(ids: Sequence[int]) -> list[int]:
        if column is None:
            bad = [i for i in ids if not 0 <= int(i) < z.shape[1]]
            if bad:
                raise ValueError(f"token ids {bad} outside the vocabulary of size {z.shape[1]}")
            return [int(i) for i in ids]
        missing = [int(i) for i in ids if int(i) not in column]
        if missing:
            raise ValueError(f"token ids {missing} are not among the tracked ids")
        return [column[int(i)] for i in ids]

    chosen = list(range(z.shape[0])) if steps is None else [int(s) for s in steps]
    if not chosen:
        raise ExtractionError("empty_steps", "no generated steps to average")
    if any(not 0 <= s < z.shape[0] for s in chosen):
        raise ValueError(f"steps {chosen} outside 0..{z.shape[0] - 1}")
    z = z[chosen]
    classes = list(class_token_ids)
    pred_columns(classes)  # N >= 2 distinct classes
    class_z = np.empty(len(classes))
    for n, emotion in enumerate(classes):
        forms = class_token_ids[emotion]
        if not forms or any(len(ids) == 0 for ids in forms):
            raise ValueError(f"class {emotion!r} needs at least one non-empty surface form")
        per_form = [z[:, columns(ids)].mean(axis=1) for ids in forms]  # eq. 1, each (S,)
        class_z[n] = np.mean(per_form, axis=0).mean()  # forms equally weighted, then mean over steps
    if not np.all(np.isfinite(class_z)):
        raise ExtractionError("nonfinite_logit", f"non-finite class logits {class_z.tolist()}")
    return class_z


def emotion_word_steps(generated_token_ids: Sequence[int],
                       class_token_ids: Mapping[str, Sequence[Sequence[int]]]) -> list[int]:
    """Steps j whose generated token belongs to an emotion word (Figure 3 ablation): every position
    covered by a contiguous occurrence of some surface form's full id sequence in the generated ids
    (any class). Step j's logits are those that produced token j. Sorted, unique."""
    generated = [int(t) for t in generated_token_ids]
    covered: set[int] = set()
    for forms in class_token_ids.values():
        for ids in forms:
            ids = [int(i) for i in ids]
            k = len(ids)
            for start in range(len(generated) - k + 1):
                if generated[start:start + k] == ids:
                    covered.update(range(start, start + k))
    return sorted(covered)


def _as_matrix(value: object, n_tracked: int) -> np.ndarray:
    """A record's ``tracked_logits`` (J lists of T floats, possibly nested arrays from Parquet) -> (J, T)."""
    rows = list(value) if value is not None else []
    if not rows:
        return np.empty((0, n_tracked))
    return np.stack([np.asarray(r, dtype=np.float64) for r in rows])


def token_distributions(records: pd.DataFrame, tracked_ids: Sequence[int],
                        class_ids: Mapping[str, Sequence[Sequence[int]]], *, steps: str = "all",
                        normalize: str = "ratio") -> pd.DataFrame:
    """Inference records (``utt_id, status, error, generated_token_ids, tracked_logits`` (J x T),
    ``logsumexp`` (J)) -> predicted-distribution table with ``p_<class>`` for the classes of
    ``class_ids`` (in order). ``steps``: "all" (paper) or "emotion" (Figure 3). Invalid reasons: ``inference_failed:<error>``, ``empty_steps`` (J = 0),
    ``no_emotion_word_steps``, ``malformed_record``, ``nonfinite_logit``, ``nonpositive_logit``."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
    classes = list(class_ids)
    rows = []
    for utt_id, z in _class_logits_per_record(records, tracked_ids, class_ids, steps):
        if isinstance(z, str):
            rows.append(invalid_row(utt_id, z))
            continue
        try:
            probs = _normalize(z, normalize)
        except ExtractionError as exc:
            rows.append(invalid_row(utt_id, exc.reason))
            continue
        rows.append(valid_row(utt_id, dict(zip(classes, probs))))
    return distribution_frame(rows, classes)


def token_class_scores(records: pd.DataFrame, tracked_ids: Sequence[int],
                       class_ids: Mapping[str, Sequence[Sequence[int]]], *, steps: str = "all") -> pd.DataFrame:
    """The per-utterance class logits before eq. 2 (:func:`class_logits_from_logits`): a table
    ``utt_id, s_<class>..., valid, reason`` in the records' order (invalid rows: NaN scores and the
    reasons of :func:`token_distributions` other than ``nonpositive_logit``). Calibration input."""
    classes = list(class_ids)
    rows = []
    for utt_id, z in _class_logits_per_record(records, tracked_ids, class_ids, steps):
        rows.append(invalid_row(utt_id, z) if isinstance(z, str) else scores_row(utt_id, classes, z))
    return class_scores_frame(rows, classes)


def _class_logits_per_record(records: pd.DataFrame, tracked_ids: Sequence[int],
                             class_ids: Mapping[str, Sequence[Sequence[int]]], steps: str):
    """Per record: ``(utt_id, class logits)`` or ``(utt_id, invalid reason)``; the arguments are
    checked (``steps``, the record columns, N >= 2 distinct classes) before the first record."""
    if steps not in STEP_SETS:
        raise ValueError(f"steps must be one of {STEP_SETS}; got {steps!r}")
    missing = {"utt_id", "status", "error", "generated_token_ids", "tracked_logits"} - set(records.columns)
    if missing:
        raise ValueError(f"inference records lack columns {sorted(missing)}")
    pred_columns(list(class_ids))
    tracked = [int(t) for t in tracked_ids]
    for rec in records.itertuples(index=False):
        if rec.status != STATUS_OK:
            yield rec.utt_id, failed_inference_reason(rec.error)
            continue
        generated = [] if rec.generated_token_ids is None else [int(t) for t in rec.generated_token_ids]
        try:
            logits = _as_matrix(rec.tracked_logits, len(tracked))
        except ValueError:
            yield rec.utt_id, "malformed_record"
            continue
        if logits.shape != (len(generated), len(tracked)):
            yield rec.utt_id, "malformed_record"
            continue
        if steps == "all":
            chosen = None if generated else []
        else:
            chosen = emotion_word_steps(generated, class_ids)
            if generated and not chosen:
                yield rec.utt_id, "no_emotion_word_steps"
                continue
        try:
            yield rec.utt_id, class_logits_from_logits(logits, class_ids, steps=chosen, token_ids=tracked)
        except ExtractionError as exc:
            yield rec.utt_id, exc.reason
