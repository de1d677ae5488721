"""scripts/lab.sh starts JupyterLab, also as root (containers, cloud boxes), and says what it did."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from conftest import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_sh_starts_and_says_what_it_added():
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.Popen(["bash", "scripts/lab.sh", "--port", str(port)], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if f"127.0.0.1:{port}/lab?token=" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    log = "".join(lines)
    assert f"127.0.0.1:{port}/lab?token=" in log, log  # the server came up
    assert '[lab] JupyterLab on notebooks/, kernel "Python (emologits)"' in log
    assert "[lab] no display: added --no-browser" in log
    if os.geteuid() == 0:
        assert "[lab] running as root: added --allow-root" in log
        assert "Running as root is not recommended" not in log
