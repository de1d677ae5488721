"""emologits.progress: live progress on the terminal channel, one summary line where the notebook sees it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

from conftest import PROJECT_ROOT
from emologits.progress import PROGRESS_ENV, progress_bar


def _work(n: int = 5, initial: int = 0, **kwargs):
    with progress_bar(n, "work", unit="utt", initial=initial, **kwargs) as bar:
        for _ in range(n - initial):
            bar.update(1)
        bar.set_postfix(loss="0.123", refresh=False)


def test_file_channel_gets_the_live_bar_and_stdout_one_summary_line(tmp_path, monkeypatch, capsys):
    channel = tmp_path / "progress.log"
    monkeypatch.setenv(PROGRESS_ENV, str(channel))
    _work(5, initial=2)
    live = channel.read_text()
    assert "work" in live and "5/5" in live
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 1, out.out
    assert lines[0].startswith("work: 5/5 utt (2 already done) in ") and lines[0].endswith("loss=0.123")
    assert "it/s" not in lines[0] and "%|" not in out.out + out.err  # no bar where the notebook looks


def test_stderr_channel_writes_to_the_real_stderr(monkeypatch, capfd):
    monkeypatch.setenv(PROGRESS_ENV, "stderr")
    _work(3)
    out, err = capfd.readouterr()
    assert "3/3" in err and "%|" in err           # the live bar, on the process's standard error
    assert out.count("\n") == 1 and out.startswith("work: 3/3 utt in ")


def test_without_the_variable_it_is_plain_tqdm(monkeypatch, capfd):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    _work(3)
    out, err = capfd.readouterr()
    assert out == "" and "3/3" in err


def test_disabled_bar_is_silent_everywhere(tmp_path, monkeypatch, capfd):
    channel = tmp_path / "progress.log"
    monkeypatch.setenv(PROGRESS_ENV, str(channel))
    _work(3, enabled=False)
    assert capfd.readouterr() == ("", "") and not channel.exists()


@pytest.mark.notebooks
def test_papermill_kernel_shows_progress_on_the_terminal_not_in_the_notebook(tmp_path):
    """A real kernel started by the pipeline (outside pytest, as ./run_all.sh does): the live bar
    reaches the terminal (the pipeline's stderr), the executed notebook keeps one summary line, and
    the kernel's TCP/KeyboardInterrupt noise does not reach the terminal."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 0  # parameters", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import time\nfrom emologits.progress import progress_bar\n"
                    "with progress_bar(40, 'inference demo') as bar:\n"
                    "    for _ in range(40):\n        time.sleep(0.01)\n        bar.update(1)\n"
                    "print('cell done')")]
    nb.metadata["kernelspec"] = {"name": "emologits", "display_name": "Python (emologits)", "language": "python"}
    src, dst = tmp_path / "p.ipynb", tmp_path / "out" / "p.ipynb"
    nbformat.write(nb, src)
    script = ("import sys; from pathlib import Path; from emologits.pipeline import execute_notebook, _environment\n"
              "with _environment(EMOLOGITS_PROGRESS_TO='stderr'):\n"
              f"    execute_notebook(Path({str(src)!r}), Path({str(dst)!r}), {{'x': 1}})\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    res = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "40/40" in res.stderr and "%|" in res.stderr, res.stderr
    assert "without encryption" not in res.stderr and "KeyboardInterrupt" not in res.stderr, res.stderr
    outputs = [o for c in json.loads(dst.read_text())["cells"] for o in c.get("outputs", [])]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert text.startswith("inference demo: 40/40 utt in ") and text.endswith("cell done\n"), text
    assert text.count("\n") == 2, text
    assert not list(dst.parent.glob(".p.ipynb.*")), "temp copy left behind"


def test_a_terminal_without_a_window_size_still_shows_the_bar(monkeypatch, capsys):
    """A pseudo-terminal that reports 0 columns (``script``, some CI runners, docker exec -t) must
    get a fixed-width bar, not an empty one."""
    import pty

    master, slave = pty.openpty()  # a new pty has a 0 x 0 window
    try:
        assert os.get_terminal_size(slave).columns == 0
        monkeypatch.setattr(sys, "stderr", os.fdopen(os.dup(slave), "w"))
        monkeypatch.setenv(PROGRESS_ENV, "stderr")
        _work(3)
        sys.stderr.close()
        import select

        chunks = []  # a pty hands its output over in pieces: read until it stays quiet
        while select.select([master], [], [], 0.5)[0]:
            chunks.append(os.read(master, 65536))
        written = b"".join(chunks).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert "work" in written and "3/3" in written, repr(written)
    assert capsys.readouterr().out.startswith("work: 3/3 utt in ")
