"""The run page ``figures/<run>/README.md``: every table and figure of a run, and its provenance.

* :func:`collect_provenance` -- versions (Python, emologits, torch, transformers, numpy, pandas),
  git commit (+ whether the tree had uncommitted changes), time, plus whatever the caller adds
  (config, model, data set).
* :func:`write_run_readme` -- one Markdown page: a banner when ``pipeline_check`` (the demo run:
  tiny locally trained model, synthetic data -- NOT the paper's results), tables inline,
  figures as image links (PNG shown, PDF linked), the failures at inference (counts per prompt
  and reason), provenance at the end.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from emologits.atomic import write_text_atomic
from emologits.report.tables import to_markdown

PIPELINE_CHECK_BANNER = (
    "> [!WARNING]\n"
    "> **PIPELINE CHECK — NOT THE PAPER'S RESULTS.** These numbers come from a tiny model trained "
    "locally for a few minutes on a *synthetic* corpus. They show that every step of the pipeline "
    "runs end to end; they say nothing about LTU-AS, IEMOCAP or the paper's claims. "
    "The paper's values are shown beside ours only to show the table layout.\n"
)

_PACKAGES = ("emologits", "torch", "transformers", "numpy", "pandas", "scipy", "scikit-learn", "matplotlib")


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def collect_provenance(repo_dir: str | os.PathLike | None = None, **extra: Any) -> dict[str, Any]:
    """Versions, git commit and time of this run, merged with ``extra`` (e.g. ``config=cfg_dict,
    model="tiny-demo", dataset="synthetic"``). Missing packages or git give ``"not installed"`` /
    ``"unknown"``."""
    repo = Path(repo_dir) if repo_dir is not None else Path(__file__).resolve().parents[3]
    versions = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = _md.version(pkg)
        except _md.PackageNotFoundError:
            versions[pkg] = "not installed"
    commit = _git(["rev-parse", "HEAD"], repo) or "unknown"
    status = _git(["status", "--porcelain", "--untracked-files=no"], repo)
    out: dict[str, Any] = {
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "versions": versions,
    }
    out.update(extra)
    return out


def _rel(path: str | os.PathLike, base: Path) -> str:
    p = Path(path)
    try:
        return Path(os.path.relpath(p.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return p.as_posix()


def _provenance_md(provenance: Mapping[str, Any]) -> list[str]:
    flat = {k: v for k, v in provenance.items() if not isinstance(v, (Mapping, list, tuple))}
    nested = {k: v for k, v in provenance.items() if k not in flat}
    lines = []
    if flat:
        lines += ["| | |", "| :-- | :-- |"]
        lines += [f"| {k} | `{v}` |" for k, v in flat.items()]
        lines.append("")
    for k, v in nested.items():
        text = yaml.safe_dump(_plain(v), sort_keys=False, allow_unicode=True).rstrip()
        lines += [f"**{k}**", "", "```yaml", text, "```", ""]
    return lines


def _plain(v: Any) -> Any:
    """Make a value YAML-safe (paths and other objects become strings)."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _failures_md(failures: Sequence[Mapping[str, Any]]) -> list[str]:
    """The "Failures at inference" section: one row per prompt and method, counts by reason."""
    lines = ["## Failures at inference", ""]
    if not failures:
        return lines + ["No inference records found for this run.", ""]
    n_failed = sum(int(f["n_failed"]) for f in failures)
    lines += ["Utterances whose inference failed (unreadable or missing audio, a model error, non-finite "
              "logits) have no prediction; every table counts them as `invalid`. "
              + ("None failed." if not n_failed else
                 "Recompute them after fixing the cause with `python -m emologits infer --config CONFIG "
                 "--retry-failed` (records: `runs/<run>/inference/<prompt>/`, column `error_message`)."), ""]
    lines += ["| records | utterances | failed | by reason |", "| :-- | --: | --: | :-- |"]
    for f in failures:
        reasons = ", ".join(f"`{r}` {n}" for r, n in f["failures_by_reason"].items()) or "–"
        lines.append(f"| `{f['label']}` | {f['n_expected']} | {f['n_failed']} | {reasons} |")
    return lines + [""]


def write_run_readme(
    figures_dir: str | os.PathLike,
    *,
    tables: Mapping[str, pd.DataFrame | str | os.PathLike],
    figures: Mapping[str, Sequence[str | os.PathLike] | str | os.PathLike],
    provenance: Mapping[str, Any],
    pipeline_check: bool,
    title: str | None = None,
    notes: Sequence[str] = (),
    run_dir: str | os.PathLike | None = None,
) -> Path:
    """Write ``<figures_dir>/README.md`` and return its path.

    ``tables``: caption -> DataFrame built by :mod:`emologits.report.tables` (rendered inline) or
    the path of a ``.md`` file written by ``write_table`` (its text is inlined).
    ``figures``: caption -> the paths returned by a figure function (the PNG is shown, every
    other file linked). ``provenance``: e.g. :func:`collect_provenance`. ``pipeline_check``: put
    the "not the paper's results" banner at the top. ``notes``: extra paragraphs after the banner.
    ``run_dir``: the run's folder (``runs/<run>``) whose inference failures the page lists
    (:func:`emologits.pipeline.inference_failures`); None: no such section. (Not taken from
    ``provenance["run_dir"]``: the page may show that one relative to the project folder.)
    """
    out_dir = Path(figures_dir)
    run = title or out_dir.name
    lines = [f"# Run `{run}`: tables and figures", ""]
    if pipeline_check:
        lines += [PIPELINE_CHECK_BANNER]
    lines += list(notes) + ([""] if notes else [])
    lines += [
        "Ours beside the paper's: each metric shows our value with its 95 % bootstrap CI "
        "(`value [low, high]`), then the paper's printed value. `n` = utterances scored, "
        "`invalid` = outputs that gave no valid distribution (omitted, as in sec. 5.1). "
        "Conventions: `docs/conventions.md`.",
        "",
    ]
    if tables:
        lines += ["## Tables", ""]
        for caption, table in tables.items():
            lines += [f"### {caption}", ""]
            if isinstance(table, pd.DataFrame):
                lines.append(to_markdown(table))
            else:
                p = Path(table)
                text = p.read_text(encoding="utf-8")
                if text.startswith("**"):  # drop write_table's caption line, the heading has it
                    text = text.split("\n\n", 1)[-1]
                lines.append(text.rstrip() + "\n")
                stem = p.with_suffix("")
                links = [f"[{s}]({_rel(stem.with_suffix('.' + s), out_dir)})"
                         for s in ("csv", "tex") if stem.with_suffix("." + s).exists()]
                if links:
                    lines += ["Files: " + " · ".join(links), ""]
    if figures:
        lines += ["## Figures", ""]
        for caption, paths in figures.items():
            plist = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
            lines += [f"### {caption}", ""]
            for p in plist:
                if p.suffix.lower() == ".png":
                    lines += [f"![{caption}]({_rel(p, out_dir)})", ""]
            others = [p for p in plist if p.suffix.lower() != ".png"]
            if others:
                lines += ["Files: " + " · ".join(f"[{p.suffix[1:].upper()}]({_rel(p, out_dir)})" for p in others), ""]
    if run_dir is not None:
        from emologits.pipeline import inference_failures

        lines += _failures_md(inference_failures(run_dir))
    lines += ["## Provenance", ""] + _provenance_md(provenance)
    path = out_dir / "README.md"
    write_text_atomic(path, "\n".join(lines).rstrip() + "\n")
    return path
