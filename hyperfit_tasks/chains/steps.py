"""The step runner of ``hyperfit-demo`` and ``hyperfit-reproduce``: each step is one of the project's own commands, its
command line printed, run in the foreground, skipped when its output is already there, one line on Ctrl-C or failure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hyperfit_tasks.common.run_files import RESULTS_GLOB

# lm-eval batch size of both chains' evaluations: batch 32 generates 2.2x as fast as 8 on 2 CPU cores
# (benchmarks/bench_generation.py, docs/benchmarks.md); 64 is faster still, but lm-eval pools the perplexity tasks'
# documents into the same batches, whose logits then need ~15 GB.
DEFAULT_BATCH_SIZE = "32"
# draws of lm-eval's own bootstrap stderr (its default 100,000 costs ~2 s per NaN-aware metric); hyperfit-compare's
# paired intervals do not depend on it
BOOTSTRAP_ITERS = "1000"
# the task groups both chains evaluate: greedy continuations, and the same prompts sampled (top-p, or at the
# entropy-matched temperature) with a fixed seed
GREEDY_GROUP, MATCHED_GROUP = "hyperfit_continuation", "hyperfit_continuation_top_p"
SAME_PROMPTS = f"{MATCHED_GROUP}={GREEDY_GROUP}"  # hyperfit-compare reads the sampled runs as the greedy task (same prompts)
MATCHED_SEED = "1234"


def command(name: str) -> str:
    """Path of one of this package's console scripts, next to the running interpreter."""
    script = Path(sys.executable).parent / name
    return str(script) if script.exists() else name


def program() -> str:
    """The running console script's name (``hyperfit-demo``, ``hyperfit-reproduce``), for its one-line messages."""
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "hyperfit"


def run_step(title: str, argv: list[str]) -> None:
    """Run one step in the foreground (its own progress bars show); stop the chain if it fails."""
    print(f"\n==> {title}\n    $ {' '.join(argv)}", flush=True)
    try:
        returncode = subprocess.run(argv).returncode
    except KeyboardInterrupt:
        raise SystemExit(f"{program()}: interrupted during step {title}: re-run the same command to resume (finished steps are kept)") from None
    if returncode != 0:
        raise SystemExit(f"{program()}: step failed: {title} (see the messages above; re-run to resume)")


def run_step_unless(done: bool, output: Path, title: str, argv: list[str]) -> None:
    """Run the step ``title`` unless ``done`` (its ``output`` is already there, and a re-run reuses it)."""
    if done:
        print(f"\n==> {title}: already done ({output})")
    else:
        run_step(title, argv)


def base_model(model: str | None) -> str:
    """Step 1: the base model, ``model`` or the embedded default (built by ``hyperfit-assets``)."""
    if model:
        return model
    run_step("1. offline assets: default base model and corpora", [command("hyperfit-assets")])
    from hyperfit_tasks.assets import default_model_path

    return str(default_model_path())


def train_argv(preset: str, base: str, run_dir: Path, device: str, options: list[str], launcher: list[str] | None = None) -> list[str]:
    """``hyperfit-train --preset P --model BASE [options] --output_dir RUN --resume`` (through ``launcher``, e.g.
    ``accelerate launch``, when given)."""
    program = [*launcher, "-m", "hyperfit_train.cli"] if launcher else [command("hyperfit-train")]
    return [*program, "--preset", preset, "--model", base, *options, "--output_dir", str(run_dir), "--resume"] + (
        ["--use_cpu"] if device == "cpu" else []
    )


def lm_eval_argv(
    model_args: str,
    tasks: str,
    folder: Path,
    device: str,
    batch_size: str,
    limit: int,
    gen_kwargs: str,
    model: str = "hf",
    cache: str | None = None,
    seed: str | None = None,
    metadata: dict | None = None,
) -> list[str]:
    """``hyperfit-lm-eval`` on ``tasks`` with samples logged into ``folder`` (``cache``: a request cache to resume from)."""
    return (
        [command("hyperfit-lm-eval"), "--model", model, "--model_args", model_args]
        + (["--use_cache", cache] if cache else [])
        + ["--tasks", tasks, "--device", device, "--batch_size", batch_size, "--limit", str(limit), "--gen_kwargs", gen_kwargs]
        + (["--seed", seed] if seed else [])
        + ["--bootstrap_iters", BOOTSTRAP_ITERS, "--log_samples", "--output_path", str(folder)]
        + (["--metadata", json.dumps(metadata)] if metadata else [])
    )


def is_newer(output: Path, inputs: list[Path]) -> bool:
    """True if ``output`` exists and is newer than every lm-eval results file under ``inputs`` (a re-run that
    redid an input step redoes the step that reads it)."""
    if not output.is_file():
        return False
    stamps = [path.stat().st_mtime for folder in inputs for path in Path(folder).rglob(RESULTS_GLOB)]
    return all(stamp <= output.stat().st_mtime for stamp in stamps)
