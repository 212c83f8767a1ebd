"""Helpers shared by several test modules (not a test module): in-process lm-eval runs of the continuation
tasks on the tiny model, constructed lm-eval results files, and the tiny training recipe's arguments."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
from pathlib import Path

from hyperfit_tasks.cli.tasks_path import task_configs_dir

TASK_NAME = "my_continuation"
TEMPLATE = Path(task_configs_dir()) / "continuation" / "_continuation_template.yaml"


def write_continuation_task(folder: Path, texts: list[str]) -> Path:
    """Write ``my_continuation`` (the shipped continuation template on ``texts``) into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    (folder / f"{TASK_NAME}.yaml").write_text(
        f"task: {TASK_NAME}\ninclude: {TEMPLATE}\ndataset_kwargs:\n  data_files: {data}\n"
    )
    return folder


def evaluate(
    model: str,
    model_args: str,
    tasks: list[str],
    include_path: Path | None = None,
    metadata: dict | None = None,
    **kwargs,
) -> dict:
    """lm-eval's output for ``tasks`` (samples logged, no bootstrap); the token metrics and MAUVE
    use the evaluated model (``pretrained``) instead of the default model, and lm-eval's CLI
    merging of ``model_args`` into the task metadata is reproduced. Only our folder and ``include_path``
    are indexed, not lm-eval's ~14,000 task files (10-20 s per run here); the CLI tests index them."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from hyperfit_tasks.models.registry import register_models

    register_models()
    arguments = dict(pair.split("=", 1) for pair in model_args.split(","))
    scorers = {"metric_tokenizer": arguments["pretrained"], "mauve_featurizer": arguments["pretrained"]}
    include = [task_configs_dir(), *([str(include_path)] if include_path else [])]
    manager = TaskManager(
        include_path=include, include_defaults=False, metadata=scorers | arguments | (metadata or {})
    )
    settings = {"batch_size": 2, "device": "cpu", "bootstrap_iters": 0, "log_samples": True} | kwargs
    return lm_eval.simple_evaluate(model=model, model_args=model_args, tasks=tasks, task_manager=manager, **settings)


def continuations(output: dict, task: str) -> list[str]:
    """The generated continuations of ``task`` in document order."""
    samples = sorted(output["samples"][task], key=lambda sample: sample["doc_id"])
    return [sample["resps"][0][0] for sample in samples]


FIXTURES = Path(__file__).parent / "data" / "lm_eval_results"
REAL_RUNS = FIXTURES / "hyperfit_tasks"
OTHER_SETTINGS = FIXTURES / "other_settings"
STAMP = "2025-01-02T03-04-05.000006"


def results_dict(
    metrics,
    higher_is_better,
    model="/models/m",
    version=1.0,
    gen_kwargs=None,
    n_shot=0,
    lm_eval_version="0.4.13",
    limit=None,
):
    """A results JSON as lm-eval writes it: ``metrics`` = {task: {metric: value or (value, stderr)}}."""
    results, configs = {}, {}
    for task, values in metrics.items():
        entry = {"alias": task, "name": task, "sample_len": 10}
        for metric, value in values.items():
            value, stderr = value if isinstance(value, tuple) else (value, "N/A")
            entry[f"{metric},none"] = value
            entry[f"{metric}_stderr,none"] = stderr
        results[task] = entry
        configs[task] = {
            "task": task,
            "output_type": "generate_until",
            "generation_kwargs": gen_kwargs or {"until": [], "do_sample": False, "max_gen_toks": 256},
            "num_fewshot": n_shot,
            "metadata": {"version": version},
        }
    return {
        "results": results,
        "group_subtasks": {},
        "configs": configs,
        "versions": {task: version for task in metrics},
        "n-shot": {task: n_shot for task in metrics},
        "higher_is_better": {task: higher_is_better for task in metrics},
        "n-samples": {task: {"original": 10, "effective": 10} for task in metrics},
        "config": {"model": "hf", "model_args": f"pretrained={model}", "limit": limit},
        "lm_eval_version": lm_eval_version,
        "model_name": model,
    }


def write_results(folder: Path, data: dict, stamp: str = STAMP) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"results_{stamp}.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


HIB = {"acc": True, "ppl": False, "count": None}


BLOCK = 32


def tiny_argv(model, train, heldout, output_dir, *extra) -> list[str]:
    """The paper preset scaled to the tiny test model: 16 packed blocks of 32 tokens, batch 4, lr 1e-2.

    Packed blocks, because these tests check the packed token stream; tests/test_train_recipe.py covers prefix blocks.
    """
    return [
        "--model",
        str(model),
        "--data",
        str(train),
        "--eval_data",
        str(heldout),
        "--output_dir",
        str(output_dir),
        "--use_cpu",
        "--max_length",
        str(BLOCK),
        "--num_samples",
        "16",
        "--per_device_train_batch_size",
        "4",
        "--block_mode",
        "packed",
        "--learning_rate",
        "1e-2",
        "--num_train_epochs",
        "8",
        "--logging_steps",
        "3",
        "--disable_tqdm",
        "true",
        "--diagnostic_blocks",
        "4",
        "--diagnostic_prompts",
        "2",
        "--diagnostic_prompt_tokens",
        "8",
        "--diagnostic_new_tokens",
        "16",
        *extra,
    ]


def build_own_task(folder: Path, data_file: Path, metadata: dict):
    """Build ``my_continuation`` (our template + a local file) as lm-eval's task factory does."""
    from lm_eval.tasks._yaml_loader import load_yaml

    from hyperfit_tasks.tasks.continuation_task import ContinuationTask

    folder.mkdir(exist_ok=True)
    path = folder / "my_continuation.yaml"
    path.write_text(f"task: my_continuation\ninclude: {TEMPLATE}\ndataset_kwargs:\n  data_files: {data_file}\n")
    config = load_yaml(path, resolve_func=True)
    assert config["class"] is ContinuationTask
    return ContinuationTask(config=config | {"metadata": config["metadata"] | metadata})


# Environment of the multi-process evaluation tests: one thread per process, offline, accelerate on CPU.
ENV = dict(
    os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ACCELERATE_USE_CPU="true"
)


def same_number(a, b) -> bool:
    """Equal, with NaN equal to NaN (a corpus metric may be NaN in both runs)."""
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


def run_cli(capsys, argv) -> tuple[int, str]:
    """Exit code and the last stderr line; fails if a traceback was printed."""
    from hyperfit_train import cli

    code = cli.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()[-1]


def snapshot(folder) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path: proves a failed run changed nothing."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# Environment of the multi-process training tests: one thread per process, offline.
TRAIN_ENV = dict(
    os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"
)


def free_port() -> int:
    """A free TCP port on the loopback interface, for torch.distributed's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def save_constructed_llama(folder, tokenizer, embed, head, hidden: int = 32, eps: float = 1e-6) -> str:
    """Save a one-block Llama whose attention and MLP outputs are zeroed, so its final hidden state is
    RMSNorm(embedding): ``embed(weight)`` and ``head(weight)`` fill the zeroed embedding and lm_head
    matrices, which makes its next-token logits known in closed form."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        rms_norm_eps=eps,
        tie_word_embeddings=False,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.zero_()
        model.lm_head.weight.zero_()
        embed(model.model.embed_tokens.weight)
        head(model.lm_head.weight)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


CONTINUATION_METRICS = [
    "ttr", "ttr_last96", "ttr_first_window", "ttr_last_window", "ttr_by_position", "ttr_words",
    "rep_2", "rep_3", "rep_4", "diversity", "token_repetition", "longest_repeated_span",
    "continuation_tokens", "stopped_early", "distinct_1", "distinct_2", "distinct_3", "distinct_4",
    "self_bleu", "mauve",
]  # fmt: skip
PERPLEXITY_METRICS = ["word_perplexity", "byte_perplexity", "bits_per_byte"]


OWN_TASK, OWN_STAMP = "own_task", "2025-01-02T03-04-05.000006"


def write_own_run(folder: Path, items: dict[str, list]) -> Path:
    """A results file and samples of a user's task whose YAML lists ``items``' registered names without an aggregation
    (lm-eval then records the ``metric_list`` as written); values are the catalogue's aggregation of the items."""
    from lm_eval.api.registry import get_aggregation

    from hyperfit_tasks.metrics import catalogue

    entry = {"alias": OWN_TASK}
    for name, values in items.items():
        aggregation = catalogue.find(name).aggregation
        entry[f"{name},none"] = float(
            (get_aggregation(aggregation) if isinstance(aggregation, str) else aggregation)(values)
        )
        entry[f"{name}_stderr,none"] = "N/A"
    count = len(next(iter(items.values())))
    data = {
        "results": {OWN_TASK: entry},
        "configs": {
            OWN_TASK: {
                "task": OWN_TASK, "output_type": "generate_until", "metric_list": [{"metric": name} for name in items],
                "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": 64},
                "metadata": {"version": 1.0},
            }
        },
        "versions": {OWN_TASK: 1.0},
        "n-shot": {OWN_TASK: 0},
        "higher_is_better": {OWN_TASK: {name: catalogue.find(name).higher_is_better for name in items}},
        "n-samples": {OWN_TASK: {"original": count, "effective": count}},
        "config": {"model": "hf", "model_args": f"pretrained={folder}"},
        "lm_eval_version": "0.4.13",
        "model_name": str(folder),
    }  # fmt: skip
    folder.mkdir(parents=True)
    (folder / f"results_{OWN_STAMP}.json").write_text(json.dumps(data))
    records = [
        {
            "doc_id": i,
            "doc_hash": f"d{i}",
            "prompt_hash": f"h{i}",
            "filter": "none",
            **{name: values[i] for name, values in items.items()},
        }
        for i in range(count)
    ]
    (folder / f"samples_{OWN_TASK}_{OWN_STAMP}.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in records)
    )
    return folder
