#!/usr/bin/env bash
# Set up .venv, then run the end-to-end demo on the embedded default model (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${HYPERFIT_VENV:-.venv}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$VENV/bin/hyperfit-demo" "$@"
