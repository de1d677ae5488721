"""Progress bars for the long steps (tiny-demo training, inference): :func:`progress_bar`.

Where the bar goes depends on the environment variable ``EMOLOGITS_PROGRESS_TO``, which
``./run_all.sh`` (``emologits.pipeline``) sets for the notebooks it executes:

* unset (plain ``python -m emologits …``, JupyterLab): ``tqdm.auto``, a text bar on stderr or a
  notebook widget;
* ``stderr``: a live text bar (done/total, rate, ETA) on the real standard error of the process,
  which for a papermill kernel is the terminal running ``./run_all.sh`` (the kernel inherits it;
  ipykernel's captured ``sys.stderr`` hands out that descriptor as ``fileno()``), and, at close,
  one summary line on stdout, i.e. in the executed notebook (instead of hundreds of bar updates);
* any other value: a file path; the live bar is appended to that file, the summary as above.
"""
from __future__ import annotations

import io
import os
import sys
from typing import Any, TextIO

from tqdm import tqdm

#: The environment variable that sends live progress to the terminal (``stderr``) or a file.
PROGRESS_ENV = "EMOLOGITS_PROGRESS_TO"
#: Seconds between refreshes, and the bar's width, when the live channel is not a terminal (a log file).
_LOG_INTERVAL_S = 5.0
_LOG_WIDTH = 100


def _terminal_stream() -> TextIO | None:
    """A new writable stream on the real standard error (not ipykernel's captured stream)."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            fd = stream.fileno()  # ipykernel's OutStream: its saved copy of the inherited fd 2
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation, None, closed
            continue
        return io.TextIOWrapper(io.FileIO(os.dup(fd), "w"), encoding="utf-8", errors="replace",
                                write_through=True)
    return None


def _summary(bar: tqdm, started_at: int) -> str:
    """``desc: n/total unit in 12.3 s (4.5 unit/s), postfix``: the bar's final state in one line."""
    d = bar.format_dict
    elapsed = float(d["elapsed"])
    done = int(d["n"]) - started_at
    rate = f", {done / elapsed:.2f} {d['unit']}/s" if elapsed > 0 and done > 0 else ""
    resumed = f" ({started_at} already done)" if started_at else ""
    total = d["total"] if d["total"] is not None else "?"
    postfix = f", {d['postfix']}" if d.get("postfix") else ""
    return f"{d['prefix']}: {d['n']}/{total} {d['unit']}{resumed} in {elapsed:.1f} s{rate}{postfix}"


class _LiveBar(tqdm):
    """A text bar on a private stream (terminal or file) that prints one summary line to stdout
    when it closes."""

    def __init__(self, *args: Any, stream: TextIO, **kwargs: Any) -> None:
        self._live_stream = stream
        super().__init__(*args, file=stream, **kwargs)

    def close(self) -> None:
        if self.disable:  # closed already (tqdm sets disable on close)
            return
        line = _summary(self, int(self.initial))
        try:
            super().close()
        finally:
            self._live_stream.close()
        print(line, file=sys.stdout, flush=True)


def progress_bar(total: int, desc: str, unit: str = "utt", initial: int = 0, enabled: bool = True,
                 position: int | None = None) -> tqdm:
    """A tqdm bar (``update``, ``set_postfix``, ``close``, context manager) for ``total`` items.

    Honours ``EMOLOGITS_PROGRESS_TO`` (module docstring); ``enabled=False`` gives a silent bar.
    ``initial``: items already done (a resumed run); ``position``: the line of this bar when several
    processes share a terminal (``accelerate launch``).
    """
    target = os.environ.get(PROGRESS_ENV, "").strip()
    common: dict[str, Any] = {"total": total, "desc": desc, "unit": unit, "initial": initial,
                              "position": position}
    if not enabled:
        return tqdm(disable=True, **common)
    if not target:
        from tqdm.auto import tqdm as auto_tqdm

        return auto_tqdm(dynamic_ncols=True, **common)
    if target == "stderr":
        stream = _terminal_stream()
        if stream is None:  # no standard error at all (e.g. pythonw): stay quiet
            return tqdm(disable=True, **common)
    else:
        stream = open(target, "a", encoding="utf-8")  # noqa: SIM115 - closed by the bar
    live = _terminal_width(stream) is not None
    return _LiveBar(stream=stream, dynamic_ncols=live, ncols=None if live else _LOG_WIDTH,
                    mininterval=0.1 if live else _LOG_INTERVAL_S, **common)


def _terminal_width(stream: TextIO) -> int | None:
    """The width of the terminal ``stream`` writes to; None when it is no terminal or reports no
    usable width (a pseudo-terminal without a window size says 0 columns)."""
    try:
        if not stream.isatty():
            return None
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return None
    return columns if columns >= 20 else None


__all__ = ["PROGRESS_ENV", "progress_bar"]
