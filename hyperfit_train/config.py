"""Configuration of ``hyperfit-train``: argument dataclasses, named presets, and the parser.

As in TRL's own scripts, every option lives in a dataclass with a help string and is parsed by
:class:`trl.TrlParser`, so ``--help``, a YAML ``--config`` file and Python share one source. Three
dataclasses are parsed together: :class:`HyperfitArguments` (data, diagnostics, run handling),
:class:`trl.SFTConfig` (every training option) and :class:`HyperfitModelConfig` (TRL's
``ModelConfig``: model, dtype, LoRA).

Values are resolved in this order, later winning: the dataclass defaults, the chosen preset
(``--preset``, default ``paper``), the ``--config`` YAML file, the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from trl import ModelConfig, SFTConfig, TrlParser

from hyperfit_tasks.common.errors import HyperfitError, OneLineUsageErrors, first_line
from hyperfit_tasks.common.precision import BF16_OVERRIDE, PRECISIONS, bf16_support, resolve_precision
from hyperfit_train.layers import parse_train_layers

DEFAULT_PRESET = "paper"
DATA_ORDERS = {"shuffled": "random", "fixed": "sequential"}  # data_order -> Trainer train_sampling_strategy


@dataclass(frozen=True)
class Preset:
    """A named recipe: option values (fields of any dataclass in :data:`DATACLASSES`) plus notes on uncertain
    values."""

    name: str
    summary: str
    values: dict[str, Any]
    uncertain: dict[str, str] = field(default_factory=dict)

    def derive(self, name: str, summary: str, **changes: Any) -> "Preset":
        """A new preset equal to this one except for ``changes``."""
        return Preset(name, summary, {**self.values, **changes}, dict(self.uncertain))


PAPER = Preset(
    name="paper",
    summary="The paper's recipe: 2,000 blocks of 256 tokens, 20 epochs, Adam lr 1e-6, no weight decay, batch 8, "
    "constant lr.",
    values={
        "num_samples": 2000,
        "max_length": 256,
        "block_mode": "prefix",
        "target_loss": 0.1,
        "num_train_epochs": 20,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1e-6,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "optim": "adamw_torch",
        "adam_beta1": 0.9,
        "adam_beta2": 0.999,
        "adam_epsilon": 1e-8,
        "max_grad_norm": 0.0,
        "dtype": "float32",
        "precision": "fp32",
        "bf16": False,
        "fp16": False,
        "gradient_checkpointing": False,
        "data_order": "shuffled",
        "seed": 42,
        "save_strategy": "epoch",
        "save_every_epochs": 1,
        "save_total_limit": 2,
        "logging_steps": 10,
        "logging_nan_inf_filter": False,
        "output_dir": "runs/hyperfit-paper",
        "per_device_eval_batch_size": 8,
        "diagnostic_blocks": 128,
        "diagnostic_prompts": 32,
        "diagnostic_prompt_tokens": 32,
        "diagnostic_new_tokens": 224,
        "diagnostic_generation_every": 1,
    },
    uncertain={
        "learning_rate": "paper: Adam lr 1e-6; the authors' public code: AdamW lr 5e-6",
        "optim": "paper: Adam, no weight decay (= adamw_torch with weight_decay 0); authors' code: AdamW with torch's "
        "default weight decay 0.01",
        "lr_scheduler_type": "not stated in the paper; the authors' code uses no schedule (constant)",
        "max_grad_norm": "not stated; the authors' code does not clip gradients (0 = no clipping)",
        "num_train_epochs": "paper: 20; the authors' code defaults to 30",
        "dtype": "precision not stated; the authors' code loads the model in float32",
        "data_order": "the authors' code reshuffles every epoch; the paper reports shuffling changes ~30% of top-1 "
        "predictions",
        "max_length": "paper: 2,000 sequences of 256 tokens; the authors' code takes the first 256 tokens of texts at "
        "least that long (no EOS), as --block_mode prefix does; --block_mode packed instead cuts the EOS-joined text "
        "into 256-token blocks",
        "target_loss": "the paper trains to 'near-zero' training loss without a number; 0.1 is hyperfit's reading "
        "(the demo reaches 0.05)",
    },
)

DEMO = PAPER.derive(
    "demo",
    "The paper's recipe scaled to 2 CPU cores: 64 blocks of 128 tokens, 10 epochs, lr 3e-4 so the loss still nears "
    "zero, bf16 where the hardware has it.",
    num_samples=64,
    precision="auto",
    max_length=128,
    num_train_epochs=10,
    learning_rate=3e-4,
    logging_steps=1,
    save_every_epochs=5,
    save_total_limit=1,
    output_dir="runs/hyperfit-demo",
    per_device_eval_batch_size=4,
    diagnostic_blocks=8,
    diagnostic_prompts=4,
    diagnostic_new_tokens=96,
    diagnostic_generation_every=10,
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (PAPER, DEMO)}


@dataclass
class HyperfitArguments:
    """Options of ``hyperfit-train`` beyond TRL's ``SFTConfig`` and ``ModelConfig``: data, loss head, diagnostics, run
    handling."""

    preset: str = field(
        default=DEFAULT_PRESET,
        metadata={
            "help": "Named recipe whose values become the defaults (docs/training.md): "
            + "; ".join(f"'{preset.name}': {preset.summary.rstrip('.')}" for preset in PRESETS.values())
        },
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "Training text: a local .txt/.jsonl/.json/.parquet/.csv file or folder, or a Hugging Face Hub "
            "dataset id. Default: the embedded Jane Austen training split (hyperfit-assets). The text column is "
            "--dataset_text_field (default 'text'); a .txt file is read as one document."
        },
    )
    data_config: str | None = field(
        default=None, metadata={"help": "Configuration name of a Hub dataset given as --data."}
    )
    data_split: str = field(
        default="train", metadata={"help": "Split of --data to read (local files have only 'train')."}
    )
    num_samples: int = field(
        default=2000,
        metadata={
            "help": "Number of training blocks (of --max_length tokens each) sampled from the tokenized text. If the "
            "text holds fewer blocks (with --block_mode prefix: fewer texts of at least --max_length tokens), all are "
            "used and a warning says so."
        },
    )
    block_mode: str = field(
        default="prefix",
        metadata={
            "help": "Shape of the training blocks: 'prefix' (the authors' code: the first --max_length tokens of "
            "every text at least that long, with the tokenizer's usual leading special tokens and no EOS; shorter "
            "texts are dropped) or 'packed' (every text tokenized with EOS after it, joined and cut into consecutive "
            "blocks, as run_clm and TRL's wrapped packing). docs/training.md says when to use which.",
            "choices": ["prefix", "packed"],
        },
    )
    sample_seed: int | None = field(
        default=None, metadata={"help": "Seed for sampling the training blocks. Default: --seed."}
    )
    data_order: str | None = field(
        default=None,
        metadata={
            "help": "Order of the training blocks: 'shuffled' (reshuffled every epoch, the Trainer's random sampler) "
            "or 'fixed' (the same order every epoch). Sets --train_sampling_strategy (random / sequential).",
            "choices": ["shuffled", "fixed"],
        },
    )
    eval_data: str | None = field(
        default=None,
        metadata={
            "help": "Held-out text for the per-epoch diagnostics, in the same forms as --data. Default: with --data, "
            "the last tenth of its blocks (at most --diagnostic_blocks), cut off before the training blocks are "
            "sampled; without --data, the embedded Jane Austen held-out split."
        },
    )
    eval_text_field: str | None = field(
        default=None,
        metadata={
            "help": "Column of --eval_data that holds the text. Default: --dataset_text_field (the training text "
            "column) for your own --eval_data, 'text' for the embedded Jane Austen held-out split."
        },
    )
    eval_data_config: str | None = field(
        default=None, metadata={"help": "Configuration name of a Hub dataset given as --eval_data."}
    )
    eval_data_split: str = field(default="train", metadata={"help": "Split of --eval_data to read."})
    diagnostics: bool = field(
        default=True,
        metadata={
            "help": "Measure held-out loss, sharpness and greedy continuations before training and after every epoch."
        },
    )
    diagnostic_blocks: int = field(
        default=128,
        metadata={
            "help": "Held-out blocks (of --max_length tokens, evenly spaced through --eval_data) for loss, perplexity "
            "and sharpness."
        },
    )
    diagnostic_prompts: int = field(
        default=32, metadata={"help": "Held-out prompts continued greedily at every diagnostic point (0: none)."}
    )
    diagnostic_prompt_tokens: int = field(
        default=32, metadata={"help": "Prompt length in tokens (the first tokens of a held-out block)."}
    )
    diagnostic_new_tokens: int = field(
        default=224,
        metadata={"help": "Tokens generated greedily per prompt (TTR, last-96 TTR and rep-4 are measured on them)."},
    )
    diagnostic_generation_every: int = field(
        default=1,
        metadata={
            "help": "Greedy continuations (TTR, rep-4) every N epochs, before training and after the last epoch; the "
            "held-out loss, perplexity and sharpness are measured every epoch (generation is most of a diagnostic "
            "point's time)."
        },
    )
    loss_head: str = field(
        default="full",
        metadata={
            "help": "How the training loss is computed: 'full' (the model's own cross-entropy on the full logits, as "
            "a plain PyTorch loop; logs mean_token_accuracy) or 'fused' (TRL's tiled LM head, which never holds the "
            "(batch, length, vocabulary) logits and also logs entropy; for long sequences with large vocabularies). "
            "Both give the same loss and gradients up to float rounding (docs/training.md).",
            "choices": ["full", "fused"],
        },
    )
    train_layers: str | None = field(
        default=None,
        metadata={
            "help": "Train only part of the model: 'last:K' gives gradients to the last K transformer blocks, the "
            "final norm and the LM head (a head tied to the input embeddings stays frozen) and freezes the rest; with "
            "--use_peft, LoRA adapters go into those K blocks only. Default: the whole model."
        },
    )
    target_loss: float = field(
        default=0.1,
        metadata={
            "help": "Near-zero training loss that counts as hyperfitted: the run ends by comparing its final epoch's "
            "training loss with it and warns (with the likely fix) when it was not reached."
        },
    )
    early_stop_loss: float | None = field(
        default=None,
        metadata={"help": "Stop training once a logged training loss falls below this value (default: never)."},
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue the unfinished run in --output_dir from its last complete checkpoint (half-written "
            "checkpoints are skipped and removed). Starts the run if there is none; does nothing if it finished."
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Delete the run already in --output_dir (a different or finished one) and train from scratch."
        },
    )
    keep_early_stopped: bool = field(
        default=True,
        metadata={
            "help": "Keep the model of the trained epoch with the lowest held-out loss in <output_dir>/early_stopped/ "
            "(a model folder to score like any checkpoint): the early-stopped fine-tune, the control for "
            "hyperfitting. Needs --diagnostics; costs one model save per new lowest loss."
        },
    )
    precision: str = field(
        default="fp32",
        metadata={
            "help": "Training precision: 'fp32', 'bf16' (mixed precision: bf16 matrix multiplies, float32 master "
            "weights and optimizer state, as --bf16 true), or 'auto' (bf16 where the hardware multiplies bf16 "
            "natively: AMX-BF16 or AVX512-BF16 CPUs, bf16 GPUs; else fp32). bf16 without that hardware is an error "
            f"(torch would emulate it, slower than fp32); {BF16_OVERRIDE}=1/0 overrides the detection. Presets: paper "
            "fp32, demo auto. The run record and model card say which precision ran.",
            "choices": list(PRECISIONS),
        },
    )
    save_every_epochs: int = field(
        default=1,
        metadata={
            "help": "With --save_strategy epoch: write a checkpoint (weights, optimizer state, RNG) every this many "
            "epochs and after the last epoch, so --resume loses at most this many epochs. Presets: paper 1, demo 5."
        },
    )


@dataclass
class HyperfitModelConfig(ModelConfig):
    """TRL's ``ModelConfig`` with ``--model`` as a short alias of ``--model_name_or_path``."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Base model: a local folder or a Hugging Face Hub id. Default: the embedded SmolLM2-135M-Instruct "
            "(hyperfit-assets).",
            "aliases": ["--model"],
        },
    )


DATACLASSES = (HyperfitArguments, SFTConfig, HyperfitModelConfig)


class HyperfitParser(OneLineUsageErrors, TrlParser):
    """TRL's parser with one-line usage errors."""


# --help: hyperfit's own options first, under their own heading and in this order; then TRL's model
# options, then the inherited SFTConfig / TrainingArguments options (every name and default unchanged)
HYPERFIT_OPTIONS = (
    "model_name_or_path", "data", "dataset_text_field", "data_config", "data_split", "max_length", "num_samples",
    "sample_seed", "data_order", "preset", "precision", "output_dir", "resume", "overwrite", "save_every_epochs",
    "keep_early_stopped", "loss_head", "early_stop_loss",
    "diagnostics", "eval_data", "eval_text_field", "eval_data_config", "eval_data_split", "diagnostic_blocks",
    "diagnostic_prompts", "diagnostic_prompt_tokens", "diagnostic_new_tokens", "diagnostic_generation_every",
)  # fmt: skip
HELP_HEADINGS = (
    (
        "hyperfit options",
        "What to train, on which text, and what to measure. --config FILE.yaml reads option values from a YAML file.",
    ),
    ("model loading and LoRA (TRL ModelConfig)", None),
    ("training options (TRL SFTConfig and transformers TrainingArguments)", None),
)
# inherited help that contradicts what the option means in hyperfit-train
HELP_CORRECTIONS = {
    "max_length": "Block length in tokens: the training text is cut into blocks of exactly this many tokens (presets: "
    f"paper {PAPER.values['max_length']}, demo {DEMO.values['max_length']}); the held-out diagnostic blocks have the "
    "same length.",
    "bf16": "Train in bf16 mixed precision instead of 32-bit: the same as --precision bf16 (an error without hardware "
    "bf16 support). The presets set it to False (float32, as the authors' code); TRL's own default would turn it on "
    "when --fp16 is not set.",
}
USAGE = "%(prog)s [--model MODEL] [--data DATA] [--preset {" + ",".join(PRESETS) + "}] [--config FILE.yaml] [options]"


def make_parser(prog: str = "hyperfit-train") -> TrlParser:
    """The TRL parser over :data:`DATACLASSES` (no preset applied; a misspelt option is an error, not an
    abbreviation)."""
    parser = HyperfitParser(
        DATACLASSES,
        prog=prog,
        usage=USAGE,
        description="Hyperfit a causal language model (TRL SFTTrainer) and measure the sharpening while it trains.",
        allow_abbrev=False,
    )
    group_help(parser)
    return parser


def group_help(parser: argparse.ArgumentParser) -> None:
    """Move the parsed options into the :data:`HELP_HEADINGS` argument groups and apply :data:`HELP_CORRECTIONS`.

    Only ``--help`` changes: parsing goes through ``parser._actions``, which keeps every option as it was.
    """
    ours, model, training = (parser.add_argument_group(title, description) for title, description in HELP_HEADINGS)
    model_fields = {item.name for item in dataclasses.fields(HyperfitModelConfig)}
    actions = list(parser._optionals._group_actions)  # a bool defaulting to True has two: --x and --no_x
    for action in actions:
        if action.dest in HELP_CORRECTIONS and action.option_strings[0] == f"--{action.dest}":
            action.help = HELP_CORRECTIONS[action.dest]
        if action.dest == "model_name_or_path":
            action.metavar = "MODEL"
    ours._group_actions.extend(action for dest in HYPERFIT_OPTIONS for action in actions if action.dest == dest)
    for action in actions:
        if action.dest not in HYPERFIT_OPTIONS and not isinstance(action, argparse._HelpAction):
            (model if action.dest in model_fields else training)._group_actions.append(action)
    parser._optionals._group_actions[:] = [action for action in actions if isinstance(action, argparse._HelpAction)]


def parse_args(argv: list[str]) -> tuple[HyperfitArguments, SFTConfig, HyperfitModelConfig]:
    """Parse ``argv`` (with an optional ``--config`` YAML file) on top of the selected preset."""
    parser = make_parser()
    preset = PRESETS[selected_preset_name(argv)]
    parser.set_defaults_with_config(**preset.values)
    try:
        with warnings.catch_warnings():
            # SFTConfig still sets the deprecated alias `gradient_checkpointing`; both spellings keep working
            warnings.filterwarnings("ignore", message="`gradient_checkpointing", category=FutureWarning)
            script_args, training_args, model_args = parser.parse_args_and_config(argv)
    except FileNotFoundError as error:
        raise HyperfitError(
            f"config file not found: {error.filename}: give an existing YAML file to --config"
        ) from None
    except ValueError as error:
        raise HyperfitError(first_line(error)) from None
    if script_args.data_order is not None:
        training_args.train_sampling_strategy = DATA_ORDERS[script_args.data_order]
    validate(script_args, training_args)
    apply_precision(script_args, training_args)
    return script_args, training_args, model_args


def apply_precision(script_args: HyperfitArguments, training_args: SFTConfig) -> None:
    """Resolve ``--precision`` on the run's device into TrainingArguments' ``bf16`` (mixed precision, float32 master
    weights).

    ``--bf16 true`` asks for bf16 as ``--precision bf16`` does (and is recorded so); bf16 without hardware support is a
    one-line error naming the option given. With ``--fp16 true`` only ``auto`` and ``fp32`` are allowed, and fp16 runs.
    """
    requested, option = script_args.precision, f"--precision {script_args.precision}"
    if training_args.bf16:
        requested, option = "bf16", "--bf16 true"
    if training_args.fp16:
        if requested == "bf16":
            raise HyperfitError(f"{option} and --fp16 true ask for two precisions: pass only one of them")
        return
    bf16 = requested != "fp32" and resolve_precision(requested, training_args.device, option) == "bf16"
    script_args.precision = requested
    if bf16 and not training_args.bf16:
        training_args.bf16 = True
        training_args.mixed_precision = "bf16"  # as TrainingArguments.__post_init__ derives it from bf16


def precision_record(script_args: HyperfitArguments, training_args: SFTConfig) -> dict[str, str]:
    """What the run record says about precision: the one that ran, the one asked for, and what bf16 detection found."""
    ran = "fp16" if training_args.fp16 else "bf16" if training_args.bf16 else "fp32"
    return {
        "precision": ran,
        "precision_requested": script_args.precision,
        "bf16_support": bf16_support(training_args.device).found,
    }


def selected_preset_name(argv: list[str]) -> str:
    """The preset named by ``--preset`` on the command line, else in the ``--config`` file, else the default."""
    peek = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    peek.add_argument("--preset")
    peek.add_argument("--config")
    known, _ = peek.parse_known_args(argv)
    name = known.preset
    if name is None and known.config is not None:
        name = _read_yaml_mapping(known.config).get("preset")
    name = name or DEFAULT_PRESET
    if name not in PRESETS:
        raise HyperfitError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return name


def validate(script_args: HyperfitArguments, training_args: SFTConfig) -> None:
    """Reject option values that cannot work together (one-line errors)."""
    for spec in dataclasses.fields(script_args):  # a --config file's values bypass argparse's choices
        choices, value = spec.metadata.get("choices"), getattr(script_args, spec.name)
        if choices and value is not None and value not in choices:
            raise HyperfitError(f"--{spec.name} must be one of {', '.join(choices)}, got {value!r}")
    block = training_args.max_length
    if block is None or block < 2:
        raise HyperfitError(f"--max_length sets the training block length and must be an integer >= 2, got {block}")
    # a run that trains nothing would still be saved as finished; max_steps -1 (transformers' default) means "use
    # epochs"
    epochs, max_steps = training_args.num_train_epochs, training_args.max_steps
    if max_steps == 0 or max_steps < -1:
        raise HyperfitError(f"--max_steps must be >= 1, or -1 to train for --num_train_epochs, got {max_steps}")
    if max_steps == -1 and not (math.isfinite(epochs) and epochs > 0):
        raise HyperfitError(
            f"--num_train_epochs must be a finite number > 0 (or give --max_steps N >= 1), got {epochs:g}"
        )
    if not math.isfinite(training_args.learning_rate) or training_args.learning_rate < 0:
        raise HyperfitError(f"--learning_rate must be a finite number >= 0, got {training_args.learning_rate}")
    if script_args.num_samples < 1:
        raise HyperfitError(f"--num_samples must be >= 1, got {script_args.num_samples}")
    if script_args.diagnostic_generation_every < 1:
        raise HyperfitError(
            f"--diagnostic_generation_every must be >= 1, got {script_args.diagnostic_generation_every}"
        )
    if script_args.save_every_epochs < 1:
        raise HyperfitError(f"--save_every_epochs must be >= 1, got {script_args.save_every_epochs}")
    if not math.isfinite(script_args.target_loss) or script_args.target_loss < 0:
        raise HyperfitError(f"--target_loss must be a finite number >= 0, got {script_args.target_loss}")
    parse_train_layers(script_args.train_layers)
    if script_args.diagnostics:
        if script_args.diagnostic_blocks < 1:
            raise HyperfitError("--diagnostic_blocks must be >= 1 (or pass --diagnostics false)")
        if script_args.diagnostic_prompts > 0 and not 1 <= script_args.diagnostic_prompt_tokens < block:
            raise HyperfitError(
                f"--diagnostic_prompt_tokens must be between 1 and --max_length - 1 ({block - 1}), "
                f"got {script_args.diagnostic_prompt_tokens}"
            )
        if script_args.diagnostic_prompts > 0 and script_args.diagnostic_new_tokens < 1:
            raise HyperfitError(
                "--diagnostic_new_tokens must be >= 1 (or --diagnostic_prompts 0 for no continuations)"
            )


def preset_overrides(preset_name: str, resolved: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Preset values that the config file or command line changed: ``{field: {"preset": a, "used": b}}``."""
    changed = {}
    for key, value in PRESETS[preset_name].values.items():
        used = resolved.get(key)
        used = getattr(used, "value", used)  # enums (save_strategy, lr_scheduler_type) compare by value
        if used != value:
            changed[key] = {"preset": value, "used": used}
    return changed


def _read_yaml_mapping(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except FileNotFoundError:
        raise HyperfitError(f"config file not found: {path}: give an existing YAML file to --config") from None
    except yaml.YAMLError as error:
        raise HyperfitError(f"config file {path} is not valid YAML ({first_line(error)})") from None
    if not isinstance(config, dict):
        raise HyperfitError(f"config file {path} must hold a YAML mapping of option: value")
    return config
