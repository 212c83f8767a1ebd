"""Faults across the command-line tools: a table of bad inputs, interrupted writes, and security basics.

Every bad input must end with a non-zero exit status and exactly one ``<prog>: error: ...`` line on
stderr that names the problem, without a traceback (``--debug`` shows one instead); the two
documented warning cases of hyperfit-compare exit 0 with one warning line. The CLIs run
in-process through their ``main(argv)``. Cases already covered elsewhere are not repeated:
tests/test_train_errors.py (missing/empty data, missing column, unknown model, run-directory
guards, NaN from poisoned weights) and tests/test_compare.py (missing path, truncated/foreign/
binary JSON, names, unknown baseline/metric); SIGKILL + resume is in tests/test_train_resume_ddp.py.
"""

from __future__ import annotations

import ast
import builtins
import json
from pathlib import Path

import datasets  # noqa: F401  (its log handler keeps the sys.stderr of the moment of import: not a capsys one)
import pytest

import hyperfit_tasks.common.atomic as atomic
from hyperfit_tasks.cli import agreement
from hyperfit_tasks.cli import assets as assets_cli
from hyperfit_tasks.cli import compare as compare_cli
from hyperfit_tasks.cli import demo as demo_cli
from hyperfit_tasks.cli import lm_eval as lm_eval_cli
from hyperfit_tasks.cli import reproduce as reproduce_cli
from hyperfit_tasks.cli import temperature as temperature_cli
from hyperfit_train import cli as train_cli

from conftest import build_tiny_lm, write_corpus
from helpers import HIB, REAL_RUNS, results_dict, tiny_argv, write_results

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "task_configs" / "continuation" / "_continuation_template.yaml"
MAINS = {
    "hyperfit-train": train_cli.main,
    "hyperfit-compare": compare_cli.main,
    "hyperfit-agreement": agreement.main,
    "hyperfit-assets": assets_cli.main,
    "hyperfit-lm-eval": lm_eval_cli.main,
    "hyperfit-temperature": temperature_cli.main,
    "hyperfit-reproduce": reproduce_cli.main,
    "hyperfit-demo": demo_cli.main,
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_lm_path, english_text) -> dict[str, Path]:
    """Every bad (and good) file the table refers to, by name."""
    root = tmp_path_factory.mktemp("faults")
    train, heldout = write_corpus(root / "corpus", english_text)
    files = {"root": root, "lm": tiny_lm_path, "train": train, "heldout": heldout}

    def write(name: str, data: str | bytes) -> None:
        files[name] = root / name
        if isinstance(data, bytes):
            files[name].write_bytes(data)
        else:
            files[name].write_text(data)

    write("latin1.jsonl", '{"text": "caf\u00e9 au lait, '.encode("latin-1") + b"word " * 200 + b'"}\n')
    write("latin1.txt", "na\u00efve ".encode("latin-1") * 200)
    write("broken.jsonl", '{"text": "an unclosed object"\n')
    write("data.xyz", "text in a format no loader knows")
    write("recipe_list.yaml", "- learning_rate\n- 0.1\n")
    write("recipe_broken.yaml", "learning_rate: [0.1, 0.2\n")
    (root / "no_data_files").mkdir()
    files["no_data_files"] = root / "no_data_files"
    files["other_tokenizer_lm"] = build_tiny_lm(root / "other_lm", vocab_size=300)

    for name, metrics, version in (
        ("nan", {"t": {"acc": float("nan")}}, "0.4.13"),
        ("base", {"t": {"acc": 0.5}}, "0.4.13"),
        ("old", {"t": {"acc": 0.6}}, "0.4.9"),
    ):
        files[f"results_{name}"] = write_results(
            root / "results" / name, results_dict(metrics, HIB, model=f"/m/{name}", lm_eval_version=version)
        )
    no_results = results_dict({"t": {"acc": 0.5}}, HIB)
    no_results["results"] = {}
    files["results_none"] = write_results(root / "results" / "none", no_results)
    write("results_empty.json", "")
    write("bodies.jsonl", json.dumps({"body": "word " * 80}) + "\n")
    write("short.jsonl", json.dumps({"text": "only four words here"}) + "\n")

    (root / "tasks").mkdir()
    (root / "tasks" / "missing_data.yaml").write_text(
        f"task: missing_data\ninclude: {TEMPLATE}\ndataset_kwargs:\n  data_files: {root / 'absent.jsonl'}\n"
    )
    files["tasks"] = root / "tasks"
    return files


def train(f, *extra, data="train"):
    return tiny_argv(f["lm"], f[data], f["heldout"], f["root"] / "out", *extra)


def custom_task_argv(f, **metadata):
    """``hyperfit_continuation_custom`` with its texts named in ``--metadata`` (no --include_path: the wrapper adds
    ours)."""
    return [
        "--model",
        "hf",
        "--model_args",
        f"pretrained={f['lm']}",
        "--device",
        "cpu",
        "--tasks",
        "hyperfit_continuation_custom",
        "--limit",
        "2",
        "--metadata",
        json.dumps(metadata),
    ]


def lm_eval_argv(f, *extra):
    return [
        "--model",
        "hf",
        "--model_args",
        f"pretrained={f['lm']}",
        "--device",
        "cpu",
        "--include_path",
        str(f["tasks"]),
        "--tasks",
        "missing_data",
        "--limit",
        "2",
        *extra,
    ]


# (id, program, argv from the inputs, exit status, text the one error (or warning) line must contain)
CASES = [
    (
        "train: jsonl with non-UTF-8 bytes",
        "hyperfit-train",
        lambda f: train(f, data="latin1.jsonl"),
        1,
        "is not UTF-8 text (byte 13): convert it to UTF-8",
    ),
    (
        "train: txt with non-UTF-8 bytes",
        "hyperfit-train",
        lambda f: train(f, data="latin1.txt"),
        1,
        "is not UTF-8 text (byte 2)",
    ),
    (
        "train: invalid JSON line",
        "hyperfit-train",
        lambda f: train(f, data="broken.jsonl"),
        1,
        "cannot load training data",
    ),
    (
        "train: unsupported extension",
        "hyperfit-train",
        lambda f: train(f, data="data.xyz"),
        1,
        "has an unsupported extension: use .txt",
    ),
    (
        "train: folder without data files",
        "hyperfit-train",
        lambda f: train(f, data="no_data_files"),
        1,
        "doesn't contain any data files",
    ),
    (
        "train: unknown preset",
        "hyperfit-train",
        lambda f: train(f, "--preset", "nope"),
        1,
        "unknown preset 'nope': choose one of paper, demo",
    ),
    (
        "train: missing config file",
        "hyperfit-train",
        lambda f: train(f, "--config", str(f["root"] / "absent.yaml")),
        1,
        "config file not found",
    ),
    (
        "train: config not YAML",
        "hyperfit-train",
        lambda f: train(f, "--config", str(f["recipe_broken.yaml"])),
        1,
        "is not valid YAML",
    ),
    (
        "train: config not a mapping",
        "hyperfit-train",
        lambda f: train(f, "--config", str(f["recipe_list.yaml"])),
        1,
        "must hold a YAML mapping",
    ),
    (
        "train: block of 1 token",
        "hyperfit-train",
        lambda f: train(f, "--max_length", "1"),
        1,
        "--max_length sets the training block length",
    ),
    (
        "train: zero samples",
        "hyperfit-train",
        lambda f: train(f, "--num_samples", "0"),
        1,
        "--num_samples must be >= 1, got 0",
    ),
    (
        "train: EOS not in vocabulary",
        "hyperfit-train",
        lambda f: train(f, "--eos_token", "<nope>"),
        1,
        "--eos_token '<nope>' is not in the tokenizer's vocabulary",
    ),
    (
        "train: not a number",
        "hyperfit-train",
        lambda f: train(f, "--learning_rate", "fast"),
        2,
        "invalid float value: 'fast' (see hyperfit-train --help)",
    ),
    ("train: misspelt option", "hyperfit-train", lambda f: train(f, "--num_sampl", "4"), 1, "'--num_sampl', '4'"),
    (
        "train: NaN learning rate",
        "hyperfit-train",
        lambda f: train(f, "--learning_rate", "nan"),
        1,
        "--learning_rate must be a finite number >= 0, got nan",
    ),
    (
        "compare: NaN in results (warning)",
        "hyperfit-compare",
        lambda f: [str(f["results_nan"])],
        0,
        "t/acc recorded as NaN, shown empty",
    ),
    (
        "compare: other lm-eval version (warning)",
        "hyperfit-compare",
        lambda f: [str(f["results_base"]), str(f["results_old"])],
        0,
        'lm_eval_version differs: "0.4.13" in base; "0.4.9" in old',
    ),
    (
        "compare: results without results",
        "hyperfit-compare",
        lambda f: [str(f["results_none"])],
        1,
        "holds no task results",
    ),
    (
        "compare: empty results file",
        "hyperfit-compare",
        lambda f: [str(f["results_empty.json"])],
        1,
        "is not valid JSON",
    ),
    ("compare: unknown task", "hyperfit-compare", lambda f: [str(f["results_base"]), "--tasks", "nope"], 1, "nope"),
    (
        "compare: negative --examples",
        "hyperfit-compare",
        lambda f: [str(REAL_RUNS), "--examples", "-1"],
        1,
        "--examples must be >= 0, got -1",
    ),
    (
        "compare: unknown option",
        "hyperfit-compare",
        lambda f: [str(REAL_RUNS), "--bogus"],
        2,
        "unrecognized arguments: --bogus",
    ),
    (
        "reproduce: zero scale",
        "hyperfit-reproduce",
        lambda f: ["--model", str(f["lm"]), "--scale", "0", "--output-dir", str(f["root"] / "rep")],
        1,
        "--scale must be > 0, got 0.0: 1 is the default size",
    ),
    (
        "demo: sizes not numbers",
        "hyperfit-demo",
        lambda f: ["--train-samples", "abc", "--output-dir", str(f["root"] / "demo")],
        1,
        "--train-samples must be comma-separated whole numbers of blocks, got 'abc': e.g. 8,48",
    ),
    (
        "demo: zero documents",
        "hyperfit-demo",
        lambda f: ["--limit", "0", "--output-dir", str(f["root"] / "demo")],
        1,
        "--limit must be >= 1 evaluation document per domain, got 0",
    ),
    (
        "demo: limit not a number",
        "hyperfit-demo",
        lambda f: ["--limit", "many"],
        2,
        "invalid int value: 'many' (see hyperfit-demo --help)",
    ),
    (
        "agreement: missing data file",
        "hyperfit-agreement",
        lambda f: [str(f["lm"]), str(f["lm"]), "--data", str(f["root"] / "absent.jsonl")],
        1,
        "data file not found",
    ),
    (
        "agreement: missing model folder",
        "hyperfit-agreement",
        lambda f: [str(f["lm"]), str(f["root"] / "no_model"), "--data", str(f["heldout"])],
        1,
        "model folder not found",
    ),
    (
        "agreement: different tokenizers",
        "hyperfit-agreement",
        lambda f: [str(f["lm"]), str(f["other_tokenizer_lm"]), "--data", str(f["heldout"])],
        1,
        "do not share a tokenizer",
    ),
    (
        "agreement: block of 1 token",
        "hyperfit-agreement",
        lambda f: [str(f["lm"]), str(f["lm"]), "--data", str(f["heldout"]), "--block-size", "1"],
        1,
        "--block-size must be >= 2",
    ),
    (
        "agreement: non-UTF-8 data",
        "hyperfit-agreement",
        lambda f: [str(f["lm"]), str(f["lm"]), "--data", str(f["latin1.txt"])],
        1,
        "is not UTF-8 text (byte 2): convert it to UTF-8",
    ),
    (
        "temperature: missing data file",
        "hyperfit-temperature",
        lambda f: [str(f["lm"]), str(f["lm"]), "--data", str(f["root"] / "absent.jsonl")],
        1,
        "data file not found",
    ),
    (
        "temperature: missing model folder",
        "hyperfit-temperature",
        lambda f: [str(f["lm"]), str(f["root"] / "no_model"), "--data", str(f["heldout"])],
        1,
        "model folder not found",
    ),
    ("assets: unknown option", "hyperfit-assets", lambda f: ["--sampel"], 2, "unrecognized arguments: --sampel"),
    (
        "lm-eval task: data file missing",
        "hyperfit-lm-eval",
        lambda f: lm_eval_argv(f),
        1,
        "does not exist: fix data_files (in --metadata or dataset_kwargs)",
    ),
    (
        "custom task: data file missing",
        "hyperfit-lm-eval",
        lambda f: custom_task_argv(f, data_files=str(f["root"] / "absent.jsonl")),
        1,
        "absent.jsonl does not exist: fix data_files (in --metadata or dataset_kwargs)",
    ),
    (
        "custom task: wrong column",
        "hyperfit-lm-eval",
        lambda f: custom_task_argv(f, data_files=str(f["bodies.jsonl"]), text_field="story"),
        1,
        "has no column 'story' (columns: body): set text_field",
    ),
    (
        "custom task: texts too short",
        "hyperfit-lm-eval",
        lambda f: custom_task_argv(f, data_files=str(f["short.jsonl"])),
        1,
        "no usable text in",
    ),
    (
        "custom task: no text source",
        "hyperfit-lm-eval",
        lambda f: custom_task_argv(f),
        1,
        "give exactly one text source (corpus, data_files or dataset), got none",
    ),
]


def run_main(program: str, argv: list, capsys) -> tuple[int, str]:
    """(exit status, stderr) of one CLI's ``main`` called in-process."""
    import logging

    import lm_eval.utils

    # lm-eval adds its log handler once per process, on the stderr of that moment (an earlier
    # test's capsys stream): drop it so that this run's setup_logging binds the current stderr
    for handler in list(logging.getLogger("lm_eval").handlers):
        logging.getLogger("lm_eval").removeHandler(handler)
    lm_eval.utils._LOGGING_CONFIGURED = False
    try:
        code = MAINS[program]([str(arg) for arg in argv])
    except SystemExit as exit:  # argparse usage errors
        code = exit.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case, program, make_argv, status, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gives_one_line_and_no_traceback(case, program, make_argv, status, expected, inputs, capsys):
    code, err = run_main(program, make_argv(inputs), capsys)
    assert code == status, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    kind = "warning" if status == 0 else "error"
    lines = [line for line in err.splitlines() if line.startswith(f"{program}: {kind}: ")]
    assert len(lines) == 1 and expected in lines[0], err[-2000:]
    if status:  # the error is the last thing said
        assert err.strip().splitlines()[-1] == lines[0]


def test_table_is_large_and_spans_every_tool():
    assert len(CASES) >= 20 and {program for _, program, *_ in CASES} == set(MAINS)


@pytest.mark.parametrize(
    "program, make_argv, error",
    [
        (
            "hyperfit-agreement",
            lambda f: [str(f["lm"]), str(f["lm"]), "--data", str(f["root"] / "absent.jsonl"), "--debug"],
            agreement.AgreementError,
        ),
        ("hyperfit-lm-eval", lambda f: lm_eval_argv(f, "--debug"), FileNotFoundError),
    ],
    ids=["agreement", "lm-eval"],
)
def test_debug_raises_the_error_with_its_traceback(program, make_argv, error, inputs):
    with pytest.raises(error):
        MAINS[program](make_argv(inputs))


# ---------------------------------------------------------------- interrupted writes


class InterruptedWrite:
    """A file handle whose first ``write`` puts half of the data on disk, then raises ``KeyboardInterrupt``
    (Ctrl-C)."""

    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self.handle, name)


def interrupt_writes_of(monkeypatch, suffix: str) -> list[Path]:
    """Make the atomic writer's temporary ``*.tmp<suffix>`` files stop half-written; returns the files it touched."""
    touched = []

    def opener(file, mode="r", *args, **kwargs):
        handle = builtins.open(file, mode, *args, **kwargs)
        if "w" in mode and Path(file).name.endswith(f".tmp{suffix}"):
            touched.append(Path(file))
            return InterruptedWrite(handle)
        return handle

    monkeypatch.setattr(atomic, "open", opener, raising=False)
    return touched


def test_compare_interrupted_mid_write_keeps_the_previous_file_whole(tmp_path, monkeypatch, capsys):
    report = tmp_path / "report"
    assert compare_cli.main([str(REAL_RUNS), "--out", str(report), "--metrics", "word_perplexity"]) == 0
    before = {path: path.read_bytes() for path in report.rglob("*") if path.is_file()}
    touched = interrupt_writes_of(monkeypatch, ".csv")
    assert compare_cli.main([str(REAL_RUNS), "--out", str(report), "--metrics", "ttr"]) == 130
    assert "hyperfit-compare: interrupted" in capsys.readouterr().err
    assert len(touched) == 1  # table.md was written, the interrupt hit table.csv half-way
    after = {path: path.read_bytes() for path in report.rglob("*") if path.is_file()}
    assert after.keys() == before.keys()  # no temporary file left behind
    assert after[report / "table.csv"] == before[report / "table.csv"]
    assert after[report / "table.md"] != before[report / "table.md"] and b"ttr" in after[report / "table.md"]


def test_agreement_interrupted_mid_write_keeps_the_previous_json(inputs, tmp_path, monkeypatch, capsys):
    target = tmp_path / "agreement.json"
    target.write_text('{"previous": true}\n')
    touched = interrupt_writes_of(monkeypatch, ".json")
    argv = [
        str(inputs["lm"]),
        str(inputs["lm"]),
        "--data",
        str(inputs["heldout"]),
        "--block-size",
        "16",
        "--limit",
        "2",
        "--json",
        str(target),
    ]
    assert agreement.main(argv) == 130
    assert "hyperfit-agreement: interrupted" in capsys.readouterr().err
    assert len(touched) == 1 and json.loads(target.read_text()) == {"previous": True}
    assert [path.name for path in tmp_path.iterdir()] == ["agreement.json"]


def test_demo_writes_no_files_itself():
    """hyperfit-demo only runs the other commands (whose writes are tested above); it opens no file of its own."""
    tree = ast.parse((ROOT / "hyperfit_tasks" / "cli" / "demo.py").read_text())
    called = {_call_name(node) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not called & {
        "open",
        "write_text",
        "write_bytes",
        "write_atomic",
        "write_json_atomic",
        "json.dump",
        "savefig",
    }


# ---------------------------------------------------------------- security basics


def _call_name(node: ast.Call) -> str:
    """``torch.load`` / ``open`` / ``path.write_text`` -> the dotted name (attribute chain) of a call."""
    parts, target = [], node.func
    while isinstance(target, ast.Attribute):
        parts.append(target.attr)
        target = target.value
    if isinstance(target, ast.Name):
        parts.append(target.id)
    return ".".join(reversed(parts))


def package_sources() -> list[Path]:
    return sorted(
        path for folder in ("hyperfit_train", "hyperfit_tasks", "benchmarks") for path in (ROOT / folder).rglob("*.py")
    )


def test_no_remote_code_or_pickled_weights_in_the_code():
    assert len(package_sources()) > 30
    for path in package_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.keyword) and node.arg in (
                "trust_remote_code",
                "safe_serialization",
                "use_safetensors",
            ):
                unsafe = node.arg == "trust_remote_code"  # True is unsafe for it, False for the two safetensors flags
                constant = node.value.value if isinstance(node.value, ast.Constant) else None
                assert constant is not unsafe, f"{where}: hard-coded {node.arg}={constant}"
            if isinstance(node, ast.Call):
                name = _call_name(node)
                assert name not in ("pickle.load", "pickle.loads", "joblib.load"), f"{where}: {name}"
                if name == "torch.load":
                    flags = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
                    assert flags.get("weights_only") is True, f"{where}: torch.load without weights_only=True"
    for config in (ROOT / "task_configs").rglob("*.yaml"):
        assert "trust_remote_code" not in config.read_text(), config


def test_trust_remote_code_only_when_the_user_passes_it(tiny_lm_path):
    from hyperfit_train.config import parse_args
    from hyperfit_train.trainer import _set_model_init_kwargs

    for extra, expected in (([], False), (["--trust_remote_code", "true"], True)):
        _, training_args, model_args = parse_args(["--model", str(tiny_lm_path), *extra])
        _set_model_init_kwargs(training_args, model_args)
        assert (
            training_args.trust_remote_code is expected
            and training_args.model_init_kwargs["trust_remote_code"] is expected
        )


def test_trained_weights_are_safetensors(inputs, tmp_path):
    output_dir = tmp_path / "run"
    argv = tiny_argv(
        inputs["lm"],
        inputs["train"],
        inputs["heldout"],
        output_dir,
        "--num_train_epochs",
        "1",
        "--diagnostics",
        "false",
    )
    assert train_cli.main(argv) == 0
    for folder in (output_dir, output_dir / "checkpoint-4"):
        names = {path.name for path in folder.iterdir()}
        assert "model.safetensors" in names and not any(
            name.endswith((".bin", ".pt", ".pth")) and "model" in name for name in names
        ), names


def test_run_command_turns_errors_and_interrupts_into_exit_codes(capsys):
    from hyperfit_tasks.common.errors import HyperfitError, run_command

    def fail(error):
        def work():
            raise error

        return work

    assert run_command("tool", lambda: None, debug=False) == 0 and run_command("tool", lambda: 3, debug=False) == 3
    assert run_command("tool", fail(KeyboardInterrupt()), debug=False, interrupted="interrupted: run it again") == 130
    assert capsys.readouterr().err == "tool: interrupted: run it again\n"
    assert run_command("tool", fail(HyperfitError("no file x.jsonl: pass --data")), debug=False) == 1
    assert capsys.readouterr().err == "tool: error: no file x.jsonl: pass --data\n"
    assert run_command("tool", fail(ValueError("first line\nsecond line")), debug=False) == 1
    assert capsys.readouterr().err == "tool: error: ValueError: first line (run with --debug for the traceback)\n"
    assert run_command("tool", fail(ValueError("x")), debug=False, report=lambda error: False) == 1
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="shown"):
        run_command("tool", fail(ValueError("shown")), debug=True)


def test_a_full_disk_is_named_with_its_fix(capsys):
    """A write that fails for lack of space (Linux's /dev/full always does) is one line saying so and what to do, both
    when Python reports it (ENOSPC) and when torch's checkpoint writer does (its ``unexpected pos`` message)."""
    import torch

    from hyperfit_tasks.common.errors import run_command

    def python_write():
        with open("/dev/full", "w") as sink:
            sink.write("x")

    def torch_save():
        torch.save({"weights": torch.zeros(1000)}, "/dev/full")

    fix = (
        "a write failed midway, most likely a full disk: free space where this command writes (df -h), "
        "then run it again"
    )
    for work, start in (
        (python_write, "OSError: [Errno 28] No space left on device"),
        (torch_save, "RuntimeError: [enforce"),
    ):
        assert run_command("tool", work, debug=False) == 1
        error = capsys.readouterr().err
        assert error.startswith(f"tool: error: {start}") and fix in error and error.count("\n") == 1
    assert run_command("tool", lambda: int("x"), debug=False) == 1  # any other error keeps the --debug hint
    assert "full disk" not in capsys.readouterr().err
