"""``hyperfit-demo``: the README's main job, end to end, on the embedded default model.

Wiring only: each step is one of the project's own commands, run as a user would run it.

1. ``hyperfit-assets``: the default base model (SmolLM2-135M-Instruct) and corpora, built once;
2. ``hyperfit-train --preset demo`` on the Austen training split, once per training-set size;
3. ``hyperfit-lm-eval`` (lm-eval + our tasks): ``hyperfit_continuation`` and
   ``hyperfit_perplexity`` on the base model and on every hyperfitted model (whose continuations
   also get the training-copy metrics against its own training blocks), and
   ``hyperfit_continuation`` on every run's early-stopped model (``early_stopped/``, the epoch
   of lowest held-out loss: the control); each model's requests
   are cached under ``lm_eval_cache/`` (:mod:`hyperfit_tasks.common.eval_cache`), so a killed
   evaluation resumes without regenerating what was done;
4. ``hyperfit-temperature``: for every hyperfitted model, the temperature T at which the base
   model's mean next-token entropy on held-out Austen text equals the hyperfitted model's;
5. ``hyperfit-lm-eval``: the base model sampled at that T (``hyperfit_continuation_top_p`` with
   ``--gen_kwargs temperature=T,top_p=1.0,top_k=0``, seed 1234) on the same prompts: the
   entropy-matched baseline;
6. ``hyperfit-agreement``: top-1 agreement between the base and every hyperfitted model;
7. ``hyperfit-lm-eval`` of the LLM judge (``--judge none`` skips it): the base's and every
   hyperfitted model's greedy continuations, each against the human text;
8. ``hyperfit-compare``: the leaderboard table (printed), HTML page and plots, and the judge's
   runs against the base's (``judge/report/``); then the
   next-token sharpening each ``hyperfit-train`` run measured on held-out text (its
   ``hyperfit_run.json``: before training vs after), and the answer table: greedy base,
   greedy early-stopped, greedy hyperfitted and the entropy-matched sampled base side by side,
   with the judge's preferred-or-equal share, the temperatures and agreements.

Every finished step leaves its normal output in ``--output-dir``; a second run re-uses it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hyperfit_tasks.chains import steps
from hyperfit_tasks.chains.steps import (
    GREEDY_GROUP,
    MATCHED_GROUP,
    MATCHED_SEED,
    SAME_PROMPTS,
    Precision,
    command,
    compare_argv,
    lm_eval_argv,
    train_argv,
)
from hyperfit_tasks.common.errors import HyperfitError, OneLineArgumentParser, run_command
from hyperfit_tasks.common.eval_cache import eval_cache_path
from hyperfit_tasks.common.run_files import (
    EARLY_STOPPED_DIR,
    INDEX_HTML,
    RUN_RECORD,
    TABLE_JSON,
    has_results,
    read_early_stopped,
    read_run_record,
)
from hyperfit_tasks.compare.text import SHARPENING_COLUMNS, unpadded_markdown_table
from hyperfit_tasks.metrics import catalogue
from hyperfit_tasks.reproduce.claims import CONSISTENCY, JUDGE_MAX_UNPARSEABLE, JUDGE_MIN_CONSISTENCY, UNPARSEABLE

TASKS = "hyperfit_continuation,hyperfit_perplexity"
ANSWER_COLUMNS = catalogue.view(catalogue.ANSWER)  # the continuation metrics of the answer table, with their labels
JUDGED = catalogue.CATALOGUE["judge_pref_or_equal"]  # the judge's column of the answer table
PROG = "hyperfit-demo"


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog="Time with the defaults on 2 CPU cores (README): about 50 min (bash scripts/demo.sh took 50 min 10 s "
        "from a clean clone, a fresh .venv included, in bf16 with 64 texts per domain: training 6.5 min, four lm-eval "
        "runs 25 min, the two judge runs 10 min, which --judge none saves; --limit 32 about halves the evaluations); "
        "a re-run re-uses every finished step (the comparisons, about 2-4 min, are redone). "
        "Writes under --output-dir "
        "(default: runs/demo): hyperfitted-n<size>/ (one hyperfitted model per --train-samples size, with its "
        "early_stopped/), lm_eval/<model>/ (lm-eval results and samples), lm_eval_cache/, "
        "temperature/, agreement/, judge/<model>/ (the LLM judge's lm-eval runs) with judge/report/ (their "
        "comparison), and report/ (index.html, tables, plots); the offline corpora (and, without --model, "
        "the default model) are built once into ~/.cache/hyperfit (or $HYPERFIT_CACHE).",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("runs/demo"), help="where every step writes (default: %(default)s)"
    )
    parser.add_argument("--model", help="base model: hub id or local path (default: the embedded SmolLM2-135M)")
    parser.add_argument(
        "--train-samples",
        default="48",
        help="comma-separated training-set sizes in blocks, one hyperfitted model (and table row) each, e.g. 8,48 "
        "(default: 48)",
    )
    parser.add_argument(
        "--preset",
        default="demo",
        help="hyperfit-train preset (default: demo, the paper recipe scaled to 2 CPU cores)",
    )
    parser.add_argument("--limit", type=int, default=64, help="evaluation documents per domain (default: 64)")
    parser.add_argument(
        "--max-gen-toks", type=int, default=256, help="tokens generated per continuation (default: 256, as the paper)"
    )
    steps.add_precision_options(parser)
    parser.add_argument(
        "--seed", type=int, help="hyperfit-train --seed (data order, initialisation of LoRA; default: the preset's)"
    )
    parser.add_argument("--device", default="cpu", help="lm-eval and training device (default: cpu)")
    steps.add_eval_backend_options(parser, "the evaluations of every model (the judge has --judge-backend)")
    steps.add_judge_options(parser)
    return parser


def sharpening_table(run_dirs: dict[str, Path]) -> str:
    """Markdown table of each run's held-out diagnostics before and after hyperfitting (``hyperfit_run.json``)."""
    rows = []
    for name, run_dir in run_dirs.items():
        record = read_run_record(run_dir)
        for label, row in (("before (base)", record["initial_diagnostics"]), (name, record["final_diagnostics"])):
            cells = [
                format(row[key], spec) if isinstance(row.get(key), (int, float)) else ""
                for key, _, spec in SHARPENING_COLUMNS
            ]
            rows.append([label, *cells])
    headers = ["model", *(label for _, label, _ in SHARPENING_COLUMNS)]
    return unpadded_markdown_table(headers, rows, right=range(1, len(headers))).rstrip("\n")


def entropy_matched_steps(
    args: argparse.Namespace, precision: Precision, out: Path, base: str, name: str, run_dir: Path
) -> tuple[str, str, Path, str]:
    """Steps 4-6 for one hyperfitted model (each skipped when its output exists); the answer-table row of the matched
    base."""
    temperature_json = out / "temperature" / f"{name}.json"
    steps.run_step_unless(
        temperature_json.is_file(),
        temperature_json,
        f"4. entropy-matched temperature: base against {name}",
        [
            command("hyperfit-temperature"),
            base,
            str(run_dir),
            "--device",
            args.device,
            "--json",
            str(temperature_json),
        ],
    )
    temperature = f"{json.loads(temperature_json.read_text())['temperature']:.3f}"
    matched = f"base-T{temperature}"
    folder = out / "lm_eval" / matched
    steps.run_step_unless(
        has_results(folder),
        folder,
        f"5. evaluate base sampled at T={temperature} (entropy of {name}) with lm-eval ({MATCHED_GROUP})",
        lm_eval_argv(
            f"pretrained={base},dtype={precision.dtype}",
            MATCHED_GROUP,
            folder,
            args.device,
            precision.batch_size,
            args.limit,
            f"max_gen_toks={args.max_gen_toks},temperature={temperature},top_p=1.0,top_k=0",
            model=args.eval_backend,
            seed=MATCHED_SEED,
            vllm_python=args.vllm_python,
        ),
        precision=precision.name,
    )
    agreement_json = out / "agreement" / f"{name}.json"
    steps.run_step_unless(
        agreement_json.is_file(),
        agreement_json,
        f"6. top-1 agreement: base vs {name}",
        [command("hyperfit-agreement"), base, str(run_dir), "--device", args.device, "--json", str(agreement_json)],
    )
    return matched, f"sampled T={temperature} (entropy of {name})", folder, MATCHED_GROUP


def answer_table(rows: list[tuple[str, str, Path, str]], out: Path, judge_task: str | None = None) -> str:
    """Markdown table: each row's continuation metrics (value ± stderr) for its task group, the judge's
    preferred-or-equal share of its continuations (``judge/<name>/``, when judged), plus, per hyperfitted model, its
    entropy-matched temperature and top-1 agreement with the base."""
    from hyperfit_tasks.compare import load_results

    judged = [f"{JUDGED.label} (judge)"] if judge_task else []
    header = ["model", "decoding", *(metric.label for metric in ANSWER_COLUMNS), *judged, "top-1 agreement with base"]
    table: list[list[str]] = []
    # judged run -> the judge's (position consistency, unparseable share)
    trust: dict[str, tuple[float | None, float | None]] = {}
    for name, decoding, folder, group in rows:
        (run,) = load_results([folder])
        cells = [measured_cell(run, group, metric.name) for metric in ANSWER_COLUMNS]
        if judge_task and has_results(out / "judge" / name):
            (judge_run,) = load_results([out / "judge" / name])
            cells.append(measured_cell(judge_run, judge_task, JUDGED.name))
            trust[name] = tuple(
                getattr(judge_run.measurement(judge_task, metric), "value", None)
                for metric in (CONSISTENCY, UNPARSEABLE)
            )
        elif judge_task:
            cells.append("")
        agreement = out / "agreement" / f"{name}.json"
        cells.append(f"{json.loads(agreement.read_text())['top1_agreement']:.3f}" if agreement.is_file() else "")
        table.append([name, decoding, *cells])
    lines = [unpadded_markdown_table(header, table, right=range(2, len(header))).rstrip("\n")]
    for name, *_ in rows:
        temperature_json = out / "temperature" / f"{name}.json"
        if not temperature_json.is_file():
            continue
        record = json.loads(temperature_json.read_text())
        interval = record.get("temperature_ci95")
        spread = f" (95% interval {interval[0]:.3f}-{interval[1]:.3f} over held-out blocks)" if interval else ""
        lines.append(
            f"\n{temperature_json.stem}: entropy-matched T = {record['temperature']:.3f}{spread}; "
            f"mean next-token entropy on held-out Austen: base {record['base_entropy']:.3f} nats at T=1, "
            f"{record['base_entropy_at_temperature']:.3f} at T, "
            f"{temperature_json.stem} {record['hyperfitted_entropy']:.3f}"
        )
    return "\n".join(lines + ([f"\n{judge_trust(trust)}"] if trust else []))


def judge_trust(trust: dict[str, tuple[float | None, float | None]]) -> str:
    """One line: the judge's position consistency and unparseable share on each judged run, and whether they meet the
    trust thresholds of hyperfit-reproduce's claim 10 (a judge below them says little, whatever it prefers)."""

    def shown(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    runs = "; ".join(
        f"{name} {shown(consistency, '.2f')}, {shown(unparseable, '.1%')}"
        for name, (consistency, unparseable) in trust.items()
    )
    trusted = all(
        c is not None and c >= JUDGE_MIN_CONSISTENCY and u is not None and u <= JUDGE_MAX_UNPARSEABLE
        for c, u in trust.values()
    )
    thresholds = f"consistency >= {JUDGE_MIN_CONSISTENCY}, unparseable <= {JUDGE_MAX_UNPARSEABLE:.0%}"
    verdict = (
        f"within the trust thresholds ({thresholds})" if trusted
        else f"outside the trust thresholds ({thresholds}): its preferences say little "
        "(a judge that answers by position alone finds every text preferred or equal in half of the judgments)"
    )  # fmt: skip
    return f"judge's position consistency and unparseable share: {runs}; {verdict}"


def measured_cell(run, task: str, metric: str) -> str:
    """``value ± stderr`` of one metric of a run (lm-eval's stderr), empty when the run lacks it."""
    measured = run.measurement(task, metric)
    if measured is None or measured.value is None:
        return ""
    return f"{measured.value:.3f}" + (f" ± {measured.stderr:.3f}" if measured.stderr is not None else "")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors; a failed or interrupted step stops the chain in one line
    (steps.run_step)."""
    args = make_parser().parse_args(argv)
    return run_command(
        PROG,
        lambda: run(args),
        debug=False,
        interrupted="interrupted: re-run the same command to resume (finished steps are kept)",
    )


def training_sizes(text: str) -> list[int]:
    """``--train-samples`` (``8,48``) as sizes, each >= 1 (one line naming the problem and the fix otherwise)."""
    try:
        sizes = [int(size) for size in text.split(",") if size.strip()]
    except ValueError:
        raise HyperfitError(
            f"--train-samples must be comma-separated whole numbers of blocks, got {text!r}: e.g. 8,48"
        ) from None
    if not sizes or min(sizes) < 1:
        raise HyperfitError(f"--train-samples must list sizes >= 1, got {text!r}: e.g. 8,48")
    return sizes


def run(args: argparse.Namespace) -> int:
    """The eight steps in order, each skipped when its output is already there (the comparison is redone)."""
    if args.limit < 1:
        raise HyperfitError(f"--limit must be >= 1 evaluation document per domain, got {args.limit}: e.g. --limit 32")
    out = args.output_dir.resolve()
    sizes = training_sizes(args.train_samples)
    base = steps.base_model(args.model)
    precision = steps.chain_precision(args)  # bf16 asked for where the hardware lacks it fails before training
    judge = steps.make_judge(
        args.judge, args.judge_backend, args.judge_task, precision.dtype
    )  # as does a bad judge option
    args.vllm_python = steps.check_vllm_python(args, judge)  # and a Python without vLLM for the vllm runs
    run_dirs = {f"hyperfitted-n{size}": out / f"hyperfitted-n{size}" for size in sizes}
    train_models(args, precision, base, run_dirs)
    early = {
        early_name(name): run_dir / EARLY_STOPPED_DIR
        for name, run_dir in run_dirs.items()
        if (run_dir / EARLY_STOPPED_DIR).is_dir()
    }
    models = {"base": (base, TASKS)} | {name: (str(run_dir), TASKS) for name, run_dir in run_dirs.items()}
    result_dirs = evaluate_models(
        args, precision, models | {name: (str(path), GREEDY_GROUP) for name, path in early.items()}, run_dirs, out
    )
    answer_rows = [("base", "greedy", out / "lm_eval" / "base", GREEDY_GROUP)]
    for name, run_dir in run_dirs.items():
        matched = entropy_matched_steps(args, precision, out, base, name, run_dir)
        result_dirs.append(f"{matched[2]}={matched[0]}")
        if early_name(name) in early:
            answer_rows += [
                (
                    early_name(name),
                    early_decoding(early[early_name(name)]),
                    out / "lm_eval" / early_name(name),
                    GREEDY_GROUP,
                )
            ]
        answer_rows += [(name, "greedy", out / "lm_eval" / name, GREEDY_GROUP)]
        answer_rows += [matched] if matched[0] not in {row[0] for row in answer_rows} else []
    judged = {}
    if judge is not None:
        plan = {name: (out / "lm_eval" / name, None) for name in ["base", *run_dirs]}
        judged = steps.run_judge(judge, plan, out, args, precision, "7.")
    # the sampled runs are read as the greedy task (the same prompts), so they too get paired intervals against the
    # base
    steps.run_step("8. compare", [
        command("hyperfit-compare"), *dict.fromkeys(result_dirs), "--baseline", "base", "--same-prompts", SAME_PROMPTS,
        "--out", str(out / "report"),
    ])  # fmt: skip
    # the judge's verdicts on each hyperfitted model's continuations, paired with those on the base's
    if judge is not None:
        report = out / "judge" / "report"
        steps.run_step_unless(
            steps.is_newer(report / TABLE_JSON, list(judged.values())),
            report,
            "8. compare the judge's runs (against base)",
            compare_argv(judged, "base", report),
        )
    print("\n==> next-token sharpening on held-out Austen text (hyperfit-train diagnostics, before vs after)")
    print(sharpening_table(run_dirs))
    print(
        "\n==> hyperfitted against the base model, its own early-stopped model (the control) and the base sampled at "
        "the entropy-matched temperature (hyperfit_continuation prompts, both domains; ± lm-eval stderr; the paired "
        "intervals against the base are in the comparison above)"
    )
    print(answer_table(answer_rows, out, judge.task if judge else None))
    print(f"\nReport: {out / 'report' / INDEX_HTML}")
    return 0


def early_name(name: str) -> str:
    """The answer-table name of a hyperfitted run's early-stopped model (``hyperfitted-n48`` ->
    ``early-stopped-n48``)."""
    return name.replace("hyperfitted", "early-stopped", 1)


def early_decoding(folder: Path) -> str:
    """The answer table's decoding cell of an early-stopped model: greedy, and which epoch it is."""
    record = read_early_stopped(folder.parent)
    try:
        return f"greedy (epoch {record['epoch']:g}: lowest held-out loss {record['heldout_loss']:.3f})"
    except (KeyError, TypeError):  # no record, or one without an epoch
        return "greedy (lowest held-out loss)"


def train_models(args: argparse.Namespace, precision: Precision, base: str, run_dirs: dict[str, Path]) -> None:
    """Step 2: one ``hyperfit-train`` run per training-set size in the chain's precision, unless its run is
    finished."""
    for name, run_dir in run_dirs.items():
        size = name.removeprefix("hyperfitted-n")
        seed = ["--seed", str(args.seed)] if args.seed is not None else []
        steps.run_step_unless(
            (run_dir / RUN_RECORD).is_file(),
            run_dir,
            f"2. hyperfit {size} blocks (preset {args.preset}, {precision.name})",
            train_argv(
                args.preset, base, run_dir, args.device, ["--num_samples", size, "--precision", precision.name, *seed]
            ),
            precision=precision.name,
        )


def evaluate_models(
    args: argparse.Namespace,
    precision: Precision,
    models: dict[str, tuple[str, str]],
    run_dirs: dict[str, Path],
    out: Path,
) -> list[str]:
    """Step 3: ``hyperfit-lm-eval`` on every model (name -> (path, tasks)) not yet evaluated; returns ``FOLDER=NAME``
    for ``hyperfit-compare``."""
    result_dirs = []
    for name, (path, tasks) in models.items():
        folder = out / "lm_eval" / name
        result_dirs.append(f"{folder}={name}")
        model_args = f"pretrained={path},dtype={precision.dtype}"
        steps.run_step_unless(
            has_results(folder),
            folder,
            f"3. evaluate {name} with lm-eval ({tasks})",
            lm_eval_argv(
                model_args,
                tasks,
                folder,
                args.device,
                precision.batch_size,
                args.limit,
                f"max_gen_toks={args.max_gen_toks}",
                model=args.eval_backend,
                # a killed evaluation resumes from this model's own request cache; hf runs only, as in
                # hyperfit-reproduce: the file is keyed by the model and its settings, not by the backend
                cache=eval_cache_path(out / "lm_eval_cache", path, f"{model_args},device={args.device}")
                if args.eval_backend == "hf"
                else None,
                # a hyperfitted model's continuations are also scored for copying from its training blocks
                metadata={"training_data": str(run_dirs[name])} if name in run_dirs else None,
                vllm_python=args.vllm_python,
            ),
            precision=precision.name,
        )
    return result_dirs


if __name__ == "__main__":
    sys.exit(main())
