#!/usr/bin/env bash
# Set up (if needed), lint (ruff) and run the whole test suite offline. Ends with pytest's summary line.
#   ./run_tests.sh                 # everything (unit tests + notebooks on a small demo subset)
#   ./run_tests.sh -k metrics      # any pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh        # creates/uses the environment; exports PY
export MPLBACKEND=agg TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Lint first (a second or two; settings in pyproject.toml): a finding stops the run with its location.
"$PY" -m ruff check --quiet lib tests bench scripts || { echo "ruff check failed (fix the findings above, or run: $PY -m ruff check --fix)"; exit 1; }
exec "$PY" -m pytest "$@"
