"""The step runner of ``hyperfit-demo`` and ``hyperfit-reproduce``: each step is one of the project's own commands, its
command line printed, run in the foreground, skipped when its output is already there, one line on Ctrl-C or
failure."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.common.model_args import parse_model_args
from hyperfit_tasks.common.precision import PRECISIONS, lm_eval_dtype, precision_of_dtype, resolve_precision
from hyperfit_tasks.common.run_files import RESULTS_GLOB, has_results, read_run_record, results_model_args
from hyperfit_tasks.common.timing import format_duration

# lm-eval batch size of both chains' evaluations, by precision. fp32: batch 32 generates 2.2x as fast as 8 on 2 CPU
# cores (benchmarks/bench_generation.py, docs/benchmarks.md); 64 is faster still, but lm-eval pools the perplexity
# tasks' documents into the same batches, whose fp32 logits then need ~15 GB. bf16 halves those logits: batch 64 peaks
# at 8.8 GB of memory (measured, docs/benchmarks.md).
BATCH_SIZES = {"fp32": "32", "bf16": "64"}
# draws of lm-eval's own bootstrap stderr (its default 100,000 costs ~2 s per NaN-aware metric); hyperfit-compare's
# paired intervals do not depend on it
BOOTSTRAP_ITERS = "1000"
# the task groups both chains evaluate: greedy continuations, and the same prompts sampled (top-p, or at the
# entropy-matched temperature) with a fixed seed
GREEDY_GROUP, MATCHED_GROUP = "hyperfit_continuation", "hyperfit_continuation_top_p"
SAME_PROMPTS = (
    f"{MATCHED_GROUP}={GREEDY_GROUP}"  # hyperfit-compare reads the sampled runs as the greedy task (same prompts)
)
MATCHED_SEED = "1234"


def command(name: str) -> str:
    """Path of one of this package's console scripts, next to the running interpreter."""
    script = Path(sys.executable).parent / name
    return str(script) if script.exists() else name


def program() -> str:
    """The running console script's name (``hyperfit-demo``, ``hyperfit-reproduce``), for its one-line messages."""
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "hyperfit"


def run_step(title: str, argv: list[str]) -> None:
    """Run one step in the foreground (its own progress bars show), then print its wall time (the chain's time split);
    stop the chain if it fails."""
    print(f"\n==> {title}\n    $ {' '.join(argv)}", flush=True)
    started = time.monotonic()
    try:
        returncode = subprocess.run(argv).returncode
    except KeyboardInterrupt:
        raise SystemExit(
            f"{program()}: interrupted during step {title}: re-run the same command to resume "
            "(finished steps are kept)"
        ) from None
    if returncode != 0:
        raise SystemExit(f"{program()}: step failed: {title} (see the messages above; re-run to resume)")
    print(f"==> done in {format_duration(time.monotonic() - started)}: {title}", flush=True)


def run_step_unless(done: bool, output: Path, title: str, argv: list[str], precision: str | None = None) -> None:
    """Run the step ``title`` unless ``done`` (its ``output`` is already there, and a re-run reuses it); a finished
    training or lm-eval run made in another ``precision`` than this run's is a one-line error, not silently mixed
    in."""
    if not done:
        run_step(title, argv)
        return
    made_in = output_precision(output) if precision else None
    if made_in and made_in != precision:
        raise HyperfitError(
            f"{output} was made in {made_in} and this run is in {precision}: pass --precision {made_in} to re-use it, "
            "or another --output-dir"
        )
    print(f"\n==> {title}: already done ({output})")


def output_precision(output: Path) -> str | None:
    """The precision a finished step's output was made in: a ``hyperfit-train`` run's record (fp32 in records older
    than ``--precision``), or the ``dtype`` of an lm-eval run's ``--model_args`` (None when it names none)."""
    record = read_run_record(output)
    if record is not None:
        return (record.get("training") or {}).get("precision", "fp32")
    return precision_of_dtype(results_model_args(output).get("dtype"))


@dataclass(frozen=True)
class Precision:
    """The precision a chain trains and evaluates in (``fp32`` or ``bf16``, resolved from ``--precision``) and the
    lm-eval batch size that goes with it."""

    name: str
    batch_size: str

    @property
    def dtype(self) -> str:
        """lm-eval's ``dtype`` model argument (``float32`` or ``bfloat16``)."""
        return lm_eval_dtype(self.name)


def add_precision_options(parser: argparse.ArgumentParser) -> None:
    """``--precision`` and ``--batch-size``, the same in both chains."""
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="training and evaluation precision: auto (default): bf16 where the hardware multiplies bf16 natively "
        "(AMX-BF16 or AVX512-BF16 CPUs, bf16 GPUs), else fp32; fp32; bf16 (an error without that hardware). Training "
        "in bf16 is mixed precision (float32 master weights); lm-eval runs with dtype=bfloat16",
    )
    parser.add_argument(
        "--batch-size",
        help=f"lm-eval batch size (default: {BATCH_SIZES['fp32']} in fp32, {BATCH_SIZES['bf16']} in bf16, the fastest "
        "that fits in 24 GB with the perplexity tasks here)",
    )


def chain_precision(args: argparse.Namespace) -> Precision:
    """The precision of ``--precision`` on ``--device``, and ``--batch-size`` or that precision's default."""
    name = resolve_precision(args.precision, args.device, f"--precision {args.precision}")
    return Precision(name, args.batch_size or BATCH_SIZES[name])


# lm-eval's vLLM model, and the environment its CPU build needs unless the user set it (docs/vllm.md): the KV cache it
# reserves up front, in GiB, and no pinning of OpenMP threads (its default reserves one core of two for its front end)
VLLM = "vllm"
VLLM_CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}


def add_eval_backend_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--eval-backend`` and ``--vllm-python``, the same in both chains (``what``: the runs the backend is for)."""
    parser.add_argument(
        "--eval-backend",
        default="hf",
        choices=("hf", VLLM),
        help=f"lm-eval model of {what} (default: hf; vllm: lm-eval's vLLM backend, with vLLM installed where "
        "--vllm-python points)",
    )
    parser.add_argument(
        "--vllm-python",
        metavar="PYTHON",
        help="the Python that runs the vllm evaluations (and a --judge-backend vllm judge): one whose environment has "
        "vLLM and hyperfit (default: this one; on a CPU, VENV/bin/python of the venv that `bash scripts/vllm_venv.sh "
        "VENV` builds, docs/vllm.md)",
    )


def vllm_model_args(model: str, device: str | None, model_args: str) -> str:
    """``model_args`` of an lm-eval run of ``model`` on ``device``: vLLM on a CPU runs without torch.compile
    (``enforce_eager=True`` added unless the arguments name it: no compile at each engine start); as given
    otherwise."""
    if model != VLLM or device != "cpu" or "enforce_eager" in parse_model_args(model_args):
        return model_args
    return f"{model_args},enforce_eager=True"


def check_vllm_python(args: argparse.Namespace, judge: Judge | None) -> str | None:
    """The interpreter of the chain's vLLM runs (None when it has none), checked before the trainings: a Python that
    cannot import vLLM or hyperfit is one line naming what to install. On a CPU, vLLM's environment defaults are set
    for the steps (docs/vllm.md)."""
    if VLLM not in (args.eval_backend, judge.backend if judge else None):
        return None
    python = args.vllm_python or sys.executable
    probe = "import importlib.util as u, sys; sys.exit(not (u.find_spec('vllm') and u.find_spec('hyperfit_tasks')))"
    try:
        ready = subprocess.run([python, "-c", probe], capture_output=True).returncode == 0
    except OSError as error:
        raise HyperfitError(
            f"--vllm-python {python} cannot be run ({error.strerror}): give a Python interpreter's path"
        ) from None
    if not ready:
        raise HyperfitError(
            f"the vllm evaluations need a Python with vLLM and hyperfit, and {python} lacks one of them: `pip install "
            "vllm` on a GPU machine; on a CPU, `bash scripts/vllm_venv.sh VENV` (docs/vllm.md), then --vllm-python "
            "VENV/bin/python"
        )
    if args.device == "cpu":
        for name, value in VLLM_CPU_ENV.items():
            os.environ.setdefault(name, value)
    return python


def base_model(model: str | None) -> str:
    """Step 1: the base model, ``model`` or the embedded default (built by ``hyperfit-assets``)."""
    if model:
        return model
    run_step("1. offline assets: default base model and corpora", [command("hyperfit-assets")])
    from hyperfit_tasks.assets import default_model_path

    return str(default_model_path())


def train_argv(
    preset: str, base: str, run_dir: Path, device: str, options: list[str], launcher: list[str] | None = None
) -> list[str]:
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
    device: str | None,
    batch_size: str,
    limit: int | None,
    gen_kwargs: str | None,
    model: str = "hf",
    cache: str | None = None,
    seed: str | None = None,
    metadata: dict | None = None,
    chat_template: bool = False,
    vllm_python: str | None = None,
) -> list[str]:
    """``hyperfit-lm-eval`` on ``tasks`` with samples logged into ``folder`` (``cache``: a request cache to resume
    from; ``device``, ``limit``, ``gen_kwargs`` None: left out, lm-eval's or the task's own; ``vllm_python``: the
    interpreter of a ``vllm`` model's run, e.g. a vLLM venv's, instead of this one's console script; a vllm run on a
    CPU gets :func:`vllm_model_args`)."""
    if model == VLLM and vllm_python:
        program = [vllm_python, "-m", "hyperfit_tasks.cli.lm_eval"]
    else:
        program = [command("hyperfit-lm-eval")]
    return (
        [*program, "--model", model, "--model_args", vllm_model_args(model, device, model_args)]
        + (["--use_cache", cache] if cache else [])
        + ["--tasks", tasks]
        + (["--device", device] if device else [])
        + ["--batch_size", batch_size]
        + (["--limit", str(limit)] if limit is not None else [])
        + (["--gen_kwargs", gen_kwargs] if gen_kwargs else [])
        + (["--seed", seed] if seed else [])
        + (["--apply_chat_template"] if chat_template else [])
        + ["--bootstrap_iters", BOOTSTRAP_ITERS, "--log_samples", "--output_path", str(folder)]
        + (["--metadata", json.dumps(metadata)] if metadata else [])
    )


def compare_argv(members: dict[str, Path], baseline: str, out: Path, options: Sequence[str] = ()) -> list[str]:
    """``hyperfit-compare FOLDER=NAME ... --baseline NAME [options] --out OUT``."""
    runs = [f"{folder}={name}" for name, folder in members.items()]
    return [command("hyperfit-compare"), *runs, "--baseline", baseline, *options, "--out", str(out)]


def is_newer(output: Path, inputs: list[Path]) -> bool:
    """True if ``output`` exists and is newer than every lm-eval results file under ``inputs`` (a re-run that
    redid an input step redoes the step that reads it)."""
    if not output.is_file():
        return False
    stamps = [path.stat().st_mtime for folder in inputs for path in Path(folder).rglob(RESULTS_GLOB)]
    return all(stamp <= output.stat().st_mtime for stamp in stamps)


# The LLM judge (claim 10, the demo's answer table): the task that asks it, by lm-eval backend. A local model is asked
# for the log-probabilities of its three answers (no parsing, no sampling); chat-completion APIs give no prompt
# log-probabilities, so they are asked to generate the answer.
GENERATION_JUDGE, LOGPROB_JUDGE = "hyperfit_judge", "hyperfit_judge_logprob"
JUDGE_TASKS = {
    "hf": LOGPROB_JUDGE,
    "vllm": LOGPROB_JUDGE,
    "local-chat-completions": GENERATION_JUDGE,
    "openai-chat-completions": GENERATION_JUDGE,
}
LOCAL_JUDGES = ("hf", "vllm")  # the backends that run the judge here, on --device, from a tokenizer of their own
LOOP_CONTROL = "loop"  # the judge's sanity check: each continuation swapped for a degenerate loop (metadata "control")
NO_JUDGE = "none"


@dataclass(frozen=True)
class Judge:
    """The LLM judge of a chain: an lm-eval model (``backend`` and its ``model_args``), the judge task it runs, and
    whether its prompts go through the model's chat template."""

    backend: str
    model_args: str
    task: str
    chat_template: bool

    @property
    def model(self) -> str:
        return model_of(self.model_args)

    @property
    def precision(self) -> str | None:
        """``fp32`` or ``bf16`` from the judge's ``dtype`` model argument (None when it names neither)."""
        return precision_of_dtype(parse_model_args(self.model_args).get("dtype"))


def model_of(model_args: str) -> str:
    """The model path or name in lm-eval ``model_args`` (its ``pretrained=`` or ``model=``)."""
    pairs = parse_model_args(model_args)
    return str(pairs.get("pretrained") or pairs.get("model") or model_args)


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """``--judge``, ``--judge-backend`` and ``--judge-task``, the same in both chains."""
    parser.add_argument(
        "--judge",
        metavar="MODEL_ARGS",
        help="the LLM judge, as lm-eval --model_args (pretrained=PATH for hf and vllm; model=NAME,base_url=URL for "
        "local-chat-completions; model=NAME for openai-chat-completions; a bare path or name is taken as that key); "
        "default: the embedded SmolLM2-135M-Instruct in its chat format, which is also the default model under test, "
        f"so it may favour its own (the base's) text; {NO_JUDGE}: no judge",
    )
    parser.add_argument(
        "--judge-backend", default="hf", choices=tuple(JUDGE_TASKS), help="lm-eval model of the judge (default: hf)"
    )
    parser.add_argument(
        "--judge-task",
        default="auto",
        choices=("auto", GENERATION_JUDGE, LOGPROB_JUDGE),
        help=f"auto (default): the log-probabilities of the answers ({LOGPROB_JUDGE}) for hf and vllm, the generated "
        f"answer ({GENERATION_JUDGE}) for the chat-completions APIs, which give no log-probabilities of a prompt",
    )


def has_chat_template(model: str) -> bool:
    """True if the tokenizer of ``model`` (a local folder or hub id) has a chat template (an instruction-tuned judge
    is asked in its own chat format; a base model gets the plain prompt)."""
    from transformers import AutoTokenizer

    try:
        return bool(AutoTokenizer.from_pretrained(model).chat_template)
    except OSError as error:
        raise HyperfitError(
            f"cannot load the judge's tokenizer from {model} ({error}): give --judge pretrained=PATH of a local model"
        ) from None


def make_judge(judge: str | None, backend: str, task: str = "auto", dtype: str = "float32") -> Judge | None:
    """The judge of ``--judge`` (None: the embedded default model; ``none``: no judge; ``KEY=VALUE,...``: lm-eval
    model_args; a bare path or name: its ``pretrained=``, or ``model=`` for a chat-completions backend),
    ``--judge-backend`` and ``--judge-task`` (``auto``: the log-probability task for local backends, the generation
    task for the APIs); ``dtype``: a local judge's lm-eval dtype when ``--judge`` names none (the chain's
    precision)."""
    if judge == NO_JUDGE:
        return None
    task = JUDGE_TASKS[backend] if task == "auto" else task
    if task == LOGPROB_JUDGE and backend not in LOCAL_JUDGES:
        raise HyperfitError(
            f"{backend} gives no log-probabilities of a prompt: use --judge-task {GENERATION_JUDGE} (or auto) with it"
        )
    if judge is None:
        from hyperfit_tasks.assets import default_model_path

        judge = f"pretrained={default_model_path()},dtype={dtype}"
    elif "=" not in judge:
        judge = f"pretrained={judge},dtype={dtype}" if backend in LOCAL_JUDGES else f"model={judge}"
    # lm-eval sends chat-completion requests as messages; a local model is asked in its chat format when it has one
    return Judge(backend, judge, task, backend not in LOCAL_JUDGES or has_chat_template(model_of(judge)))


def judge_argv(
    judge: Judge,
    samples: Path,
    folder: Path,
    device: str,
    batch_size: str,
    cache: str | None,
    control: str | None = None,
    vllm_python: str | None = None,
) -> list[str]:
    """``hyperfit-lm-eval`` of the judge on the greedy continuations of the run whose ``--output_path`` is ``samples``
    (every one of them: no ``--limit``), with its results and samples in ``folder``; ``control``: the sanity control
    (``loop``) instead of the continuations; ``vllm_python``: the interpreter of a vllm judge. An API judge gets no
    ``--device`` and batch 1 (lm-eval's chat-completion models send one request at a time)."""
    local = judge.backend in LOCAL_JUDGES
    return lm_eval_argv(
        judge.model_args,
        judge.task,
        folder,
        device if local else None,
        batch_size if local else "1",
        None,
        None,
        model=judge.backend,
        cache=cache,
        metadata={"samples": str(samples)} | ({"control": control} if control else {}),
        chat_template=judge.chat_template,
        vllm_python=vllm_python,
    )


def run_judge(
    judge: Judge, plan: dict[str, tuple[Path, str | None]], out: Path, args: argparse.Namespace, precision: Precision,
    step: str,
) -> dict[str, Path]:  # fmt: skip
    """Judge each run of ``plan`` (name -> (its lm-eval ``--output_path``, control or None)) into ``out/judge/<name>/``
    on the chain's ``--device`` and batch size (a vllm judge through ``args.vllm_python``), with its request cache in
    ``out/lm_eval_cache``; each skipped when its results are there. Returns name -> judge folder."""
    from hyperfit_tasks.common.eval_cache import eval_cache_path

    folders = {}
    for name, (samples, control) in plan.items():
        folder = folders[name] = out / "judge" / name
        what = (
            f"a degenerate loop in place of {samples.name}'s continuations (sanity check)"
            if control
            else f"{samples.name}'s continuations"
        )
        cache = eval_cache_path(
            out / "lm_eval_cache", judge.model, f"{judge.backend},{judge.model_args},{judge.task},device={args.device}"
        )
        run_step_unless(
            has_results(folder),
            folder,
            f"{step} judge {what} against the human text ({judge.task}, {judge.model})",
            judge_argv(judge, samples, folder, args.device, precision.batch_size, cache, control, args.vllm_python),
            precision=judge.precision,
        )
    return folders
