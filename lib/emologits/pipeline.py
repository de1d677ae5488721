"""``./run_all.sh [CONFIG]``: check the config, then execute the seven notebooks in order with papermill.

    python -m emologits.pipeline configs/demo.yaml [--output-root DIR] [--limit N] [--only 03 04]

Executed notebooks land in ``runs/<run>/notebooks/``; the first failing notebook stops the run with
its name and the failing cell's error. Re-running resumes: inference skips finished utterances.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from emologits.artifacts import NOTEBOOKS
from emologits.config import Config, load_config
from emologits.errors import ConfigError, EmologitsError
from emologits.prompts import load_prompts

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KERNEL = "emologits"
#: The prompts the notebooks' tables compare (their ``ambiguous_prompt``/``single_prompt`` defaults).
PAPER_PROMPT_IDS = ("ambiguous", "single")
_DATA_ROOT_MARKERS = {"iemocap": "Session1", "cremad": "tabulatedVotes.csv"}


def _is_local_path(value: str) -> bool:
    return value.startswith(("/", "~", "./", "../", ".cache")) or Path(value).expanduser().exists()


def check_config(cfg: Config) -> list[str]:
    """Problems that would make a run fail after heavy work, each saying what to set (empty: fine)."""
    where = cfg.path or "<config>"
    problems: list[str] = []
    dataset, root = cfg.data.get("dataset"), cfg.data.get("root")
    if dataset not in ("iemocap", "cremad", "synthetic"):
        problems.append(f"{where}: data.dataset must be iemocap, cremad or synthetic (got {dataset!r})")
    elif not root:
        problems.append(f"{where}: set data.root to the data set's folder")
    elif dataset != "synthetic":
        path = cfg.resolve(root)
        if str(root).startswith("/path/to") or not path.exists():
            problems.append(f"{where}: data.root {root!r} does not exist: set it to your "
                            + ("IEMOCAP_full_release folder" if dataset == "iemocap"
                               else "CREMA-D folder (tabulatedVotes.csv + AudioWAV/)"))
        elif not (path / _DATA_ROOT_MARKERS[dataset]).exists():
            problems.append(f"{where}: data.root {path} has no {_DATA_ROOT_MARKERS[dataset]}: is it the "
                            f"right folder for {dataset}?")
    model = cfg.model
    if not model.get("backend"):
        problems.append(f"{where}: set model.backend (e.g. tiny-demo, qwen2-audio, ltu-as)")
    local_paths = {"model.name_or_path": model.get("name_or_path")}
    local_paths.update({f"model.options.{k}": v for k, v in (model.get("options") or {}).items()})
    for key, value in local_paths.items():
        if not isinstance(value, str) or model.get("backend") == "tiny-demo":
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


def run_notebooks(config_path: str | Path, *, output_root: str | Path | None = None,
                  limit: int | None = None, only: list[str] | None = None,
                  kernel: str = DEFAULT_KERNEL, notebooks_dir: Path | None = None,
                  extra_parameters: dict[str, Any] | None = None) -> list[Path]:
    """Execute the notebooks in order; returns the executed copies. Raises on the first failure."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    config_path = Path(config_path).resolve()
    cfg = load_config(config_path, output_root=output_root)
    problems = check_config(cfg)
    if problems:
        raise ConfigError("the config needs attention before any heavy work:\n  - " + "\n  - ".join(problems))
    notebooks_dir = notebooks_dir or PROJECT_ROOT / "notebooks"
    out_dir = cfg.run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"config_path": str(config_path), "output_root": str(cfg.output_root or ""),
                  "limit": int(limit or 0), **(extra_parameters or {})}
    executed: list[Path] = []
    for stem in NOTEBOOKS:
        if only and not any(stem.startswith(o) for o in only):
            continue
        src, dst = notebooks_dir / f"{stem}.ipynb", out_dir / f"{stem}.ipynb"
        started = time.perf_counter()
        print(f"[run_all] {stem}: {NOTEBOOKS[stem]} …", flush=True)
        try:
            pm.execute_notebook(str(src), str(dst), parameters=parameters, kernel_name=kernel,
                                cwd=str(notebooks_dir), progress_bar=False, log_output=False)
        except PapermillExecutionError as exc:
            raise EmologitsError(f"notebook {stem} failed in cell {exc.exec_count}: {exc.ename}: "
                                 f"{exc.evalue}\n  executed copy with the traceback: {dst}") from None
        print(f"[run_all] {stem}: done in {time.perf_counter() - started:.1f} s", flush=True)
        executed.append(dst)
    print(f"[run_all] tables and figures: {cfg.figures_dir}/README.md", flush=True)
    return executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emologits.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(PROJECT_ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--output-root", default=None, help="where runs/ and figures/ go (default: project root)")
    parser.add_argument("--limit", type=int, default=None, help="a deterministic subset of N utterances")
    parser.add_argument("--only", nargs="*", default=None, help="notebook prefixes to run, e.g. 03 04")
    parser.add_argument("--kernel", default=DEFAULT_KERNEL, help="Jupyter kernel name (default: emologits)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        run_notebooks(args.config, output_root=args.output_root, limit=args.limit, only=args.only,
                      kernel=args.kernel)
    except EmologitsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[run_all] all notebooks done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
