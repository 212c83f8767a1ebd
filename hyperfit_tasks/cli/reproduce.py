"""``hyperfit-reproduce``: every claim of the paper checked on one model, in one command, with a claims table.

Wiring only: each step is one of the project's own commands (:mod:`hyperfit_tasks.chains.steps`, as ``hyperfit-demo``),
the claims are decided by :mod:`hyperfit_tasks.reproduce.claims` and written by :mod:`hyperfit_tasks.reproduce.report`.

1. ``hyperfit-assets`` (unless ``--model``);
2. ``hyperfit-train``: the main run (Austen), the same samples in another order (``--sample_seed`` fixed, another
   ``--seed``), a run on pydoc's training split and a run on a very small set;
3. ``hyperfit-temperature``: the base model's entropy-matched temperature T;
4. ``hyperfit-lm-eval``: base, hyperfitted and the main run's early-stopped model (continuations and perplexity), the
   base sampled with top-p and at T, the hyperfitted model through the citation blocker, the shuffled, pydoc and small
   runs (Austen prompts);
5. ``hyperfit-agreement``: top-1 agreement of the main and the shuffled run;
6. ``hyperfit-lm-eval`` of the LLM judge (claim 10; ``--judge none`` skips it): the base's and the hyperfitted
   model's greedy continuations each against the human text, and the sanity control (a degenerate loop in place of the
   base's continuations);
7. ``hyperfit-compare`` four times: against the greedy base, against the greedy hyperfitted model (the sampled runs
   paired on the same prompts with ``--same-prompts``), against the early-stopped model (the control of claim 11), and
   the two judge runs (claim 10);
8. the claims report: ``report/claims.md``, ``claims.json``, ``index.html``, ``training.png``.

Every finished step leaves its output in ``--output-dir``; a second run re-uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from hyperfit_tasks.chains import steps
from hyperfit_tasks.chains.steps import (
    GREEDY_GROUP,
    LOOP_CONTROL,
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
from hyperfit_tasks.common.run_files import EARLY_STOPPED_DIR, RUN_RECORD, TABLE_JSON, has_results, read_diagnostics
from hyperfit_tasks.reproduce import claims as names

PROG = "hyperfit-reproduce"
# sizes at --scale 1 per preset: (training blocks, evaluation texts per domain)
SIZES = {"demo": (48, 32), "paper": (2000, 300)}
SMALL_SET = 8  # the paper's smallest training set
BASE_SEED, ORDER_SEED = "42", "43"  # --sample_seed of every run, and the --seed of the shuffled-order run
BLOCK_LEN = "6"  # the citation blocker's span: no 6-token span (5-gram continuation) of the training data
AUSTEN_TASK = f"{GREEDY_GROUP}_austen"
PERPLEXITY_TASKS = f"{GREEDY_GROUP},hyperfit_perplexity"
CURVE_OPTIONS = ["--diagnostic_generation_every", "2"]  # the two runs drawn in training.png: greedy TTR every 2 epochs


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog="Time with the defaults on 2 CPU cores (docs/reproduce.md): 54 min 18 s from a clean clone, a fresh "
        ".venv included (32 texts per domain, bf16 where the CPU has it: four trainings 23.7 min, twelve lm-eval "
        "runs with the judge's 21.7 min, comparisons 4.9 min, setting up .venv 2.3 min; --judge none saves 7 "
        "min); a re-run re-uses every finished step (5 s measured). Writes under --output-dir "
        "(default: runs/reproduce): the four trained runs hyperfitted/ (with its early_stopped/), "
        "hyperfitted-shuffled/, hyperfitted-pydoc/ and hyperfitted-small/, temperature.json, lm_eval/<name>/ "
        "(lm-eval results and samples), lm_eval_cache/, agreement/, judge/<name>/ (the LLM judge's lm-eval runs), "
        "compare/main/, compare/decoding/, compare/control/ and compare/judge/ (hyperfit-compare reports), and "
        "report/ (claims.md, claims.json, index.html, training.png); the offline corpora (and, without --model, the "
        "default model) are built once into ~/.cache/hyperfit (or $HYPERFIT_CACHE).",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("runs/reproduce"),
        help="where every step writes (default: %(default)s)",
    )
    parser.add_argument("--model", help="base model: local path (default: the embedded SmolLM2-135M)")
    parser.add_argument(
        "--preset",
        default="demo",
        choices=sorted(SIZES),
        help="hyperfit-train preset (default: demo; paper: the paper's recipe)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="one knob for time against intervals: training blocks and evaluation texts per domain are the preset's "
        "sizes times SCALE "
        f"({', '.join(f'{k}: {t} blocks, {e} texts' for k, (t, e) in SIZES.items())} at 1; default 1)",
    )
    parser.add_argument(
        "--train-samples", type=int, help="training blocks of each run but the small one (default: from --scale)"
    )
    parser.add_argument(
        "--small-samples",
        type=int,
        default=SMALL_SET,
        help=f"blocks of the small-set run (default: {SMALL_SET}, as the paper)",
    )
    parser.add_argument("--limit", type=int, help="evaluation texts per domain (default: from --scale)")
    parser.add_argument(
        "--max-gen-toks", type=int, default=256, help="tokens generated per continuation (default: 256, as the paper)"
    )
    steps.add_precision_options(parser)
    parser.add_argument("--device", default="cpu", help="lm-eval and training device (default: cpu; e.g. cuda)")
    parser.add_argument(
        "--train-launcher",
        type=shlex.split,
        metavar="'CMD ...'",
        help="run hyperfit-train through this launcher, e.g. 'accelerate launch --num_processes 8' "
        "(as -m hyperfit_train.cli)",
    )
    parser.add_argument(
        "--train-options",
        type=shlex.split,
        default=[],
        metavar="'--OPTION VALUE ...'",
        help="more hyperfit-train options for every run, after the preset's "
        "(e.g. '--num_train_epochs 20 --bf16 true')",
    )
    parser.add_argument(
        "--compare-options",
        type=shlex.split,
        default=[],
        metavar="'--OPTION VALUE ...'",
        help="more hyperfit-compare options for both comparisons (e.g. '--permutations 2000')",
    )
    steps.add_eval_backend_options(parser, "the plain evaluations (the citation-blocked run stays hf)")
    steps.add_judge_options(parser)  # claim 10; --judge none: not measurable, MAUVE shown
    return parser


def sizes(args: argparse.Namespace) -> tuple[int, int, int]:
    """(training blocks, small-set blocks, evaluation texts per domain) from ``--scale`` and the explicit options."""
    if not args.scale > 0:
        raise HyperfitError(f"--scale must be > 0, got {args.scale}: 1 is the default size, 0.5 half of it, 2 twice")
    train, texts = SIZES[args.preset]
    train = args.train_samples or max(2, round(train * args.scale))
    limit = args.limit or max(2, round(texts * args.scale))
    return train, min(args.small_samples, train), limit


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


def run(args: argparse.Namespace) -> int:
    """The steps in order, each skipped when its output is already there, then the claims report."""
    train, small, limit = sizes(args)
    out = args.output_dir.resolve()
    base = steps.base_model(args.model)
    precision = steps.chain_precision(args)  # bf16 asked for where the hardware lacks it fails before the trainings
    judge = steps.make_judge(
        args.judge, args.judge_backend, args.judge_task, precision.dtype
    )  # as does a bad judge option
    args.vllm_python = steps.check_vllm_python(args, judge)  # and a Python without vLLM for the vllm runs
    runs = {
        names.HYPERFITTED: [
            "--num_samples",
            str(train),
            "--sample_seed",
            BASE_SEED,
            "--seed",
            BASE_SEED,
            *CURVE_OPTIONS,
        ],
        names.SHUFFLED: [
            "--num_samples",
            str(train),
            "--sample_seed",
            BASE_SEED,
            "--seed",
            ORDER_SEED,
            "--data_order",
            "shuffled",
            *CURVE_OPTIONS,
        ],
        names.OTHER_DOMAIN: [
            "--num_samples",
            str(train),
            "--sample_seed",
            BASE_SEED,
            "--seed",
            BASE_SEED,
            "--data",
            pydoc_train(),
        ],
        names.SMALL: ["--num_samples", str(small), "--sample_seed", BASE_SEED, "--seed", BASE_SEED],
    }
    for name, options in runs.items():
        run_dir = out / name
        steps.run_step_unless(
            (run_dir / RUN_RECORD).is_file(),
            run_dir,
            f"2. hyperfit: {name} ({' '.join(options)}, {precision.name})",
            train_argv(
                args.preset,
                base,
                run_dir,
                args.device,
                [*options, "--precision", precision.name, *args.train_options],
                args.train_launcher,
            ),
            precision=precision.name,
        )
    main_run = out / names.HYPERFITTED
    temperature_json = out / "temperature.json"
    steps.run_step_unless(
        temperature_json.is_file(),
        temperature_json,
        "3. entropy-matched temperature: base against hyperfitted",
        [
            command("hyperfit-temperature"),
            base,
            str(main_run),
            "--device",
            args.device,
            "--json",
            str(temperature_json),
        ],
    )
    temperature = f"{json.loads(temperature_json.read_text())['temperature']:.3f}"
    folders = evaluate(args, precision, out, base, limit, temperature)
    agreement_json = out / "agreement" / f"{names.HYPERFITTED}-vs-{names.SHUFFLED}.json"
    steps.run_step_unless(
        agreement_json.is_file(),
        agreement_json,
        "5. top-1 agreement: hyperfitted vs the shuffled-order run",
        [
            command("hyperfit-agreement"),
            str(main_run),
            str(out / names.SHUFFLED),
            "--device",
            args.device,
            "--json",
            str(agreement_json),
        ],
    )
    judged = {}
    if judge is not None:  # claim 10: the judge on both runs' greedy continuations and on its sanity control
        plan = {names.BASE: (folders[names.BASE], None), names.HYPERFITTED: (folders[names.HYPERFITTED], None),
                names.JUDGE_CONTROL: (folders[names.BASE], LOOP_CONTROL)}  # fmt: skip
        judged = steps.run_judge(judge, plan, out, args, precision, "6.")
    comparisons = {
        "main": ([names.BASE, names.HYPERFITTED, names.SMALL, names.OTHER_DOMAIN], folders, []),
        "decoding": (
            [names.HYPERFITTED, names.TOP_P, names.MATCHED, names.BLOCKED, names.SHUFFLED],
            folders,
            ["--same-prompts", SAME_PROMPTS],
        ),
        # its own table, so that claim 11's tests do not enlarge the Holm families of the other claims
        "control": ([names.EARLY_STOPPED, names.BASE, names.HYPERFITTED], folders, []),
        # claim 10's: the judge's verdicts on the base's continuations against those on the hyperfitted model's
        "judge": ([names.BASE, names.HYPERFITTED], judged, []),
    }
    comparisons = {title: plan for title, plan in comparisons.items() if all(name in plan[1] for name in plan[0])}
    for title, (members, inputs, extra) in comparisons.items():
        report = out / "compare" / title
        steps.run_step_unless(
            steps.is_newer(report / TABLE_JSON, [inputs[name] for name in members]),
            report,
            f"7. compare ({title}: against {members[0]})",
            compare_argv(
                {name: inputs[name] for name in members}, members[0], report, [*extra, *args.compare_options]
            ),
        )
    from hyperfit_tasks.reproduce.claims import decide, observe
    from hyperfit_tasks.reproduce.evidence import load_evidence
    from hyperfit_tasks.reproduce.report import render_markdown, write_report

    evidence = load_evidence(
        {title: out / "compare" / title / TABLE_JSON for title in ("main", "decoding", "control", "judge")},
        main_run,
        agreement_json,
        temperature_json,
        small,
        judged.get(names.JUDGE_CONTROL),
        judge.task if judge else None,
    )
    rows, observed = decide(evidence), observe(evidence)
    settings = {
        "base_model": base, "preset": args.preset, "scale": args.scale, "train_samples": train, "small_samples": small,
        "texts_per_domain": limit, "max_gen_toks": args.max_gen_toks,
        "entropy_matched_temperature": float(temperature),
        "device": args.device, "precision": precision.name, "batch_size": precision.batch_size,
        "judge": dataclasses.asdict(judge) if judge else None,
    }  # fmt: skip
    curves = {names.HYPERFITTED: read_diagnostics(main_run), names.SHUFFLED: read_diagnostics(out / names.SHUFFLED)}
    reports = {
        f"hyperfit-compare: {title} (against {members[0]})": f"../compare/{title}/index.html"
        for title, (members, *_) in comparisons.items()
    }
    notes = [
        f"{limit} texts per domain, {train} training blocks ({small} for the small set): "
        "--scale trades time for narrower intervals"
    ]
    write_report(
        out / "report",
        rows,
        settings,
        reports,
        curves,
        notes,
        observed,
        (evidence.run_record or {}).get("early_stopped"),
    )
    print("\n==> the paper's claims on this model\n")
    print(render_markdown(rows, notes, observed))
    print(f"Report: {out / 'report' / 'index.html'}")
    return 0


def pydoc_train() -> str:
    """The pydoc training split (built by ``hyperfit-assets``)."""
    from hyperfit_tasks.assets import corpus_path

    return str(corpus_path("pydoc", "train"))


def evaluate(
    args: argparse.Namespace, precision: Precision, out: Path, base: str, limit: int, temperature: str
) -> dict[str, Path]:
    """Step 4: every lm-eval run not yet done; returns run name -> its ``--output_path`` folder."""
    plain = args.eval_backend
    generation = f"max_gen_toks={args.max_gen_toks}"
    # name -> (model, pretrained, tasks, gen_kwargs, seed, training data, extra model_args)
    plan = {
        names.BASE: (plain, base, PERPLEXITY_TASKS, generation, None, None, ""),
        names.HYPERFITTED: (
            plain,
            out / names.HYPERFITTED,
            PERPLEXITY_TASKS,
            generation,
            None,
            out / names.HYPERFITTED,
            "",
        ),
        names.EARLY_STOPPED: (
            plain,
            out / names.HYPERFITTED / EARLY_STOPPED_DIR,
            PERPLEXITY_TASKS,
            generation,
            None,
            None,
            "",
        ),
        names.TOP_P: (plain, base, MATCHED_GROUP, generation, MATCHED_SEED, None, ""),
        names.MATCHED: (
            plain,
            base,
            MATCHED_GROUP,
            f"{generation},temperature={temperature},top_p=1.0,top_k=0",
            MATCHED_SEED,
            None,
            "",
        ),
        names.BLOCKED: (
            "hf-citation-blocked",
            out / names.HYPERFITTED,
            AUSTEN_TASK,
            generation,
            None,
            None,
            f",blocked_data={out / names.HYPERFITTED},block_len={BLOCK_LEN}",
        ),
        names.SHUFFLED: (plain, out / names.SHUFFLED, AUSTEN_TASK, generation, None, None, ""),
        names.OTHER_DOMAIN: (plain, out / names.OTHER_DOMAIN, AUSTEN_TASK, generation, None, None, ""),
        names.SMALL: (plain, out / names.SMALL, AUSTEN_TASK, generation, None, None, ""),
    }
    if not Path(plan[names.EARLY_STOPPED][1]).is_dir():
        print(f"\n==> no early-stopped model in {out / names.HYPERFITTED} (trained before hyperfit-train kept one): "
              "claim 11 is not measurable; train the main run again (delete its folder) to measure it")  # fmt: skip
        del plan[names.EARLY_STOPPED]
    folders = {}
    for name, (model, pretrained, tasks, gen_kwargs, seed, training, extra) in plan.items():
        folder = folders[name] = out / "lm_eval" / name
        model_args = f"pretrained={pretrained},dtype={precision.dtype}{extra}"
        cache = (
            eval_cache_path(out / "lm_eval_cache", str(pretrained), f"{model_args},device={args.device}")
            if model == "hf" and not seed
            else None
        )
        steps.run_step_unless(
            has_results(folder),
            folder,
            f"4. evaluate {name} with lm-eval ({tasks})",
            lm_eval_argv(
                model_args,
                tasks,
                folder,
                args.device,
                precision.batch_size,
                limit,
                gen_kwargs,
                model=model,
                cache=cache,
                seed=seed,
                metadata={"training_data": str(training)} if training else None,
                vllm_python=args.vllm_python,
            ),
            precision=precision.name,
        )
    return folders


if __name__ == "__main__":
    sys.exit(main())
