#!/usr/bin/env bash
# Start JupyterLab in the project's environment (kernel "Python (emologits)" registered).
#   ./scripts/lab.sh [jupyter lab options…]      e.g. --port 8890, or --ip 0.0.0.0 on a remote box
# Run as root (containers, cloud boxes) it adds --allow-root; without a display, --no-browser.
# It says what it added; the address to open (with its token) is in JupyterLab's own log below.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export MPLBACKEND=module://matplotlib_inline.backend_inline
JUPYTER="$("$PY" -c 'import sys,os;print(os.path.join(sys.prefix,"bin","jupyter"))')"
args=(--notebook-dir notebooks)
echo "[lab] JupyterLab on notebooks/, kernel \"Python (emologits)\" ($PY)"
if [ "$(id -u)" = 0 ]; then
  args+=(--allow-root)
  echo "[lab] running as root: added --allow-root (JupyterLab refuses root without it)"
fi
if [ "$(uname)" = Linux ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  args+=(--no-browser)
  echo "[lab] no display: added --no-browser; open the http://127.0.0.1:<port>/lab?token=… address printed below"
fi
echo "[lab] from another machine: an SSH tunnel (ssh -L 8888:localhost:8888 HOST), or --ip 0.0.0.0; stop with Ctrl-C"
exec "$JUPYTER" lab "${args[@]}" "$@"
