# Sourced by run_tests.sh and run_all.sh: make sure an environment with the pinned requirements
# and the emologits package exists, then export PY (its python).
# - An active virtualenv/conda env that already satisfies requirements.txt is used as it is.
# - Otherwise ./.venv is created (once) and the pins installed; a stamp skips this next time.
# torch is pinned to 2.13.0 exactly (CPU wheel on CPU machines; see README for GPU boxes).
_root="$(pwd)"
_stamp_of() { cat requirements.txt pyproject.toml | sha256sum | cut -c1-16; }
_satisfies() {  # $1 = python; true when every pin in requirements.txt is installed at that version
  "$1" - <<'PY' 2>/dev/null
import re, sys
from importlib.metadata import version, PackageNotFoundError
bad = []
for line in open("requirements.txt"):
    line = line.split("#")[0].strip()
    if not line: continue
    name, pin = re.split(r"==", line)
    try:
        got = version(name).split("+")[0]
    except PackageNotFoundError:
        bad.append(name); continue
    if got != pin: bad.append(f"{name} {got}!={pin}")
sys.exit(1 if bad else 0)
PY
}
PY=""
if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && [ "${VIRTUAL_ENV:-}" != "$_root/.venv" ]; then
  _cand="$(command -v python)"
  if _satisfies "$_cand"; then
    PY="$_cand"; echo "[env] using the active environment ($PY)"
    # emologits must be importable from THIS checkout (not another clone's editable install)
    "$PY" -c "import emologits, sys; sys.exit(0 if emologits.__file__.startswith('$_root/lib/') else 1)" 2>/dev/null \
      || "$PY" -m pip install -q --no-deps -e .
  else
    echo "[env] active environment does not satisfy requirements.txt; using ./.venv instead"
  fi
fi
if [ -z "$PY" ]; then
  PY="$_root/.venv/bin/python"
  if [ ! -x "$PY" ]; then
    echo "[env] creating .venv (first run: about a minute)"
    python3 -m venv .venv
  fi
  if [ "$(cat .venv/.emologits-stamp 2>/dev/null)" != "$(_stamp_of)" ]; then
    echo "[env] installing pinned requirements into .venv"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -r requirements.txt
    "$PY" -m pip install -q --no-deps -e .
    _stamp_of > .venv/.emologits-stamp
  fi
fi
# Jupyter kernel for papermill/JupyterLab, installed inside the environment (name: emologits).
if [ ! -f "$("$PY" -c 'import sys;print(sys.prefix)')/share/jupyter/kernels/emologits/kernel.json" ]; then
  "$PY" -m ipykernel install --sys-prefix --name emologits --display-name "Python (emologits)" >/dev/null
fi
export PY
