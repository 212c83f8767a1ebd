#!/usr/bin/env bash
# Set up .venv, lint with ruff, and run the full test suite (tiny in-process models; no network, no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${HYPERFIT_VENV:-.venv}"
"$VENV/bin/python" -m ruff check .
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Two pytest-xdist workers, each taking whole modules (module fixtures are built once), the longest first
# (tests/conftest.py), with one torch thread each, so that they fill 2 cores without oversubscribing them.
# Arguments come last: `-n 0` runs everything in one process.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$VENV/bin/python" -m pytest -n 2 --dist loadscope --no-loadscope-reorder "$@"
