#!/usr/bin/env bash
# Set up .venv, lint with ruff, and run the full test suite (tiny in-process models; no network, no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${HYPERFIT_VENV:-.venv}"
"$VENV/bin/python" -m ruff check .
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$VENV/bin/python" -m pytest "$@"
