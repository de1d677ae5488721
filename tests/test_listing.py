"""``python -m emologits list``: every registry, one line per unit, without importing model code."""
from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT_ROOT


def test_list_prints_every_registry_without_importing_torch():
    code = ("import sys; from emologits.cli import main; rc = main(['list']); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for heading in ("data sets:", "back-ends:", "inference methods:", "metrics:", "artefacts:", "emotion sets:",
                    "prompts (prompts.yaml):"):
        assert heading in text, heading
    for name in ("iemocap", "cremad", "synthetic", "qwen2-audio", "tiny-demo", "ltu-as", "generate", "likelihood",
                 "kl", "bd", "r2", "table1", "table3", "figure3", "paper4", "cremad6", "msp8", "ambiguous", "single"):
        assert f"  {name} " in text, name
    assert text.rstrip().endswith("NO-TORCH")
