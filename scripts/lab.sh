#!/usr/bin/env bash
# Start JupyterLab in the project's environment (kernel "Python (emologits)" registered).
#   ./scripts/lab.sh [jupyter lab options…]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export MPLBACKEND=module://matplotlib_inline.backend_inline
exec "$("$PY" -c 'import sys,os;print(os.path.join(sys.prefix,"bin","jupyter"))')" lab --notebook-dir notebooks "$@"
