"""``python -m emologits``: the command line's own behaviour (each command is tested with its module)."""
from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT_ROOT


def test_output_into_a_closed_pipe_ends_quietly():
    """``python -m emologits list | head -1``: the reader goes away; no traceback, SIGPIPE's exit status."""
    proc = subprocess.Popen([sys.executable, "-m", "emologits", "list"], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has written anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
