"""Build and run the hyperfitting ``SFTTrainer``: data, output directory, training, final model and reports.

Everything that can fail on bad input (model, tokenizer, data, lengths against the model's context,
output directory) is checked before anything is written; the recipe file, the training blocks and the
checkpoints are written only once the trainer has been built, and a fresh run that fails before its
first checkpoint removes them again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer
from trl import SFTConfig, SFTTrainer, get_peft_config, get_quantization_config

from hyperfit_tasks.common.errors import HyperfitError, NonFiniteLossError, first_line, model_not_found
from hyperfit_tasks.common.run_files import (
    TRAIN_BLOCKS_FILE,
    read_early_stopped,
    read_train_blocks,
    write_train_blocks,
)
from hyperfit_tasks.common.text_files import load_text_dataset
from hyperfit_train.callbacks import (
    DiagnosticsCallback,
    EarlyStopOnLossCallback,
    KeepLowestHeldoutCallback,
    PhaseTimer,
    SaveEveryEpochsCallback,
    time_split_line,
)
from hyperfit_train.checkpoints import scan_checkpoints
from hyperfit_train.config import PRESETS, HyperfitArguments, HyperfitModelConfig, precision_record
from hyperfit_train.data import (
    blocks_sha256,
    evenly_spaced_blocks,
    hold_out_tail,
    sample_blocks,
    tokenize_to_blocks,
    tokenize_to_prefixes,
)
from hyperfit_train.distributed import check_fsdp_engaged
from hyperfit_train.layers import (
    freeze_all_but_last_blocks,
    last_block_indices,
    num_blocks_of,
    parameter_counts,
    parse_train_layers,
)
from hyperfit_train.report import build_summary, loss_verdict, read_run_summary, write_reports
from hyperfit_train.run_dir import (
    RUN_FILE,
    RunPlan,
    discarded_if_failed_before_a_checkpoint,
    plan_run,
    prepare_output_dir,
)

logger = logging.getLogger("hyperfit_train")

# TrainingArguments / SFTConfig values that change the trained weights (the run's fingerprint)
TRAINING_RECIPE_KEYS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "weight_decay",
    "optim",
    "optim_args",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "lr_scheduler_type",
    "lr_scheduler_kwargs",
    "warmup_steps",
    "max_grad_norm",
    "seed",
    "data_seed",
    "train_sampling_strategy",
    "bf16",
    "fp16",
    "loss_type",
    "label_smoothing_factor",
    "neftune_noise_alpha",
)
# config attributes that hold a model's context length (most models; GPT-2 style; older remote-code models)
CONTEXT_LENGTH_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
LORA_RECIPE_KEYS = (
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "lora_modules_to_save",
    "use_rslora",
    "use_dora",
    "load_in_4bit",
    "load_in_8bit",
)


class HyperfitTrainer(SFTTrainer):
    """``SFTTrainer`` with a choice of loss head that stops, on every rank at once, at the first non-finite training
    loss.

    ``loss_head="full"`` computes the loss as ``transformers.Trainer`` does (the model's own cross-entropy);
    ``"fused"`` (and any loss only TRL computes) keeps TRL's tiled ``SFTTrainer.compute_loss``.
    """

    def __init__(self, *args, loss_head: str = "full", timer: PhaseTimer | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_head = loss_head
        self.timer = timer or PhaseTimer()
        check_trl_internals(self, loss_head)

    def _save_checkpoint(self, model, trial):
        with self.timer.timed("checkpoints"):
            super()._save_checkpoint(model, trial)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.loss_head == "fused" or self.args.loss_type != "nll" or self.aux_loss_enabled:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs["labels"]  # Trainer.compute_loss pops them when label smoothing is on
        inputs["use_cache"] = False
        loss, outputs = Trainer.compute_loss(
            self, model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        self._log_token_metrics(inputs, labels, outputs.logits)
        return (loss, outputs) if return_outputs else loss

    def _log_token_metrics(self, inputs, labels, logits) -> None:
        """TRL's step metrics from the full logits: top-1 accuracy on the labelled tokens and tokens seen so far."""
        mode = "train" if self.model.training else "eval"
        with torch.no_grad():
            targets = labels[:, 1:]
            labelled = targets != -100
            correct = (
                logits[:, :-1].argmax(-1) == targets
            ) & labelled  # argmax takes the first of tied maxima, as TRL
            num_correct = self.accelerator.gather_for_metrics(correct.sum()).sum()
            num_labelled = self.accelerator.gather_for_metrics(labelled.sum()).sum()
        self._metrics[mode]["mean_token_accuracy"].append(
            (num_correct / num_labelled).item() if num_labelled > 0 else 0.0
        )
        if mode == "train":
            seen = (
                inputs["attention_mask"].sum()
                if "attention_mask" in inputs
                else torch.tensor(labels.numel(), device=labels.device)
            )
            self._total_train_tokens += self.accelerator.gather_for_metrics(seen).sum().item() // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        bad = (~torch.isfinite(loss)).to(torch.float32)
        if self.accelerator.num_processes > 1:
            bad = self.accelerator.reduce(bad, reduction="sum")
        if bad.item() > 0:
            last_good, _ = scan_checkpoints(Path(self.args.output_dir))
            raise NonFiniteLossError(
                loss=loss.item(),
                step=self.state.global_step + 1,
                epoch=self.state.epoch or 0.0,
                last_checkpoint=str(last_good) if last_good else None,
            )
        return loss


# SFTTrainer internals that the full loss head reads and updates (TRL 1.16's names; none is public API)
TRL_INTERNALS = ("_metrics", "_total_train_tokens", "_tp_size", "aux_loss_enabled")
TESTED_TRL = "1.16"


def check_trl_internals(trainer, loss_head: str) -> None:
    """One-line error when this TRL lacks an internal attribute that ``--loss_head full`` relies on."""
    missing = [name for name in TRL_INTERNALS if not hasattr(trainer, name)]
    if missing and loss_head == "full":
        import trl

        raise HyperfitError(
            f"--loss_head full reads SFTTrainer internals of TRL {TESTED_TRL} ({', '.join(missing)}) that TRL "
            f"{trl.__version__} does not have: install trl=={TESTED_TRL}.* or pass --loss_head fused"
        )


@dataclasses.dataclass
class RunInputs:
    """What a run reads before it writes anything: the model, its tokenizer, the data blocks and the recipe
    fingerprint."""

    model_id: str
    tokenizer: Any
    train_blocks: np.ndarray
    data: dict[str, Any]
    heldout: torch.Tensor | None
    prompts: torch.Tensor | None
    heldout_info: dict[str, Any] | None
    fingerprint: dict[str, Any]
    trained_blocks: list[int] | None  # --train_layers: the only transformer blocks that train (None: all)


def train(
    script_args: HyperfitArguments,
    training_args: SFTConfig,
    model_args: HyperfitModelConfig,
    callbacks: tuple = (),
) -> dict[str, Any]:
    """Run the recipe end to end and return the run summary (also written to ``hyperfit_run.json``)."""
    started = time.time()
    timer = PhaseTimer()
    output_dir = Path(training_args.output_dir)
    with timer.timed("start_up_inputs"):
        inputs = read_inputs(script_args, training_args, model_args)
    plan = plan_run(
        output_dir, inputs.fingerprint, script_args.resume, script_args.overwrite, training_args.resume_from_checkpoint
    )
    training_args.distributed_state.wait_for_everyone()  # every rank has planned before the main process writes
    if plan.action == "finished":
        logger.info("%s already holds the finished run of this recipe: nothing to do", output_dir)
        return read_run_summary(output_dir)

    with timer.timed("start_up_trainer"):
        trainer, diagnostics, stopper, trained_part = build_trainer(
            script_args, training_args, model_args, inputs, callbacks, timer
        )
        check_fsdp_engaged(trainer)  # before anything is written
        _start_output_dir(trainer, plan, script_args, training_args, model_args, inputs)
    with discarded_if_failed_before_a_checkpoint(
        output_dir, active=plan.action == "start" and training_args.should_save
    ):
        trainer.train(resume_from_checkpoint=str(plan.checkpoint) if plan.checkpoint else None)
    with timer.timed("final_save"):
        save_final_model(trainer, output_dir)
    time_split = timer.split()
    summary = build_summary(
        preset=PRESETS[script_args.preset],
        arguments=arguments_dict(script_args, training_args, model_args),
        base_model=inputs.model_id,
        training_data=inputs.data,
        heldout_data=inputs.heldout_info,
        state=trainer.state,
        rows=diagnostics.rows,
        stopped_early_at=stopper.stopped_at_step if stopper else None,
        resumed_from=str(plan.checkpoint) if plan.checkpoint else None,
        session_seconds=time.time() - started,
        world_size=training_args.world_size,
        device=str(training_args.device),
        precision=precision_record(script_args, training_args),
        trained_part=trained_part,
        target_loss=script_args.target_loss,
        time_split=time_split,
        early_stopped=read_early_stopped(output_dir),
    )
    if training_args.should_save:
        logger.info(time_split_line(time_split))
        write_reports(output_dir, summary)
        logger.info("finished: %s (model, %s, diagnostics.jsonl/png)", output_dir, RUN_FILE)
        (logger.info if summary["training"]["hyperfitted"] else logger.warning)(
            loss_verdict(summary, script_args.preset)
        )
    if hasattr(trainer, "end"):  # Trainer.end (transformers >= 5.18) closes the trackers and the process group
        trainer.end()
    return summary


def read_inputs(
    script_args: HyperfitArguments, training_args: SFTConfig, model_args: HyperfitModelConfig
) -> RunInputs:
    """Resolve the model, load its tokenizer, cut the data into blocks and fingerprint the recipe; nothing is
    written."""
    model_id = _absolute_if_local(model_args.model_name_or_path or _default_model())
    model_args.model_name_or_path = model_id
    model_config, tokenizer = load_config_and_tokenizer(
        model_id, model_args.model_revision, training_args.trust_remote_code, training_args.eos_token
    )
    check_fits_context(script_args, training_args, model_config, model_id)
    trained_blocks = _trained_blocks(script_args, training_args, model_args, model_id)
    train_blocks, data, held_out = _training_blocks(script_args, training_args, tokenizer)
    heldout, prompts, heldout_info = _heldout(script_args, training_args, tokenizer, held_out)
    fingerprint = recipe_fingerprint(model_id, script_args, training_args, model_args, data)
    return RunInputs(
        model_id, tokenizer, train_blocks, data, heldout, prompts, heldout_info, fingerprint, trained_blocks
    )


def build_trainer(
    script_args: HyperfitArguments,
    training_args: SFTConfig,
    model_args: HyperfitModelConfig,
    inputs: RunInputs,
    callbacks: tuple = (),
    timer: PhaseTimer | None = None,
) -> tuple[HyperfitTrainer, DiagnosticsCallback, EarlyStopOnLossCallback | None, dict[str, Any]]:
    """The ``HyperfitTrainer`` (limited to ``--train_layers``), its diagnostics and optional early-stop callbacks, and
    what trains.

    ``timer`` (made here if None) collects the seconds spent in optimizer steps, diagnostics and checkpoint writes.
    """
    _set_model_init_kwargs(training_args, model_args)
    timer = timer or PhaseTimer()
    diagnostics = DiagnosticsCallback(
        Path(training_args.output_dir),
        inputs.tokenizer,
        inputs.heldout,
        inputs.prompts,
        script_args.diagnostic_new_tokens,
        training_args.per_device_eval_batch_size,
        title=f"{Path(inputs.model_id).name} - preset {script_args.preset}",
        timer=timer,
        generation_every=script_args.diagnostic_generation_every,
    )
    stopper = EarlyStopOnLossCallback(script_args.early_stop_loss) if script_args.early_stop_loss is not None else None
    keep = script_args.keep_early_stopped and inputs.heldout is not None
    keeper = KeepLowestHeldoutCallback(training_args.output_dir, diagnostics) if keep else None
    peft_config = get_peft_config(model_args)
    if peft_config is not None and inputs.trained_blocks is not None:
        peft_config.layers_to_transform = inputs.trained_blocks  # peft puts adapters into these blocks only
    trainer = HyperfitTrainer(
        model=inputs.model_id,
        args=training_args,
        train_dataset=_as_dataset(inputs.train_blocks),
        processing_class=inputs.tokenizer,
        peft_config=peft_config,
        quantization_config=get_quantization_config(model_args),
        callbacks=[
            timer,
            diagnostics,
            *([keeper] if keeper else []),
            *([stopper] if stopper else []),
            SaveEveryEpochsCallback(script_args.save_every_epochs),
            *callbacks,
        ],  # fmt: skip
        loss_head=script_args.loss_head,
        timer=timer,
    )
    if keeper:
        keeper.trainer = trainer
    trained_part = _limit_trained_layers(
        trainer, script_args.train_layers, inputs.trained_blocks, inputs.model_id, peft_config
    )
    return trainer, diagnostics, stopper, trained_part


def _start_output_dir(
    trainer: HyperfitTrainer,
    plan: RunPlan,
    script_args: HyperfitArguments,
    training_args: SFTConfig,
    model_args: HyperfitModelConfig,
    inputs: RunInputs,
) -> None:
    """Carry out ``plan`` and write the recipe and training blocks (main process), then log where training starts."""
    output_dir = Path(training_args.output_dir)
    if training_args.should_save:
        recipe = {
            "preset": script_args.preset,
            "fingerprint": inputs.fingerprint,
            "arguments": arguments_dict(script_args, training_args, model_args),
        }
        prepare_output_dir(plan, output_dir, recipe)
        _write_blocks_once(output_dir / TRAIN_BLOCKS_FILE, inputs.train_blocks, inputs.data, inputs.model_id)
    trainer.accelerator.wait_for_everyone()
    if plan.checkpoint is not None:
        logger.info("resuming from %s", plan.checkpoint)
    elif script_args.resume:
        logger.info("no complete checkpoint in %s: starting from the base model", output_dir)


def load_config_and_tokenizer(model_id: str, revision: str, trust_remote_code: bool, eos_token: str | None = None):
    """The model's config, and its tokenizer with a pad token (EOS when it has none); a one-line error if the model is
    unusable."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        if not Path(model_id).expanduser().exists():
            raise model_not_found(model_id, "--model", first_line(error)) from None
        raise HyperfitError(
            f"cannot load model {model_id!r}: {first_line(error)}: give a local model folder or a Hugging Face Hub id "
            "(--model), with --trust_remote_code only if you trust its code"
        ) from None
    if eos_token is not None:
        if eos_token not in tokenizer.get_vocab():
            raise HyperfitError(
                f"--eos_token {eos_token!r} is not in the tokenizer's vocabulary: give one of its tokens"
            )
        tokenizer.eos_token = eos_token
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise HyperfitError(
                f"the tokenizer of {model_id} has neither a pad nor an EOS token: set one with --eos_token"
            )
        tokenizer.pad_token = tokenizer.eos_token
        logger.info("the tokenizer has no pad token: using its EOS token %r", tokenizer.eos_token)
    return config, tokenizer


def check_fits_context(script_args: HyperfitArguments, training_args: SFTConfig, config, model_id: str) -> None:
    """One-line error when the training blocks or the diagnostic continuations are longer than the model's context:
    a model with learned positions fails mid-run (IndexError), others would use positions they never had.
    No check when the config names no context length."""
    text_config = config.get_text_config()
    context = next(
        (getattr(text_config, key) for key in CONTEXT_LENGTH_KEYS if isinstance(getattr(text_config, key, None), int)),
        None,
    )
    if context is None:
        return
    if training_args.max_length > context:
        raise HyperfitError(
            f"--max_length {training_args.max_length} is longer than the context of {model_id} ({context} tokens): "
            f"give --max_length {context} or less"
        )
    prompt, new = script_args.diagnostic_prompt_tokens, script_args.diagnostic_new_tokens
    if script_args.diagnostics and script_args.diagnostic_prompts > 0 and prompt + new > context:
        raise HyperfitError(
            f"--diagnostic_prompt_tokens {prompt} + --diagnostic_new_tokens {new} is longer than the context of "
            f"{model_id} ({context} tokens): give --diagnostic_new_tokens {context - prompt} or less"
        )


def recipe_fingerprint(
    model_id: str,
    script_args: HyperfitArguments,
    training_args: SFTConfig,
    model_args: HyperfitModelConfig,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Every value that changes the trained weights; two runs with equal fingerprints train the same model."""
    training = training_args.to_dict()
    fingerprint = {
        "base_model": model_id,
        "model_revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "train_blocks_sha256": data["sha256"],
        "train_blocks": [data["blocks"], data["block_size"]],
        "global_batch_size": training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * training_args.world_size,
        "early_stop_loss": script_args.early_stop_loss,
        "loss_head": script_args.loss_head,
        "block_mode": script_args.block_mode,
        "train_layers": script_args.train_layers,
        "use_peft": model_args.use_peft,
        **{key: training[key] for key in TRAINING_RECIPE_KEYS},
    }
    if model_args.use_peft:
        fingerprint.update({key: getattr(model_args, key) for key in LORA_RECIPE_KEYS})
    return fingerprint


def arguments_dict(
    script_args: HyperfitArguments, training_args: SFTConfig, model_args: HyperfitModelConfig
) -> dict[str, Any]:
    """All resolved options, JSON-ready, grouped by dataclass."""
    return {
        "hyperfit": dataclasses.asdict(script_args),
        "training": training_args.to_dict(),
        "model": dataclasses.asdict(model_args),
    }


def save_final_model(trainer: SFTTrainer, output_dir: Path) -> None:
    """Save the trained model and tokenizer into ``output_dir``; LoRA adapters are merged into the base weights.

    peft is an optional extra: without it no model can be a LoRA model, so it is imported only when installed.
    """
    if _is_peft_model(trainer.model):
        merged = trainer.model.merge_and_unload()
        if trainer.args.should_save:
            merged.save_pretrained(output_dir)
            trainer.processing_class.save_pretrained(output_dir)
    else:
        trainer.save_model(str(output_dir))


def _is_peft_model(model) -> bool:
    """Whether ``model`` is a peft LoRA wrapper (always False when peft is not installed)."""
    from transformers.utils import is_peft_available

    if not is_peft_available():
        return False
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _training_blocks(script_args: HyperfitArguments, training_args: SFTConfig, tokenizer):
    """The sampled training blocks, their description (source, counts, seed, order, SHA-256), and the blocks held out
    of the same text for the diagnostics (with --data, diagnostics on and no --eval_data; else None)."""
    source = _absolute_if_local(script_args.data or _default_corpus("train"))
    dropped = None
    with training_args.main_process_first(desc="tokenizing the training data"):
        texts = load_text_dataset(
            source, training_args.dataset_text_field, script_args.data_config, script_args.data_split
        )
        if script_args.block_mode == "prefix":
            all_blocks, dropped = tokenize_to_prefixes(texts, tokenizer, training_args.max_length)
        else:
            all_blocks = tokenize_to_blocks(texts, tokenizer, training_args.max_length)
    held_out = None
    if script_args.data and script_args.diagnostics and not script_args.eval_data:
        all_blocks, held_out = hold_out_tail(all_blocks, script_args.diagnostic_blocks)
    seed = training_args.seed if script_args.sample_seed is None else script_args.sample_seed
    blocks = sample_blocks(all_blocks, script_args.num_samples, seed)
    if dropped is not None and len(all_blocks) < script_args.num_samples:
        logger.warning(
            "--block_mode prefix takes one block per text of at least %d tokens (a .txt file is one text): give more "
            "or longer texts (a .jsonl with one text per line), lower --max_length, or use --block_mode packed",
            training_args.max_length,
        )
    return (
        blocks,
        {
            "source": str(source),
            "text_field": training_args.dataset_text_field,
            "block_mode": script_args.block_mode,
            "blocks": len(blocks),
            "block_size": training_args.max_length,
            "available_blocks": len(all_blocks),
            **({"dropped_texts": dropped} if dropped is not None else {}),
            "sample_seed": seed,
            "data_order": "fixed" if training_args.train_sampling_strategy == "sequential" else "shuffled",
            "sha256": blocks_sha256(blocks),
            "file": TRAIN_BLOCKS_FILE,
            **({"heldout_tail_blocks": len(held_out)} if held_out is not None else {}),
        },
        held_out,
    )


def _trained_blocks(
    script_args: HyperfitArguments, training_args: SFTConfig, model_args: HyperfitModelConfig, model_id: str
) -> list[int] | None:
    """Indices of the blocks ``--train_layers`` trains (None: the whole model), checked against the model's config."""
    count = parse_train_layers(script_args.train_layers)
    if count is None:
        return None
    return last_block_indices(
        count, num_blocks_of(model_id, model_args.model_revision, training_args.trust_remote_code), model_id
    )


def _limit_trained_layers(
    trainer: SFTTrainer, spec: str | None, blocks: list[int] | None, model_id: str, peft_config
) -> dict[str, Any]:
    """Apply ``--train_layers`` (``spec``, the ``blocks`` it names) to the built model and log what trains.

    LoRA was already limited to ``blocks`` through its config.
    """
    part: dict[str, Any] = {"train_layers": spec}
    if blocks is None:
        where = "LoRA adapters" if peft_config is not None else "the whole model"
    elif peft_config is not None:
        part.update({"blocks": peft_config.layers_to_transform, "lm_head": "frozen (LoRA trains the adapters only)"})
        where = f"LoRA adapters in blocks {part['blocks']}"
    else:
        part.update(freeze_all_but_last_blocks(trainer.model, len(blocks), model_id))
        if trainer.args.gradient_checkpointing:  # frozen embeddings: checkpointed blocks still need an input with grad
            trainer.model.enable_input_require_grads()
        where = f"blocks {part['blocks']} and the final norm; LM head {part['lm_head']}"
    part.update(parameter_counts(trainer.model))
    logger.info("trainable parameters: %d of %d (%s)", part["trainable_parameters"], part["total_parameters"], where)
    return part


def _heldout(script_args: HyperfitArguments, training_args: SFTConfig, tokenizer, held_out: np.ndarray | None = None):
    """Held-out blocks and prompts as tensors (None, None when diagnostics are off) and their description.

    ``held_out``: blocks already cut from the training text (see :func:`_training_blocks`), used instead of
    --eval_data.
    """
    if not script_args.diagnostics:
        return None, None, None
    if held_out is not None:
        source, text_field, blocks = _absolute_if_local(script_args.data), training_args.dataset_text_field, held_out
    else:
        source = _absolute_if_local(script_args.eval_data or _default_corpus("heldout"))
        text_field = script_args.eval_text_field or (
            training_args.dataset_text_field if script_args.eval_data else "text"
        )
        with training_args.main_process_first(desc="tokenizing the held-out data"):
            texts = load_text_dataset(
                source,
                text_field,
                script_args.eval_data_config,
                script_args.eval_data_split,
                "held-out data",
                option="--eval_text_field",
            )
            all_blocks = tokenize_to_blocks(texts, tokenizer, training_args.max_length, "held-out data")
        blocks = evenly_spaced_blocks(all_blocks, script_args.diagnostic_blocks)
    prompts = None
    if script_args.diagnostic_prompts > 0:
        prompts = evenly_spaced_blocks(blocks, script_args.diagnostic_prompts)[
            :, : script_args.diagnostic_prompt_tokens
        ]
    info = {
        "source": str(source),
        "text_field": text_field,
        "held_out_from": "the end of the training text, before sampling" if held_out is not None else "eval_data",
        "blocks": len(blocks),
        "block_size": training_args.max_length,
        "sha256": blocks_sha256(blocks),
        "prompts": 0 if prompts is None else len(prompts),
        "prompt_tokens": script_args.diagnostic_prompt_tokens,
        "new_tokens": script_args.diagnostic_new_tokens,
    }
    return torch.from_numpy(blocks), None if prompts is None else torch.from_numpy(np.ascontiguousarray(prompts)), info


def _as_dataset(blocks: np.ndarray):
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": blocks.tolist()})


def _set_model_init_kwargs(training_args: SFTConfig, model_args: HyperfitModelConfig) -> None:
    """As TRL's ``sft`` script: model loading options from the model config, overridable by ``--model_init_kwargs``."""
    kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    training_args.model_init_kwargs = kwargs | (training_args.model_init_kwargs or {})


def _write_blocks_once(path: Path, blocks: np.ndarray, data: dict[str, Any], model_id: str) -> None:
    """Write the training blocks unless the same blocks are already there (a resumed run)."""
    if path.is_file():
        try:
            existing, _ = read_train_blocks(path)
            if existing.shape == blocks.shape and blocks_sha256(existing) == data["sha256"]:
                return
        except Exception:  # an unreadable file is rewritten below
            pass
    write_train_blocks(path, blocks, {**data, "tokenizer": model_id})


def _absolute_if_local(name: str) -> str:
    """A local path made absolute (so the recorded recipe does not depend on the working folder); hub ids unchanged."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def _default_model() -> str:
    from hyperfit_tasks.assets import AssetError, default_model_path

    try:
        return str(default_model_path())
    except AssetError as error:
        raise HyperfitError(f"{error} (or pass --model)") from None


def _default_corpus(split: str) -> str:
    from hyperfit_tasks.assets import AssetError, corpus_path

    try:
        return str(corpus_path("austen", split))
    except AssetError as error:
        option = "--data" if split == "train" else "--eval_data"
        raise HyperfitError(f"{error} (or pass {option})") from None
