"""Beyond the paper (notebook 09): every way of getting a distribution, scored side by side.

The paper compares the text level (sec. 3.4.1) with the token level (sec. 3.4.2, eq. 1-2). This
module adds, on the same utterances and with the same metrics:

* post-hoc calibration of class scores (:mod:`emologits.calibration`: temperature, vector,
  Dirichlet), of the token level's class logits (eq. 1 averaged over the steps, before eq. 2) and
  of the label likelihood's class log-probabilities, **cross-fitted**: each group of
  ``evaluation.calibration.groups`` (a manifest column: IEMOCAP sessions, CREMA-D speakers, official
  splits) is predicted by a map fitted on the other groups only;
* contextual calibration (Zhao et al. 2021): the ``contextual`` method's content-free
  distribution divided out of the token-level and label-likelihood distributions;
* prompt ensembles: the mean of the per-prompt distributions over ``evaluation.ensemble.prompts``
  (text level and token level);
* sampling: the mean of N sampled answers (the ``sampling`` method; N = 1, 3 and
  ``pipeline.sampling.n`` in ``table_sampling``);
* the model-seconds per utterance each method cost, from the ``seconds`` the runner measured per
  record (calibration adds no model call; an ensemble costs the sum of its prompts).

The row builders are plain functions on DataFrames (:func:`softmax_table`,
:func:`cross_fitted_table`, :func:`ensemble_table`, :func:`model_seconds`, :func:`beyond_table`);
:class:`BeyondTable` and :class:`CalibrationFigure` are the registered artefacts
(``table_beyond``, ``table_sampling``, ``reliability_calibration_token``,
``reliability_calibration_likelihood``) that
assemble them from a run. Rows whose inputs a run lacks are left out and named in the caption.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import softmax

from emologits.artifacts import DistributionKey, align_with_truth
from emologits.calibration import CALIBRATION_METHODS, DIRICHLET_L2, cross_fit
from emologits.errors import ConfigError
from emologits.extract.common import distribution_frame, invalid_row, valid_row
from emologits.metrics import evaluate_predictions, resolve_metrics
from emologits.metrics.functions import distribution_columns
from emologits.report.spec import CONFIGURED, Built

if TYPE_CHECKING:
    from emologits.notebook import Session

#: Column of the model-seconds per utterance in a beyond table.
SECONDS = "seconds_per_utt"
#: The columns of :data:`TABLE_BEYOND`: the paper's distribution metrics, JS, the calibration
#: metrics and the label metrics.
BEYOND_METRICS: tuple[str, ...] = ("kl", "bd", "r2", "js", "ece", "nll", "brier", "accuracy", "ua")
#: How a calibration map is named in a row.
CALIBRATION_LABELS: dict[str, str] = {"temperature": "temperature", "vector": "vector", "dirichlet": "Dirichlet"}
#: Reason of a calibrated row whose utterance the manifest lacks (no ground truth, no group).
NOT_IN_MANIFEST = "not_in_manifest"
#: Reason of a calibrated row whose utterance has no value in the groups column (no fold to hold it out in).
NO_GROUP = "no_calibration_group"
#: Reason of an ensemble row whose utterance has no valid distribution under any prompt.
NO_VALID_PROMPT = "invalid_in_every_prompt"
#: Manifest columns that can hold calibration groups (``evaluation.calibration.groups``), as named in messages.
GROUP_COLUMNS: tuple[str, ...] = ("session", "speaker", "split", "dialog")


# --------------------------------------------------------------------------------------------
# rows from DataFrames
# --------------------------------------------------------------------------------------------
def _score_classes(scores: pd.DataFrame) -> list[str]:
    classes = [c[len("s_"):] for c in scores.columns if str(c).startswith("s_")]
    if len(classes) < 2:
        raise ValueError(f"a class-score table needs s_<class> columns for at least two classes, got {list(scores.columns)}")
    return classes


def softmax_table(scores: pd.DataFrame) -> pd.DataFrame:
    """A class-score table (``utt_id, s_<class>..., valid, reason``) -> the distribution table of
    ``softmax(s)`` (the identity calibration map); invalid rows stay invalid with their reason."""
    classes = _score_classes(scores)
    valid = scores["valid"].astype(bool).to_numpy()
    probs = softmax(scores.loc[valid, [f"s_{c}" for c in classes]].to_numpy(dtype=float), axis=1) if valid.any() \
        else np.empty((0, len(classes)))
    rows, it = [], iter(probs)
    for utt_id, ok, reason in zip(scores["utt_id"], valid, scores["reason"]):
        rows.append(valid_row(utt_id, dict(zip(classes, next(it)))) if ok else invalid_row(utt_id, str(reason)))
    return distribution_frame(rows, classes)


def cross_fitted_table(scores: pd.DataFrame, manifest: pd.DataFrame, method: str, *, groups: str = "session",
                       l2: float = DIRICHLET_L2) -> pd.DataFrame:
    """Out-of-fold calibrated distributions (:func:`emologits.calibration.cross_fit`): the valid
    rows of a class-score table are paired with the manifest's ground truth (``gt_<class>``) and
    its ``groups`` column by ``utt_id``; each group is transformed by a ``method`` map fitted on the
    other groups only. Invalid rows stay invalid; utterances not in the manifest or without a group
    value are invalid (``not_in_manifest``, ``no_calibration_group``), counted, never fitted on."""
    classes = _score_classes(scores)
    gt = [f"gt_{c}" for c in classes]
    missing = [c for c in gt if c not in manifest.columns]
    if missing:
        raise ConfigError(f"the manifest lacks {missing}: class scores and ground truth are over different emotion sets")
    if groups not in manifest.columns:
        raise ConfigError(f"evaluation.calibration.groups: the manifest has no column {groups!r}; choose one of "
                          f"{', '.join(c for c in GROUP_COLUMNS if c in manifest.columns)}")
    merged = scores.merge(manifest[["utt_id", groups, *gt]], on="utt_id", how="left", indicator=True)
    in_manifest = (merged["_merge"] == "both").to_numpy()
    has_group = merged[groups].notna().to_numpy()
    usable = merged["valid"].astype(bool).to_numpy() & in_manifest & has_group
    kept = merged[usable]
    probs = cross_fit(method, kept[[f"s_{c}" for c in classes]].to_numpy(dtype=float),
                      kept[gt].to_numpy(dtype=float), kept[groups].tolist(), l2=l2) if usable.any() \
        else np.empty((0, len(classes)))
    rows, it = [], iter(probs)
    for utt_id, ok, known, valid, reason in zip(merged["utt_id"], usable, in_manifest, merged["valid"].astype(bool),
                                                merged["reason"]):
        if ok:
            rows.append(valid_row(utt_id, dict(zip(classes, next(it)))))
        else:
            rows.append(invalid_row(utt_id, NOT_IN_MANIFEST if not known else str(reason) if not valid else NO_GROUP))
    return distribution_frame(rows, classes)


def ensemble_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The prompt ensemble of per-prompt distribution tables: per utterance, the mean of its valid
    distributions over the prompts (an utterance valid under no prompt is invalid,
    ``invalid_in_every_prompt``). Utterances in the first table's order, then any others."""
    if len(tables) < 2:
        raise ValueError(f"an ensemble needs at least two prompts' tables, got {len(tables)}")
    cols = distribution_columns(tables[0], "p_")
    if any(distribution_columns(t, "p_") != cols for t in tables[1:]):
        raise ValueError("the prompts' tables are over different classes")
    classes = [c[len("p_"):] for c in cols]
    stacked = pd.concat([t[["utt_id", *cols, "valid"]] for t in tables], ignore_index=True)
    order = list(dict.fromkeys(stacked["utt_id"]))
    means = stacked[stacked["valid"].astype(bool)].groupby("utt_id", sort=False)[cols].mean()
    rows = [valid_row(u, dict(zip(classes, means.loc[u].to_numpy()))) if u in means.index
            else invalid_row(u, NO_VALID_PROMPT) for u in order]
    return distribution_frame(rows, classes)


def model_seconds(records: pd.DataFrame) -> float:
    """Model-seconds per utterance of one prompt's records: the runner's per-record ``seconds`` (a
    batch's time shared by its utterances), summed and divided by the number of records."""
    if "seconds" not in records.columns or not len(records):
        return float("nan")
    return float(pd.to_numeric(records["seconds"], errors="coerce").fillna(0.0).sum() / len(records))


@dataclass(frozen=True)
class MethodRow:
    """One row of a beyond table: its Type and Method cells, its distribution table and the
    model-seconds per utterance it cost."""

    type: str
    method: str
    distributions: pd.DataFrame
    seconds: float


def beyond_table(rows: Sequence[MethodRow], manifest: pd.DataFrame, metrics: Sequence[str] = BEYOND_METRICS,
                 **evaluation: Any) -> pd.DataFrame:
    """The numeric table (:func:`emologits.report.tables.metric_table`: each metric with its 95 %
    CI, ``n``, ``n_invalid``) of rows evaluated against ``manifest`` with ``evaluation`` (keyword
    arguments of :func:`~emologits.metrics.evaluate_predictions`), plus :data:`SECONDS`."""
    from emologits.report.tables import TableRow, metric_table

    specs = resolve_metrics(metrics)
    table_rows = [TableRow(r.type, r.method, evaluate_predictions(manifest, r.distributions, metrics=list(metrics),
                                                                  **evaluation)) for r in rows]
    df = metric_table(table_rows, specs)
    df[SECONDS] = [float(r.seconds) for r in rows]
    return df


# --------------------------------------------------------------------------------------------
# a run's rows (what the registered artefacts read)
# --------------------------------------------------------------------------------------------
@dataclass
class Rows:
    """What one row source gave: rows, and notes on what it left out (shown in the caption)."""

    rows: list[MethodRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _token_class_scores(records: pd.DataFrame, info: dict) -> pd.DataFrame:
    """The token level's class logits before eq. 2 (eq. 1, all steps)."""
    from emologits.extract.token import token_class_scores

    return token_class_scores(records, info["tracked_ids"], info["class_token_ids"], steps="all")


def _likelihood_class_scores(records: pd.DataFrame, info: dict) -> pd.DataFrame:
    """The label likelihood's class log-probabilities."""
    from emologits.extract.likelihood import likelihood_class_scores

    return likelihood_class_scores(records)


@dataclass(frozen=True)
class ScoreSource:
    """Class scores a calibration map is fitted on: what they are, how to compute them from a
    record set (the run's, or the ``contextual`` method's content-free inputs, which hold both
    kinds), and the distribution table the uncalibrated method reports."""

    label: str
    scores: Callable[[pd.DataFrame, dict], pd.DataFrame]
    raw: DistributionKey
    raw_label: str
    raw_type: str

    def read(self, session: Session, prompt: str) -> tuple[pd.DataFrame, float]:
        """The class scores of ``prompt``'s records and their model-seconds per utterance."""
        records, info = session.records(prompt, self.raw.inference_method)
        return self.scores(records, info), model_seconds(records)


#: The class scores the calibration rows and figures map (name -> source).
SCORE_SOURCES: dict[str, ScoreSource] = {
    "token": ScoreSource("Token-level", _token_class_scores, DistributionKey("token", "{prompt}", "all", CONFIGURED),
                         "Token-level ({configured}, paper)", "Paper"),
    "likelihood": ScoreSource("Label likelihood", _likelihood_class_scores, DistributionKey("likelihood", "{prompt}"),
                              "Label likelihood", "Extra"),
}


def _key(session: Session, key: DistributionKey, prompt: str) -> DistributionKey:
    return session.key(DistributionKey(key.method, prompt, key.steps, key.normalize))


def calibration_settings(session: Session) -> tuple[str, float]:
    """``evaluation.calibration`` (groups column, Dirichlet L2) of the run's config."""
    cal = session.cfg.evaluation.get("calibration") or {}
    return str(cal.get("groups", "session")), float(cal.get("l2", DIRICHLET_L2))


def ensemble_prompts(session: Session) -> list[str]:
    """The prompts of ``evaluation.ensemble.prompts`` that the run has (``prompts.ids``)."""
    wanted = (session.cfg.evaluation.get("ensemble") or {}).get("prompts", [])
    have = set(session.cfg.prompts["ids"])
    return [p for p in wanted if p in have]


def _group_count(session: Session, groups: str) -> int:
    if groups not in session.manifest.columns:
        return 0
    return int(session.manifest[groups].nunique(dropna=True))


def _group_columns(session: Session) -> list[str]:
    """Manifest columns that could be calibration folds (at least two values)."""
    return [c for c in GROUP_COLUMNS if _group_count(session, c) >= 2]


def calibrated_rows(session: Session, prompt: str, source: str,
                    methods: Sequence[str] = CALIBRATION_METHODS) -> Rows:
    """The uncalibrated row of ``source`` (``token``/``likelihood``) and one cross-fitted row per
    calibration map (``Type``: calibrated)."""
    src = SCORE_SOURCES[source]
    raw_key = _key(session, src.raw, prompt)
    if not session.configured(raw_key):
        return Rows(notes=[f"{src.label.lower()} rows (`{raw_key.inference_method}` is not in pipeline.methods)"])
    scores, seconds = src.read(session, prompt)
    out = Rows([MethodRow(src.raw_type, session.fill(src.raw_label),
                          session.distributions(raw_key), seconds)])
    groups, l2 = calibration_settings(session)
    n_groups = _group_count(session, groups)
    if n_groups < 2:
        others = ", ".join(f"`{c}`" for c in _group_columns(session)) or "none"
        out.notes.append(f"calibrated {src.label.lower()} rows (cross-fitting needs at least two groups in the "
                         f"manifest column `{groups}`, evaluation.calibration.groups; the run has {n_groups}; "
                         f"columns with two or more: {others})")
        return out
    for method in methods:
        out.rows.append(MethodRow("Calibrated", f"{src.label} + {CALIBRATION_LABELS[method]}",
                                  cross_fitted_table(scores, session.manifest, method, groups=groups, l2=l2), seconds))
    return out


def text_row(session: Session, prompt: str) -> Rows:
    """The paper's text level (sec. 3.4.1) and the generation's cost."""
    records, _ = session.records(prompt)
    return Rows([MethodRow("Paper", "Text (paper)", session.distributions(DistributionKey("text", prompt)),
                           model_seconds(records))])


def ensemble_rows(session: Session, prompt: str) -> Rows:
    """Text-level and token-level prompt ensembles over :func:`ensemble_prompts`; each costs the
    sum of its prompts' generation seconds."""
    prompts = ensemble_prompts(session)
    if len(prompts) < 2:
        return Rows(notes=["prompt ensembles (evaluation.ensemble.prompts names fewer than two prompts of "
                           f"prompts.ids: {', '.join(prompts) or 'none'})"])
    seconds = sum(model_seconds(session.records(p)[0]) for p in prompts)
    keys = {"Text": DistributionKey("text", "{p}"), "Token-level": DistributionKey("token", "{p}", "all", CONFIGURED)}
    return Rows([MethodRow("Ensemble", f"{name} ensemble ({len(prompts)} prompts)",  # the caption names them
                           ensemble_table([session.distributions(_key(session, key, p)) for p in prompts]), seconds)
                 for name, key in keys.items()])


def _method_missing(session: Session, method: str, prompt: str, what: str) -> Rows | None:
    """A note when the run does not compute ``method`` over ``prompt`` (not in ``pipeline.methods``,
    or left out by ``pipeline.method_prompts``: its records do not exist), else None."""
    if session.cfg.runs(method, prompt):
        return None
    if method in session.cfg.pipeline["methods"]:
        return Rows(notes=[f"{what} (add {prompt!r} to pipeline.method_prompts.{method} to compute it)"])
    return Rows(notes=[f"{what} (add `{method}` to pipeline.methods to compute it)"])


def contextual_rows(session: Session, prompt: str, source: str) -> Rows:
    """``source``'s class scores (``token``/``likelihood``) with contextual calibration (Zhao et al.
    2021: the ``contextual`` method's content-free distribution divided out, on the softmax of the
    class scores). Cost: the source's per utterance plus the content-free inputs' seconds shared
    by the utterances."""
    from emologits.extract.contextual import contextual_correction

    missing = _method_missing(session, "contextual", prompt, "contextual calibration")
    src = SCORE_SOURCES[source]
    if missing or not session.configured(_key(session, src.raw, prompt)):
        return missing or Rows()  # without `likelihood`, its own rows say so
    cf_records, cf_info = session.records(prompt, "contextual")
    scores, seconds = src.read(session, prompt)
    extra = float(pd.to_numeric(cf_records["seconds"], errors="coerce").fillna(0.0).sum()) / max(len(scores), 1)
    corrected = contextual_correction(scores, src.scores(cf_records, cf_info), normalize="softmax")
    return Rows([MethodRow("Calibrated", f"{src.label} + contextual", corrected, seconds + extra)])


def sampling_n(session: Session) -> int:
    """``pipeline.sampling.n``: answers sampled per utterance."""
    return int((session.cfg.pipeline.get("sampling") or {}).get("n", 10))


def sampling_rows(session: Session, prompt: str, ns: Sequence[int] | None = None) -> Rows:
    """Distributions from sampled answers (the ``sampling`` method): the mean of the parsed answers
    among the first N samples, for each N of ``ns`` (default: ``pipeline.sampling.n`` only). Cost:
    the measured seconds of all n samples, times N / n for N < n (one call samples all n); N = n
    is always a row."""
    from emologits.extract.sampling import sampling_distributions

    missing = _method_missing(session, "sampling", prompt, "sampling")
    if missing:
        return missing
    records, info = session.records(prompt, "sampling")
    n = sampling_n(session)
    seconds = model_seconds(records)
    kind = info.get("prompt", {}).get("kind", session.prompts[prompt].kind)
    return Rows([MethodRow("Sampling", f"Sampling (N = {k})",
                           sampling_distributions(records, kind, session.emotion_set, n=k), seconds * k / n)
                 for k in sorted({k for k in (ns or ()) if k < n} | {n})])


#: Where a beyond table's rows come from, in table order: each ``(session, prompt) -> Rows``.
ROW_SOURCES: tuple[Callable[[Session, str], Rows], ...] = (
    text_row,
    partial(calibrated_rows, source="token"),
    partial(contextual_rows, source="token"),
    ensemble_rows,
    sampling_rows,
    partial(calibrated_rows, source="likelihood"),
    partial(contextual_rows, source="likelihood"),
)


@dataclass(frozen=True)
class BeyondTable:
    """Methods as rows (:data:`ROW_SOURCES`) x :data:`BEYOND_METRICS` with CIs and invalid counts,
    plus the model-seconds per utterance, for one prompt; what a run lacks is named in the caption."""

    name: str
    caption: str
    notebook: str
    #: What the run's settings make of the table, appended to the caption (``{groups}``,
    #: ``{n_groups}``, ``{ensemble}``); the run README shows ``caption`` alone.
    details: str = ""
    prompt: str = "ambiguous"
    metrics: tuple[str, ...] = BEYOND_METRICS
    sources: tuple[Callable[[Session, str], Rows], ...] = ROW_SOURCES

    def inputs(self, session: Session) -> list[DistributionKey]:
        keys = [DistributionKey("text", self.prompt), _key(session, SCORE_SOURCES["token"].raw, self.prompt),
                _key(session, SCORE_SOURCES["likelihood"].raw, self.prompt)]
        for p in ensemble_prompts(session):
            keys += [DistributionKey("text", p), _key(session, SCORE_SOURCES["token"].raw, p)]
        return [k for k in dict.fromkeys(keys) if session.configured(k)]

    def outputs(self, session: Session) -> dict[str, list[Path]]:
        return {"table": [session.figures_dir / f"{self.name}.md"]}

    def caption_for(self, session: Session, notes: Sequence[str]) -> str:
        groups, _ = calibration_settings(session)
        details = self.details.format(groups=groups, n_groups=_group_count(session, groups),
                                      ensemble=", ".join(ensemble_prompts(session)) or "none")
        text = " ".join(t for t in (session.fill(self.caption), details) if t)
        return text + (f" Not in this table: {'; '.join(notes)}." if notes else "")

    def build(self, session: Session) -> Built:
        from emologits.report.tables import write_table

        rows, notes = [], []
        for source in self.sources:
            got = source(session, self.prompt)
            rows += got.rows
            notes += got.notes
        caption = self.caption_for(session, list(dict.fromkeys(notes)))
        if not rows:  # nothing this run can score: no table (and none left from an earlier run)
            for path in session.figures_dir.glob(f"{self.name}.*"):
                path.unlink()
            return Built(self.name, caption, [])
        df = beyond_table(rows, session.manifest, self.metrics, **session.evaluation)
        specs = resolve_metrics(self.metrics)
        paths = write_table(df, session.figures_dir, self.name, caption=caption, stamp=session.stamp, metrics=specs)
        return Built(self.name, caption, paths, df, specs)


@dataclass(frozen=True)
class CalibrationFigure:
    """Reliability diagrams of one score source before calibration (softmax of the class scores)
    and after each of ``methods`` (cross-fitted), side by side on one scale."""

    name: str
    caption: str
    notebook: str
    source: str
    prompt: str = "ambiguous"
    methods: tuple[str, ...] = ("temperature", "dirichlet")

    def inputs(self, session: Session) -> list[DistributionKey]:
        return []

    def outputs(self, session: Session) -> dict[str, list[Path]]:
        return {"figure": sorted(session.figures_dir.glob(f"{self.name}.*"))}

    def build(self, session: Session) -> Built:
        from emologits.report.figures import _no_data_figure, reliability_panels

        src = SCORE_SOURCES[self.source]
        groups, l2 = calibration_settings(session)
        caption = f"{session.fill(self.caption)} (cross-fitted over `{groups}`)"
        if not session.configured(_key(session, src.raw, self.prompt)):
            paths = _no_data_figure(session.figures_dir, self.name, f"{src.label}: not in pipeline.methods",
                                    stamp=session.stamp)
            return Built(self.name, caption, paths)
        scores, _ = src.read(session, self.prompt)
        tables = [(f"{src.label}, softmax (before)", softmax_table(scores))]
        if _group_count(session, groups) >= 2:
            tables += [(f"+ {CALIBRATION_LABELS[m]} (cross-fitted)",
                        cross_fitted_table(scores, session.manifest, m, groups=groups, l2=l2)) for m in self.methods]
        aligned = [(title, align_with_truth(session.manifest, table)) for title, table in tables]
        panels = [(title, a["truth"], a["pred"]) for title, a in aligned]
        paths = reliability_panels(panels, session.figures_dir, self.name, classes=aligned[0][1]["classes"],
                                   stamp=session.stamp)
        return Built(self.name, caption, paths)


# --------------------------------------------------------------------------------------------
# the registered artefacts (emologits.report.spec.ARTEFACTS)
# --------------------------------------------------------------------------------------------
NOTEBOOK = "09_beyond_the_paper"

TABLE_BEYOND = BeyondTable(
    "table_beyond", "Beyond the paper: every method side by side (ambiguous prompt).", NOTEBOOK,
    details="Calibration maps cross-fitted over `{groups}` ({n_groups} groups); prompt ensembles over {ensemble}; "
            "model-s/utt = model-seconds per utterance measured in this run (calibration adds none; an ensemble "
            "costs the sum of its prompts).")
TABLE_SAMPLING = BeyondTable(
    "table_sampling", "Sampling: N sampled answers per utterance against quality (ambiguous prompt).", NOTEBOOK,
    details="Each row averages the parsed answers among the first N samples of the same records; model-s/utt "
            "for N below the sampled n is the measured cost times N / n (one call samples all n).",
    sources=(partial(sampling_rows, ns=(1, 3, 10)),))
RELIABILITY_CALIBRATION_TOKEN = CalibrationFigure(
    "reliability_calibration_token",
    "Reliability before and after calibration (token level, ambiguous prompt)",
    NOTEBOOK, "token")
RELIABILITY_CALIBRATION_LIKELIHOOD = CalibrationFigure(
    "reliability_calibration_likelihood",
    "Reliability before and after calibration (label likelihood, ambiguous prompt)",
    NOTEBOOK, "likelihood")

__all__ = ["BEYOND_METRICS", "BeyondTable", "CalibrationFigure", "MethodRow", "ROW_SOURCES", "Rows",
           "SCORE_SOURCES", "SECONDS", "beyond_table", "calibrated_rows", "contextual_rows", "cross_fitted_table",
           "ensemble_rows", "ensemble_table", "model_seconds", "sampling_rows", "softmax_table", "text_row"]
