"""Benchmark ``hyperfit-compare``'s paired statistics against the generation they judge.

Two runs of ``--texts`` documents each of ``hyperfit_continuation_austen`` are compared in full:
every metric with the paired permutation test (``--permutations``, default 1,000; MAUVE with its own
``--mauve-permutations`` and MiniLM featurisation included), tables, plots and ``index.html``,
by ``hyperfit-compare``'s own entry point. The runs' continuations are real text (run A: each
document's human reference; run B: the first half of it repeated, a degenerate "sharpened"
stand-in), scored by the task's own ``process_results`` and aggregations and written in the layout
of ``lm_eval --log_samples`` (results JSON with ``configs``, samples JSONL with lm-eval's hashes).

Generation is lm-eval's own ``hf`` backend (``HFLM.generate_until`` on the task's requests, its
``max_gen_toks``) on the default model, timed on the first ``--sample`` documents and scaled to
the 2 x ``--texts`` continuations the comparison reads. Target: comparison <= 10% of generation.

    python benchmarks/bench_compare.py                           # 2 x 300 texts, 1,000 permutations
    python benchmarks/bench_compare.py --texts 20 --sample 2 --permutations 50 --model TINY   # a smoke run
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from record import add_model_arguments, record_head, resolve_model  # benchmarks/record.py

from hyperfit_tasks.chains.steps import DEFAULT_BATCH_SIZE as BATCH_SIZE
from hyperfit_tasks.common.atomic import write_json_atomic

TASK = "hyperfit_continuation_austen"
STAMP = "2026-01-01T00-00-00.000000"


def load_task(model_path: str):
    """The lm-eval task object, built as ``hyperfit-lm-eval --model_args pretrained=<model_path>`` builds it."""
    from lm_eval.tasks import TaskManager, get_task_dict

    from hyperfit_tasks.cli.tasks_path import task_configs_dir

    manager = TaskManager(include_path=task_configs_dir(), metadata={"pretrained": model_path})
    return get_task_dict([TASK], manager)[TASK]


def generation_seconds(task, model_path: str, sample: int, batch_size: int) -> tuple[float, int]:
    """Seconds lm-eval's ``hf`` backend takes for the first ``sample`` documents' requests (model loading excluded)."""
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model_path, batch_size=batch_size, device="cpu", dtype="float32")
    task.build_all_requests(limit=sample, rank=0, world_size=1)
    requests = [instance for instance in task.instances if instance.request_type == "generate_until"]
    start = time.perf_counter()
    lm.generate_until(requests)
    return time.perf_counter() - start, len(requests)


def write_run(folder: Path, task, docs: list[dict], continuations: list[str], model_name: str) -> None:
    """A results file and samples file of ``task`` as ``lm_eval --log_samples`` writes them, for these
    continuations."""
    from lm_eval.utils import hash_string

    items: dict[str, list] = {}
    records = []
    for doc_id, (doc, text) in enumerate(zip(docs, continuations)):
        metrics = task.process_results(doc, [text])
        prompt = task.doc_to_text(doc)
        records.append(
            {
                "doc_id": doc_id,
                "doc": doc,
                "target": doc["reference"],
                "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": task.config.generation_kwargs}},
                "resps": [[text]],
                "filtered_resps": [text],
                "filter": "none",
                "metrics": list(metrics),
                "doc_hash": hash_string(json.dumps(doc, indent=2, ensure_ascii=False)),
                "prompt_hash": hash_string(prompt),
                **metrics,
            }
        )
        for metric, item in metrics.items():
            items.setdefault(metric, []).append(item)
    aggregations = task.aggregation()
    entry = {"alias": TASK, "name": TASK, "sample_len": len(docs)}
    for metric, collected in items.items():
        entry[f"{metric},none"] = float(aggregations[metric](collected))
        entry[f"{metric}_stderr,none"] = "N/A"
    metric_list = [
        {key: (inspect.getsource(value) if callable(value) else value) for key, value in spec.items()}
        for spec in task.config.metric_list
    ]
    data = {
        "results": {TASK: entry},
        "configs": {
            TASK: {
                "task": TASK,
                "output_type": "generate_until",
                "generation_kwargs": task.config.generation_kwargs,
                "metric_list": metric_list,
                "metadata": task.config.metadata,
            }
        },
        "versions": {TASK: (task.config.metadata or {}).get("version")},
        "higher_is_better": {TASK: task.higher_is_better()},
        "n-samples": {TASK: {"original": len(docs), "effective": len(docs)}},
        "config": {"model": "hf", "model_args": f"pretrained={model_name}"},
        "model_name": model_name,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"results_{STAMP}.json").write_text(json.dumps(data, default=str))
    (folder / f"samples_{TASK}_{STAMP}.jsonl").write_text(
        "".join(json.dumps(record, default=str) + "\n" for record in records)
    )


def repeated_half(text: str) -> str:
    """The first half of ``text`` (by words) twice: real words, more repetition."""
    words = text.split()
    half = " ".join(words[: max(1, len(words) // 2)])
    return f"{half} {half}"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=300, help="documents per run (default 300)")
    parser.add_argument(
        "--sample", type=int, default=16, help="documents generated to time lm-eval's backend (default 16)"
    )
    parser.add_argument(
        "--permutations", type=int, default=1000, help="permutations of the paired test (default 1000)"
    )
    parser.add_argument("--mauve-permutations", type=int, help="MAUVE permutations (default: hyperfit-compare's)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=int(BATCH_SIZE),
        help=f"generation batch size (default {BATCH_SIZE}, as hyperfit-demo)",
    )
    add_model_arguments(parser, "compare_cost.json")
    parser.add_argument(
        "--report", type=Path, help="keep the two runs and the report here (default: a temporary folder)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from hyperfit_tasks.cli import compare as cli
    from hyperfit_tasks.compare.paired import DEFAULT_MAUVE_PERMUTATIONS

    resolve_model(args)
    args.mauve_permutations = args.mauve_permutations or DEFAULT_MAUVE_PERMUTATIONS
    task = load_task(args.model)
    docs = list(task.test_docs())[: args.texts]
    if len(docs) < args.texts:
        raise SystemExit(f"{TASK} has {len(docs)} documents, fewer than --texts {args.texts}")
    print(
        f"2 runs x {len(docs)} texts of {TASK}, {args.permutations} permutations (MAUVE {args.mauve_permutations}), "
        f"model {args.model}"
    )

    sample_s, sampled = generation_seconds(task, args.model, args.sample, args.batch_size)
    generation_s = sample_s / sampled * 2 * len(docs)
    print(
        f"  generation      {sample_s:8.2f} s for {sampled} texts -> {generation_s:8.1f} s for {2 * len(docs)} "
        "(scaled)"
    )

    with tempfile.TemporaryDirectory(prefix="bench-compare-") as temporary:
        work = args.report or Path(temporary)
        write_run(work / "a", task, docs, [doc["reference"] for doc in docs], "runs/a")
        write_run(work / "b", task, docs, [repeated_half(doc["reference"]) for doc in docs], "runs/b")
        argv = [
            str(work / "a"),
            str(work / "b"),
            "--out",
            str(work / "report"),
            "--permutations",
            str(args.permutations),
            "--mauve-permutations",
            str(args.mauve_permutations),
            "--format",
            "json",
        ]
        start = time.perf_counter()
        with open(os.devnull, "w") as null, _redirect_stdout(null):
            status = cli.main(argv)
        compare_s = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"hyperfit-compare failed with status {status}")
        report = json.loads((work / "report" / "table.json").read_text())
    ratio = compare_s / generation_s
    print(f"  comparison      {compare_s:8.2f} s  = {100 * ratio:5.1f}% of generation (target <= 10%)")
    payload = {
        **record_head(
            "compare_cost", args, ("torch", "transformers", "lm_eval", "mauve-text"), skip=("output", "report")
        ),
        "texts_per_run": len(docs),
        "generation_sample_s": round(sample_s, 3),
        "generation_sampled_texts": sampled,
        "generation_scaled_s": round(generation_s, 3),
        "compare_s": round(compare_s, 3),
        "ratio": round(ratio, 4),
        "tested_metrics": sum(len(by_run) for by_run in report["paired"].get(TASK, {}).values()),
        "paired": report["paired"].get(TASK, {}),
    }
    write_json_atomic(args.output, payload)
    print(f"wrote {args.output}")


def _redirect_stdout(target):
    from contextlib import redirect_stdout

    return redirect_stdout(target)


if __name__ == "__main__":
    main()
