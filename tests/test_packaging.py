"""The distribution: every sub-package is declared, and a non-editable wheel carries the task YAMLs and the HTML
template."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_declares_every_subpackage():
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for root in ("hyperfit_train", "hyperfit_tasks")
        for init in (REPO / root).rglob("__init__.py")
    }
    assert on_disk | {"hyperfit_tasks.task_configs"} == declared


def test_wheel_installs_packages_and_task_configs(tmp_path):
    wheel_dir, target, source = tmp_path / "wheel", tmp_path / "site", tmp_path / "source"
    # Build from a copy without build leftovers: setuptools reuses a stale build/ folder's files.
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "runs", "__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "-w", str(wheel_dir), str(source)], check=True, cwd=tmp_path)
    (wheel,) = wheel_dir.glob("hyperfit-*.whl")
    subprocess.run(pip + ["install", "--no-deps", "--target", str(target), str(wheel)], check=True, cwd=tmp_path)
    probe = (
        "import hyperfit_train, hyperfit_tasks, pathlib\n"
        "from hyperfit_tasks.cli.tasks_path import task_configs_dir\n"
        "folder = pathlib.Path(task_configs_dir())\n"
        "print(hyperfit_tasks.__file__); print(folder); print(len(list(folder.rglob('*.yaml'))))\n"
        "from hyperfit_tasks.compare.html_page import TEMPLATES\n"
        "print(TEMPLATES.get_template('index.html.j2').filename)\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r})\n" + probe],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    assert out[0].startswith(str(target)) and out[1].startswith(str(target))
    yaml_in_repo = len(list((REPO / "task_configs").rglob("*.yaml")))
    assert yaml_in_repo > 0 and int(out[2]) == yaml_in_repo
    assert out[3] == str(target / "hyperfit_tasks" / "compare" / "templates" / "index.html.j2")


def test_shipped_metric_tokenizer_encodes_as_the_default_models_gguf_tokenizer(english_text):
    """The default ``metric_tokenizer`` (package data) gives the ids of the tokenizer that transformers
    converts from the default model's GGUF file, on real prose, the Austen-style punctuation of the
    corpora, non-ASCII text and special-token strings, and cuts prompts at the same offsets."""
    from transformers import AutoTokenizer

    from hyperfit_tasks.assets.default_model import gguf_path
    from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER, load_tokenizer

    gguf = gguf_path()
    reference = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    shipped = load_tokenizer(DEFAULT_TOKENIZER)
    texts = [paragraph for paragraph in english_text.split("\n\n") if paragraph.strip()][:200] + [
        "\u201cMy dear Miss Elliot,\u201d said he -- \u2018it is _so_ very odd!\u2019\n\n\tCHAPTER IV.",
        "na\u00efve caf\u00e9 \u00fcber \u6771\u4eac \U0001f389  double  spaces\r\nand a tab\t.",
        "<|im_start|>user\nhi<|im_end|> <|endoftext|>",
    ]
    assert len(shipped) == len(reference) == 49152
    for text in texts:
        ours = shipped(text, add_special_tokens=False, return_offsets_mapping=True)
        theirs = reference(text, add_special_tokens=False, return_offsets_mapping=True)
        assert ours["input_ids"] == theirs["input_ids"], text[:80]
        assert ours["offset_mapping"] == theirs["offset_mapping"], text[:80]
    assert sum(len(shipped(text, add_special_tokens=False)["input_ids"]) for text in texts) > 5_000
