#!/usr/bin/env bash
# Reproduce every table and figure: ./run_all.sh [configs/<name>.yaml]   (default: configs/demo.yaml)
set -euo pipefail
cd "$(dirname "$0")"
CONFIG="${1:-configs/demo.yaml}"
source scripts/env.sh
export MPLBACKEND=agg TOKENIZERS_PARALLELISM=false
exec "$PY" -m emologits.pipeline "$CONFIG"
