"""The paper's artefacts as data: each table and figure is a spec, registered in ``ARTEFACTS``.

A spec names its file stem, its caption (the one place it is written), the notebook that produces
it and what it is built from; :func:`emologits.report.build.build_artefact` builds, writes and
returns it, with or without a notebook. Kinds:

* :class:`MetricTable` -- rows (method x prompt x token-step set x normalisation, each a
  :class:`Row` with a :class:`~emologits.artifacts.DistributionKey`, or a reference row with the
  paper's values only) x metrics (``METRICS`` names), the paper's numbers beside ours, and
  optionally a bar chart of its rows (Figure 3).
* :class:`PredictionFigure` -- a figure of one distribution table against the ground truth
  (reliability diagram, per-class scatter).
* :class:`GroundTruthFigure` -- a figure of the manifest (ground-truth entropy histogram).
* :class:`InvalidReport` -- invalid outputs per reason, one CSV per configured prompt (sec. 5.1).
* :class:`RunPage` -- the run's ``README.md`` with every table and figure of the registry.

Row names, keys and captions may hold ``{configured}`` and ``{other}``: the config's
``evaluation.token_normalize`` and the other eq. 2 variant, filled in by the session (so the
"Token-level" rows are always the configured normalisation). The paper's specs are in
:mod:`emologits.report.paper`; add one there (or in any module, named ``package.module:OBJECT``).
"""
from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from emologits.artifacts import DistributionKey, align_with_truth
from emologits.errors import ConfigError
from emologits.registry import Registry

if TYPE_CHECKING:
    from emologits.notebook import Session

#: Placeholders filled from the config: the configured eq. 2 normalisation and the other one.
CONFIGURED = "{configured}"
OTHER = "{other}"


@dataclass
class Built:
    """What building an artefact produced: its caption, the files written and, for a table, the
    numeric DataFrame. A notebook shows it as the table (display strings) and its figures."""

    name: str
    caption: str
    paths: list[Path]
    table: pd.DataFrame | None = None
    metrics: list[Any] = field(default_factory=list)

    def _repr_html_(self) -> str:
        from emologits.report.tables import display_table

        parts = [f"<p><b>{html.escape(self.caption)}</b></p>"]
        if self.table is not None:
            shown = display_table(self.table, metrics=self.metrics) if self.metrics else self.table
            parts.append(shown.to_html(index=False))
        for p in self.paths:
            if p.suffix == ".png":
                data = base64.b64encode(p.read_bytes()).decode("ascii")
                parts.append(f'<img src="data:image/png;base64,{data}" style="max-width: 40em"/>')
        return "\n".join(parts)


@dataclass(frozen=True)
class Row:
    """A table row: the Method cell, the Type cell, and the distributions it scores (None: a
    reference row, the paper's values only). The paper's values beside it are looked up by the
    Method name in the table's ``paper``."""

    method: str
    type: str
    key: DistributionKey | None = None


@dataclass(frozen=True)
class MetricTable:
    """Rows x metrics, ours with 95 % CIs beside the paper's; ``bars``: the file stem of a bar
    chart of the rows (one panel per metric), or None."""

    name: str
    caption: str
    notebook: str
    metrics: tuple[str, ...]
    rows: tuple[Row, ...]
    paper: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    paper_metrics: tuple[str, ...] = ()
    bars: str | None = None

    def inputs(self, session: Session) -> list[DistributionKey]:
        return [session.key(r.key) for r in self.rows if r.key is not None and session.configured(r.key)]

    def outputs(self, session: Session) -> dict[str, list[Path]]:
        """README sections: the table (its Markdown file) and the bar chart."""
        out = {"table": [session.figures_dir / f"{self.name}.md"]}
        if self.bars:
            out["figure"] = sorted(session.figures_dir.glob(f"{self.bars}.*"))
        return out

    def build(self, session: Session) -> Built:
        from emologits.metrics import resolve_metrics
        from emologits.report.figures import metric_bars
        from emologits.report.tables import TableRow, metric_table, write_table

        rows = []
        for r in self.rows:
            if r.key is not None and not session.configured(r.key):
                continue  # e.g. label likelihood when pipeline.methods leaves it out
            method = session.fill(r.method)
            result = None if r.key is None else session.evaluate(r.key, self.metrics)
            rows.append(TableRow(r.type, method, result, self.paper.get(method)))
        specs = resolve_metrics(self.metrics)
        df = metric_table(rows, specs, self.paper_metrics)
        caption = session.fill(self.caption)
        paths = write_table(df, session.figures_dir, self.name, caption=caption, stamp=session.stamp, metrics=specs)
        if self.bars:
            paths += metric_bars([(r.method, r.result) for r in rows], specs, session.figures_dir, self.bars,
                                 stamp=session.stamp)
        return Built(self.name, caption, paths, df, specs)


@dataclass(frozen=True)
class PredictionFigure:
    """``draw(truth, pred, out_dir, name, *, title, classes, stamp)`` on one distribution table's
    valid rows paired with the ground truth; the title is the caption (it names method and prompt)."""

    name: str
    caption: str
    notebook: str
    key: DistributionKey
    draw: Callable[..., list[Path]]

    def inputs(self, session: Session) -> list[DistributionKey]:
        return [session.key(self.key)]

    def outputs(self, session: Session) -> dict[str, list[Path]]:
        return {"figure": sorted(session.figures_dir.glob(f"{self.name}.*"))}

    def build(self, session: Session) -> Built:
        aligned = align_with_truth(session.manifest, session.distributions(self.key))
        caption = session.fill(self.caption)
        paths = self.draw(aligned["truth"], aligned["pred"], session.figures_dir, self.name,
                          title=caption, classes=aligned["classes"], stamp=session.stamp)
        return Built(self.name, caption, paths)


@dataclass(frozen=True)
class GroundTruthFigure:
    """``draw(manifest, out_dir, name, *, stamp)`` on the run's manifest (data preparation)."""

    name: str
    caption: str
    notebook: str
    draw: Callable[..., list[Path]]

    def inputs(self, session: Session) -> list[DistributionKey]:
        return []

    def outputs(self, session: Session) -> dict[str, list[Path]]:
        return {"figure": sorted(session.figures_dir.glob(f"{self.name}.*"))}

    def build(self, session: Session) -> Built:
        paths = self.draw(session.manifest, session.figures_dir, self.name, stamp=session.stamp)
        return Built(self.name, session.fill(self.caption), paths)


@dataclass(frozen=True)
class InvalidReport:
    """Invalid outputs per reason of one distribution kind, one ``reports/invalid_<key>.csv`` per
    configured prompt (sec. 5.1: invalid outputs are counted and omitted)."""

    name: str
    caption: str
    notebook: str
    method: str
    steps: str | None = None
    normalize: str | None = None

    def keys(self, session: Session) -> list[DistributionKey]:
        return [session.key(DistributionKey(self.method, p, self.steps, self.normalize))
                for p in session.cfg.prompts["ids"]]

    def inputs(self, session: Session) -> list[DistributionKey]:
        return self.keys(session)

    def outputs(self, session: Session) -> dict[str, list[Path]]:
        return {}

    def build(self, session: Session) -> Built:
        from emologits.extract import invalid_report
        from emologits.report.tables import write_csv

        reports, paths = [], []
        for key in self.keys(session):
            report = invalid_report(session.distributions(key)).assign(prompt=key.prompt)
            paths.append(write_csv(report, session.reports_dir / f"invalid_{key.name}.csv", stamp=session.stamp))
            reports.append(report)
        return Built(self.name, session.fill(self.caption), paths, pd.concat(reports, ignore_index=True))


@dataclass(frozen=True)
class RunPage:
    """The run's ``README.md``: the pipeline-check banner, ``notes``, every registered table and
    figure whose files exist (in registry order), the failures at inference and provenance."""

    name: str
    caption: str
    notebook: str
    notes: tuple[str, ...] = ()

    def inputs(self, session: Session) -> list[DistributionKey]:
        return []

    def outputs(self, session: Session) -> dict[str, list[Path]]:
        return {}

    def build(self, session: Session) -> Built:
        from emologits.report.readme import collect_provenance, write_run_readme

        tables: dict[str, Path] = {}
        figures: dict[str, list[Path]] = {}
        for name in ARTEFACTS:
            spec = ARTEFACTS.get(name)
            out = spec.outputs(session)
            caption = session.fill(spec.caption)
            if out.get("table") and out["table"][0].exists():
                tables[caption] = out["table"][0]
            if out.get("figure"):
                figures[caption] = out["figure"]
        cfg = session.cfg
        path = write_run_readme(
            session.figures_dir, tables=tables, figures=figures, pipeline_check=cfg.pipeline_check,
            provenance=collect_provenance(config=cfg.as_dict(), config_path=_shown(cfg.path, cfg.project_root),
                                          run_dir=_shown(cfg.run_dir, cfg.project_root)),
            notes=[session.fill(n) for n in self.notes], run_dir=cfg.run_dir)
        return Built(self.name, session.fill(self.caption), [path])



def _shown(path: Path | None, project_root: Path) -> str:
    """A path as the run page shows it: relative to the project folder when inside it (the page
    reads the same in every clone), else absolute."""
    if path is None:
        return "None"
    try:
        return str(Path(path).resolve().relative_to(Path(project_root).resolve()))
    except ValueError:
        return str(path)


Artefact = MetricTable | PredictionFigure | GroundTruthFigure | InvalidReport | RunPage


def _check_artefact(obj: Any, name: str) -> Any:
    if not all(hasattr(obj, a) for a in ("name", "caption", "notebook", "build", "inputs", "outputs")):
        raise ConfigError(f"artefact {name!r}: expected an artefact spec (e.g. emologits.report.spec.MetricTable), "
                          f"got {type(obj).__name__}")
    return obj


#: Every table and figure of a run, in the order the run README shows them.
ARTEFACTS: Registry[Artefact] = Registry("artefact", check=_check_artefact)
ARTEFACTS.register_lazy("table1", "emologits.report.paper:TABLE1", "Table 1: ambiguous SER, text vs token level (KL, BD, R²), notebook 04")
ARTEFACTS.register_lazy("table2", "emologits.report.paper:TABLE2", "Table 2: ambiguous vs single prompt, token level, notebook 05")
ARTEFACTS.register_lazy("figure3", "emologits.report.paper:FIGURE3", "Figure 3: all generated tokens vs emotion-word tokens (table + bars), notebook 06")
ARTEFACTS.register_lazy("table3", "emologits.report.paper:TABLE3", "Table 3: single emotion recognition (accuracy, F1), notebook 07")
ARTEFACTS.register_lazy("reliability_token", "emologits.report.paper:RELIABILITY_TOKEN", "reliability diagram of the token-level distributions, notebook 04")
ARTEFACTS.register_lazy("class_scatter_token", "emologits.report.paper:CLASS_SCATTER_TOKEN", "predicted vs true probability per class, token level, notebook 04")
ARTEFACTS.register_lazy("ground_truth_entropy", "emologits.report.paper:GROUND_TRUTH_ENTROPY", "entropy histogram of the ground truth, notebook 01")
ARTEFACTS.register_lazy("invalid_text", "emologits.report.paper:INVALID_TEXT", "invalid text-level outputs per reason and prompt, notebook 03")
ARTEFACTS.register_lazy("invalid_token", "emologits.report.paper:INVALID_TOKEN", "invalid token-level (eq. 2 ratio) distributions per reason and prompt, notebook 04")
ARTEFACTS.register_lazy("table_beyond", "emologits.report.beyond:TABLE_BEYOND", "beyond the paper: text, token, calibrated, ensembles, likelihood side by side (+ ECE, NLL, Brier, model-seconds), notebook 09")
ARTEFACTS.register_lazy("table_sampling", "emologits.report.beyond:TABLE_SAMPLING", "beyond the paper: sampling-based distributions, N = 1, 3, n sampled answers against quality, notebook 09")
ARTEFACTS.register_lazy("reliability_calibration_token", "emologits.report.beyond:RELIABILITY_CALIBRATION_TOKEN", "reliability before/after calibration of the token-level class scores, notebook 09")
ARTEFACTS.register_lazy("reliability_calibration_likelihood", "emologits.report.beyond:RELIABILITY_CALIBRATION_LIKELIHOOD", "reliability before/after calibration of the label-likelihood scores, notebook 09")
ARTEFACTS.register_lazy("readme", "emologits.report.paper:RUN_README", "the run's README.md: every table and figure with provenance, notebook 07")

__all__ = ["ARTEFACTS", "CONFIGURED", "OTHER", "Artefact", "Built", "GroundTruthFigure", "InvalidReport",
           "MetricTable", "PredictionFigure", "Row", "RunPage"]
