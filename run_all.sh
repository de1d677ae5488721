#!/usr/bin/env bash
# Reproduce every table and figure:
#   ./run_all.sh [configs/<name>.yaml] [--limit N] [--only 03 04 …] [--output-root DIR]
# (default config: configs/demo.yaml; ./run_all.sh --help lists the options)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
export MPLBACKEND=agg TOKENIZERS_PARALLELISM=false
exec "$PY" -m emologits.pipeline "$@"
