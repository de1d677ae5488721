"""``./run_all.sh [CONFIG] [options]``: check the config, then execute the notebooks in order with papermill.

    ./run_all.sh configs/demo.yaml [--output-root DIR] [--limit N] [--only 03 04]
    (the same as python -m emologits.pipeline …)

Executed notebooks land in ``runs/<run>/notebooks/`` (written atomically); the first failing
notebook stops the run with its name and the failing cell's error. After 02 the run stops when more
than ``pipeline.max_failed_fraction`` of a prompt's utterances failed at inference. Long steps show
live progress on the terminal (``emologits.progress``). Re-running resumes: inference skips
finished utterances.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from emologits.artifacts import NOTEBOOKS, notebook_stem
from emologits.atomic import DISK_FULL_ERRNOS, atomic_path, disk_full_error
from emologits.config import Config, load_config
from emologits.data import DATASETS
from emologits.errors import ConfigError, DiskFullError, EmologitsError
from emologits.prompts import load_prompts

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KERNEL = "emologits"
#: The prompts the notebooks' tables compare (their ``ambiguous_prompt``/``single_prompt`` defaults).
PAPER_PROMPT_IDS = ("ambiguous", "single")


def _is_local_path(value: str) -> bool:
    return value.startswith(("/", "~", "./", "../", ".cache")) or Path(value).expanduser().exists()


def _builds_checkpoint(backend: Any) -> bool:
    """True for a back-end that writes its own checkpoint into ``model.name_or_path`` when absent
    (class attribute ``builds_checkpoint``, e.g. ``tiny-floor``): no path there to check."""
    from emologits.sfm import backend_problem

    cls, problem = backend_problem(backend)
    return problem is None and bool(getattr(cls, "builds_checkpoint", False))


def check_config(cfg: Config) -> list[str]:
    """Problems that would make a run fail after heavy work, each saying what to set (empty: fine)."""
    where = cfg.path or "<config>"
    problems: list[str] = []
    dataset, root = cfg.data.get("dataset"), cfg.data.get("root")
    spec = None
    if dataset is None:
        problems.append(f"{where}: set data.dataset ({', '.join(DATASETS.names())}, or package.module:SPEC)")
    else:
        try:
            spec = DATASETS.get(dataset)  # checked when the config loaded; a spec says what its root holds
        except ConfigError as exc:
            problems.append(f"{where}: data.dataset: {exc}")
    if spec is not None and not root:
        problems.append(f"{where}: set data.root to {spec.root_help}")
    elif spec is not None and spec.root_marker is not None:  # None: prepare makes the root
        path = cfg.resolve(root)
        if str(root).startswith("/path/to") or not path.exists():
            problems.append(f"{where}: data.root {root!r} does not exist: set it to {spec.root_help}")
        elif not (path / spec.root_marker).exists():
            problems.append(f"{where}: data.root {path} has no {spec.root_marker}: is it the right folder for "
                            f"{spec.name}?")
    model = cfg.model
    if not model.get("backend"):
        problems.append(f"{where}: set model.backend (e.g. tiny-demo, qwen2-audio, ltu-as)")
    local_paths = {"model.name_or_path": model.get("name_or_path")}
    local_paths.update({f"model.options.{k}": v for k, v in (model.get("options") or {}).items()})
    for key, value in local_paths.items():
        if not isinstance(value, str) or model.get("backend") == "tiny-demo" or _builds_checkpoint(model.get("backend")):
            continue
        if value.startswith("/path/to") or (_is_local_path(value) and not cfg.resolve(value).exists()):
            problems.append(f"{where}: {key} {value!r} does not exist: set it to the downloaded weights "
                            "(see README, 'Reproducing the paper')")
    prompts_file = cfg.resolve(cfg.prompts.get("file"))
    if prompts_file is None or not prompts_file.is_file():
        problems.append(f"{where}: prompts.file {cfg.prompts.get('file')!r} not found")
    else:
        try:
            known = load_prompts(prompts_file)
        except ConfigError as exc:
            problems.append(str(exc))
        else:
            ids = list(cfg.prompts.get("ids") or [])
            problems += [f"{where}: prompts.ids names {pid!r}, which {prompts_file} does not define "
                         f"(known: {sorted(known)})" for pid in ids if pid not in known]
            missing = [pid for pid in PAPER_PROMPT_IDS if pid not in ids]
            if missing:
                problems.append(f"{where}: prompts.ids must include {list(PAPER_PROMPT_IDS)} (Tables 1-3 "
                                f"compare them); missing {missing}")
    return problems


class InferenceFailureError(EmologitsError):
    """More than ``pipeline.max_failed_fraction`` of a prompt's utterances failed at inference."""


def check_limit(limit: int | None) -> None:
    """``--limit`` is None (every utterance) or an integer >= 1."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--limit must be an integer >= 1 (a seeded subset of N utterances; leave it out "
                          f"for all of them), got {limit!r}")


def select_notebooks(only: Sequence[str] | None) -> list[str]:
    """The notebooks ``--only`` names, in execution order (every notebook when None or empty).

    Each value is a notebook's number (``03`` or ``3``) or its file name (``03_text_extraction``,
    ``.ipynb`` optional); anything else is a :class:`ConfigError` listing the notebooks."""
    if not only:
        return list(NOTEBOOKS)
    chosen: set[str] = set()
    unknown: list[str] = []
    for value in only:
        stem = notebook_stem(value, NOTEBOOKS)
        if stem:
            chosen.add(stem)
        else:
            unknown.append(str(value))
    if unknown:
        listing = "\n  ".join(f"{stem.split('_', 1)[0]}  {stem}: {what}" for stem, what in NOTEBOOKS.items())
        raise ConfigError(f"--only {' '.join(unknown)}: no such notebook. The notebooks are:\n  {listing}")
    return [stem for stem in NOTEBOOKS if stem in chosen]


class _QuietKernelManager(AsyncKernelManager):
    """The kernel manager papermill gets: the same kernels, without two kinds of noise on the terminal.

    * CurveZMQ transport encryption when pyzmq has it (the ``emologits`` kernelspec declares
      support): no "Kernel is running over TCP without encryption" warning, and the kernel's
      local sockets are encrypted.
    * No SIGINT before the shutdown request: jupyter_client interrupts a kernel before shutting it
      down, which after the last cell has nothing to stop and only makes ipykernel log
      "KeyboardInterrupt caught in kernel" when the signal lands inside a message handler.
      A kernel that does not exit is still terminated, then killed (``shutdown_wait_time``).
    """

    @default("transport_encryption")
    def _encrypt_when_possible(self) -> str:
        return "auto" if zmq.has("curve") else "disabled"

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the kernels started meanwhile), then restore them."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _kernel_environment(progress_to: str | None) -> dict[str, str]:
    """What the notebooks' kernels inherit under the pipeline: where live progress goes
    (``emologits.progress``), and no other progress bars or widget warnings in the executed
    notebooks (Hugging Face loading bars; tqdm's "IProgress not found", ipywidgets being absent)."""
    from emologits.progress import PROGRESS_ENV

    warnings_option = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:IProgress not found"]))
    return {PROGRESS_ENV: progress_to or "",
            "HF_HUB_DISABLE_PROGRESS_BARS": os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
            "PYTHONWARNINGS": warnings_option}


def _disk_full_message(text: str) -> bool:
    """True when an error text is the operating system's "no space left" / "quota exceeded"."""
    return any(os.strerror(e).lower() in text.lower() for e in DISK_FULL_ERRNOS)


def execute_notebook(src: Path, dst: Path, parameters: dict[str, Any], *, kernel: str = DEFAULT_KERNEL,
                     cwd: Path | None = None, run_dir: Path | None = None) -> None:
    """Execute ``src`` into ``dst`` with papermill, atomically: papermill writes a temp file next to
    ``dst`` as it goes, renamed onto ``dst`` when the notebook ran or failed in a cell (the executed
    copy with the traceback is kept); a kill or a full disk leaves any earlier ``dst`` as it was.

    Raises :class:`EmologitsError` naming the failing cell, or :class:`DiskFullError` (one message:
    what, which file, what to do) when the disk fills up in the kernel or while writing ``dst``."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    failed: PapermillExecutionError | None = None
    stem = src.stem
    try:
        with atomic_path(dst) as tmp:
            try:
                pm.execute_notebook(str(src), str(tmp), parameters=parameters, kernel_name=kernel,
                                    cwd=str(cwd or src.parent), progress_bar=False, log_output=False,
                                    kernel_manager_class=_QuietKernelManager)
            except PapermillExecutionError as exc:
                failed = exc  # the temp copy holds the executed cells and the traceback: keep it
    except DiskFullError as exc:
        raise DiskFullError(exc.path, f"notebook {stem}: {exc}") from None
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise disk_full_error(exc.filename or dst) from None
        raise
    if failed is None:
        return
    if failed.ename == "DiskFullError":  # emologits' own message already says what and where
        raise DiskFullError(dst, f"notebook {stem} stopped in cell {failed.exec_count}: {failed.evalue}\n"
                            f"  executed copy: {dst}")
    if _disk_full_message(f"{failed.ename} {failed.evalue}"):
        where = run_dir or dst.parent
        raise DiskFullError(dst, f"notebook {stem} stopped in cell {failed.exec_count}: the disk is full "
                            f"({failed.ename}: {failed.evalue}). Free space on the file system holding {where} "
                            f"(`df -h {where}`), then run the same command again (finished work is kept)\n"
                            f"  executed copy: {dst}")
    raise EmologitsError(f"notebook {stem} failed in cell {failed.exec_count}: {failed.ename}: "
                         f"{failed.evalue}\n  executed copy with the traceback: {dst}") from None


def run_step(stem: str, what: str, notebooks_dir: Path, out_dir: Path, parameters: dict[str, Any], *,
             kernel: str, run_dir: Path) -> Path:
    """Execute ``notebooks_dir/<stem>.ipynb`` into ``out_dir`` (:func:`execute_notebook`), saying
    on the terminal what it makes and how long it took; returns the executed copy."""
    dst = out_dir / f"{stem}.ipynb"
    started = time.perf_counter()
    print(f"[run_all] {stem}: {what} …", flush=True)
    execute_notebook(notebooks_dir / f"{stem}.ipynb", dst, parameters, kernel=kernel, cwd=notebooks_dir,
                     run_dir=run_dir)
    print(f"[run_all] {stem}: done in {time.perf_counter() - started:.1f} s", flush=True)
    return dst


def inference_failures(run_dir: str | Path) -> list[dict[str, Any]]:
    """What failed at inference, per records folder of the run (``inference/<prompt>``,
    ``likelihood/<prompt>``: every folder with a ``run.json`` naming its ``method``).

    Each entry: ``label`` (e.g. ``inference ambiguous``), ``method``, ``prompt``, ``out_dir``,
    ``n_expected`` (the utterances of ``runs/<run>/manifest.parquet``, or the method's own inputs:
    ``run.json`` ``own_inputs``), ``n_done``, ``n_failed``,
    ``failures_by_reason`` and ``examples`` (the first failed records: utt_id, error, error_message).
    Counts are over each utterance's newest record (``emologits.inference.summarize_parts``)."""
    import json

    from emologits.inference import failure_examples, summarize_parts

    run_dir = Path(run_dir)
    manifest = run_dir / "manifest.parquet"
    ids: list[str] | None = None
    if manifest.exists():
        import pyarrow.parquet as pq

        ids = [str(u) for u in pq.read_table(manifest, columns=["utt_id"]).column("utt_id").to_pylist()]
    found = []
    for info_path in sorted(run_dir.glob("*/*/run.json")):
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            continue
        method = info.get("method")
        if not method:
            continue
        out_dir = info_path.parent
        expected = info.get("own_inputs") or ids  # a method's own inputs (contextual) instead of the manifest's
        summary = summarize_parts(out_dir, expected)
        examples = failure_examples(out_dir, expected, n=3) if expected is not None and summary["n_failed"] else []
        found.append({"label": f"{out_dir.parent.name} {out_dir.name}", "method": method, "prompt": out_dir.name,
                      "out_dir": out_dir, "n_expected": summary.get("n_expected", summary["n_done"]),
                      "n_done": summary["n_done"], "n_failed": summary["n_failed"],
                      "failures_by_reason": summary["failures_by_reason"], "examples": examples})
    return found


def _reasons(entry: dict[str, Any]) -> str:
    return ", ".join(f"{reason}={n}" for reason, n in entry["failures_by_reason"].items())


def failures_line(failures: Sequence[dict[str, Any]]) -> str:
    """One line of failure counts for the run's final summary."""
    if not failures:
        return "failed at inference: no inference records yet"
    bad = [f for f in failures if f["n_failed"]]
    sizes = sorted({f["n_expected"] for f in failures})
    if not bad:  # record sets over other inputs (contextual: the content-free inputs) say their size
        return (f"failed at inference: 0 of {sizes[-1]} utterances ("
                + ", ".join(f["label"] + ("" if f["n_expected"] == sizes[-1] else f" ({f['n_expected']} inputs)")
                            for f in failures) + ")")
    return "failed at inference: " + "; ".join(
        f"{f['label']} {f['n_failed']}/{f['n_expected']} ({_reasons(f)})" for f in bad) + (
        "; the others 0" if len(bad) < len(failures) else "")


def check_inference_failures(cfg: Config, failures: Sequence[dict[str, Any]]) -> None:
    """Stop (:class:`InferenceFailureError`) when more than ``pipeline.max_failed_fraction`` of a
    prompt's utterances failed at inference, naming the reasons and what to do."""
    limit = float(cfg.pipeline["max_failed_fraction"])
    over = [f for f in failures if f["n_expected"] and f["n_failed"] / f["n_expected"] > limit]
    if not over:
        return
    lines = [f"too many utterances failed at inference: more than pipeline.max_failed_fraction = {limit:g} "
             f"({limit:.0%}) of a prompt's utterances (config {cfg.path}); stopped after 02_inference."]
    for f in over:
        lines.append(f"  - {f['label']}: {f['n_failed']} of {f['n_expected']} failed "
                     f"({f['n_failed'] / f['n_expected']:.1%}): {_reasons(f)}")
        lines += [f"      {e['utt_id']} [{e['error']}]: {e['error_message']}" for e in f["examples"]]
        if f["n_failed"] > len(f["examples"]):
            lines.append(f"      ... every failed record: {f['out_dir']} (columns error, error_message)")
    methods = sorted({f["method"] for f in over})
    retry = " and ".join(f"`python -m emologits infer --config {cfg.path} --retry-failed"
                         + (f" --method {m}" if m != "generate" else "") + "`" for m in methods)
    lines.append(f"What to do: check those audio files (and the model settings for model_error), then recompute "
                 f"only the failed utterances with {retry} and run ./run_all.sh again (finished work is kept). "
                 f"To go on with these failures, raise pipeline.max_failed_fraction in the config.")
    raise InferenceFailureError("\n".join(lines))


def run_notebooks(config_path: str | Path, *, output_root: str | Path | None = None,
                  limit: int | None = None, only: Sequence[str] | None = None,
                  kernel: str = DEFAULT_KERNEL, notebooks_dir: Path | None = None,
                  extra_parameters: dict[str, Any] | None = None,
                  progress_to: str | None = "stderr") -> list[Path]:
    """Execute the notebooks in order; returns the executed copies. Raises on the first failure.

    ``limit``: a seeded subset of N utterances of the data set (seed ``evaluation.seed``, manifest
    order, nested: :func:`emologits.artifacts.subset_manifest`, as ``infer --limit``); ``only``:
    notebook numbers or names (:func:`select_notebooks`); ``progress_to``: where the notebooks' long
    steps show live progress (``emologits.progress``; ``stderr``: this terminal; None: nowhere).
    After 02 the run stops when too many utterances failed (:func:`check_inference_failures`).
    """
    check_limit(limit)
    stems = select_notebooks(only)
    config_path = Path(config_path).resolve()
    cfg = load_config(config_path, output_root=output_root)
    problems = check_config(cfg)
    if problems:
        raise ConfigError("the config needs attention before any heavy work:\n  - " + "\n  - ".join(problems))
    notebooks_dir = notebooks_dir or PROJECT_ROOT / "notebooks"
    out_dir = cfg.run_dir / "notebooks"
    parameters = {"config_path": str(config_path), "output_root": str(cfg.output_root or ""),
                  "limit": int(limit or 0), **(extra_parameters or {})}
    executed: list[Path] = []
    with _environment(**_kernel_environment(progress_to)):
        for stem in stems:
            executed.append(run_step(stem, NOTEBOOKS[stem], notebooks_dir, out_dir, parameters, kernel=kernel,
                                     run_dir=cfg.run_dir))
            if stem == "02_inference":
                failures = inference_failures(cfg.run_dir)
                check_inference_failures(cfg, failures)
                for f in failures:
                    if f["n_failed"]:
                        print(f"[run_all] {f['label']}: {f['n_failed']} of {f['n_expected']} utterances failed "
                              f"({_reasons(f)}); below pipeline.max_failed_fraction, going on", flush=True)
    print(f"[run_all] tables and figures: {cfg.figures_dir}/README.md", flush=True)
    return executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./run_all.sh",
        description="Check the config, then execute the notebooks in order (every table and figure of a run).")
    parser.add_argument("config", nargs="?", default=str(PROJECT_ROOT / "configs" / "demo.yaml"),
                        help="the run's config (default: configs/demo.yaml), or a comparison config "
                             "(configs/compare_<name>.yaml: each model's run, then notebook 08's leaderboard)")
    parser.add_argument("--output-root", default=None, help="where runs/ and figures/ go (default: project root)")
    parser.add_argument("--limit", type=int, default=None,
                        help="a seeded subset of N utterances (seed evaluation.seed, manifest order, nested: "
                             "the subset `infer --limit N` takes from a full manifest)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NB",
                        help="only these notebooks, by number or name, e.g. --only 03 04")
    parser.add_argument("--kernel", default=DEFAULT_KERNEL, help="Jupyter kernel name (default: emologits)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        from emologits import compare

        if compare.is_comparison_config(args.config):  # configs/compare_<name>.yaml: each model's run, then 08
            compare.run_comparison(args.config, output_root=args.output_root, limit=args.limit, only=args.only,
                                   kernel=args.kernel)
            summary = compare.failures_summary(args.config, output_root=args.output_root)
        else:
            run_notebooks(args.config, output_root=args.output_root, limit=args.limit, only=args.only,
                          kernel=args.kernel)
            cfg = load_config(Path(args.config).resolve(), output_root=args.output_root)
            summary = failures_line(inference_failures(cfg.run_dir))
    except EmologitsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno not in DISK_FULL_ERRNOS:
            raise
        print(f"error: {disk_full_error(exc.filename or Path.cwd() / '?')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (finished work is kept: run the same command again to resume)", file=sys.stderr)
        return 130
    print(f"[run_all] all notebooks done in {time.perf_counter() - started:.0f} s; {summary}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
