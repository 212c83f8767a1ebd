"""Regenerate the real lm-eval result files in this folder (run once; tests only read them).

Tiny random Llamas (``tests/conftest.py:build_tiny_lm``) are evaluated with the real
``hyperfit-lm-eval`` CLI on hyperfit's task groups, two documents per task, with
``--log_samples``; each set's ``--output_path`` folder is copied here unchanged:

* ``hyperfit_tasks/``: a base model (seed 0) and two checkpoints of one training run
  (``run/checkpoint-2``, ``run/checkpoint-4``; seeds 1, 2), continuation and perplexity groups;
* ``other_settings/``: the base model again, continuation group only, ``max_gen_toks=64``
  (a run whose generation settings differ and which lacks the perplexity tasks).

Needs hyperfit's offline assets (corpora, default tokenizer) and a few minutes on 2 CPU cores::

    /work/venv/bin/python tests/data/lm_eval_results/make_fixtures.py [SET ...]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for conftest.build_tiny_lm

from conftest import build_tiny_lm  # noqa: E402

# set -> [(model folder, seed, extra lm_eval arguments)]
SETS = {
    "hyperfit_tasks": [
        ("base", 0, ["--tasks", "hyperfit_continuation,hyperfit_perplexity"]),
        ("run/checkpoint-2", 1, ["--tasks", "hyperfit_continuation,hyperfit_perplexity"]),
        ("run/checkpoint-4", 2, ["--tasks", "hyperfit_continuation,hyperfit_perplexity"]),
    ],
    "other_settings": [
        ("base", 0, ["--tasks", "hyperfit_continuation", "--gen_kwargs", "max_gen_toks=64"]),
    ],
}


def make_set(name: str, work: Path) -> None:
    output = work / name
    for folder, seed, extra in SETS[name]:
        model = build_tiny_lm(work / "models" / folder, seed=seed)
        command = [
            str(Path(sys.executable).with_name("hyperfit-lm-eval")),
            "--model",
            "hf",
            "--model_args",
            f"pretrained={model}",
            "--limit",
            "2",
            "--device",
            "cpu",
            "--batch_size",
            "2",
            "--log_samples",
            "--output_path",
            str(output),
            *extra,
        ]
        subprocess.run(command, check=True)
    shutil.rmtree(HERE / name, ignore_errors=True)
    shutil.copytree(output, HERE / name)
    print(f"wrote {HERE / name}")


def main(names: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="hyperfit-fixtures-"))
    for name in names or list(SETS):
        make_set(name, work)
    shutil.rmtree(work)


if __name__ == "__main__":
    main(sys.argv[1:])
