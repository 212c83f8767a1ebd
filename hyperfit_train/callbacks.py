"""Trainer callbacks: per-epoch diagnostics (``diagnostics.jsonl`` + plot + progress line), the kept early-stopped
model and early stop on loss.

Distributed runs: every rank runs the same held-out measurements on the same data with the same
weights (no collective calls, so no rank can wait on another), and only the main process writes.
The training loss of an epoch is the step-weighted mean of the losses the Trainer logged in it;
those are already averaged over ranks, so every rank takes the same early-stop decision.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import TrainerCallback

from hyperfit_tasks.common.atomic import write_atomic
from hyperfit_tasks.common.json_rows import read_rows
from hyperfit_tasks.common.run_files import (
    DIAGNOSTICS_FILE,
    DIAGNOSTICS_PLOT,
    EARLY_STOPPED_DIR,
    EARLY_STOPPED_RECORD,
    read_early_stopped,
)
from hyperfit_train.diagnostics import (
    continuation_row,
    eval_mode,
    measure,
    plot_rows,
    row_to_json,
    summary_line,
)


class DiagnosticsCallback(TrainerCallback):
    """Before training and after every epoch: measure held-out diagnostics, append a row, redraw the plot.

    The plot is redrawn at most every ``plot_interval`` seconds (drawing costs about a second) and at the end.

    ``heldout`` (``[n, block]`` ids) and ``prompts`` (``[p, prompt_tokens]`` ids) may be None to record the
    training loss only. The prompts are continued before training, every ``generation_every`` epochs and after
    the last epoch (a row that lacks them at the end gets them then). On resume, rows after the resumed step are
    dropped (they belong to lost work).
    """

    def __init__(
        self,
        output_dir: str | Path,
        tokenizer,
        heldout: torch.Tensor | None,
        prompts: torch.Tensor | None,
        new_tokens: int,
        batch_size: int,
        title: str = "",
        plot_interval: float = 120.0,
        timer: "PhaseTimer | None" = None,
        generation_every: int = 1,
    ):
        self.path = Path(output_dir) / DIAGNOSTICS_FILE
        self.plot_path = Path(output_dir) / DIAGNOSTICS_PLOT
        self.tokenizer, self.heldout, self.prompts = tokenizer, heldout, prompts
        self.new_tokens, self.batch_size, self.title = new_tokens, batch_size, title
        self.plot_interval, self.generation_every = plot_interval, generation_every
        self.timer = timer or PhaseTimer()
        self._plotted_rows, self._plotted_at = -1, -math.inf
        self.rows: list[dict[str, Any]] = []
        self._epoch_losses: list[tuple[float, int]] = []  # (logged mean loss, steps it covers)
        self._last_logged_step = 0
        self._pending: dict[str, Any] | None = None
        self.latest: dict[str, Any] | None = (
            None  # the row measured at the last epoch end (its training loss may follow)
        )
        self._session_start = time.monotonic()
        self._elapsed_before = 0.0

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._session_start = time.monotonic()
        self._last_logged_step = state.global_step
        self.rows = (
            [row for row in read_rows(self.path) if row["step"] <= state.global_step] if state.global_step else []
        )
        self._elapsed_before = self.rows[-1].get("elapsed_s", 0.0) if self.rows else 0.0
        if state.is_world_process_zero:
            self._rewrite()
        if state.global_step == 0:
            self._pending = self._measure(model, epoch=0.0, step=0)
            self._finish(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        self._epoch_losses.append((logs["loss"], state.global_step - self._last_logged_step))
        self._last_logged_step = state.global_step
        if self._pending is not None and self._pending["step"] == state.global_step:
            self._finish(state)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self._pending = self.latest = self._measure(
            model, epoch=state.epoch, step=state.global_step, last=state.global_step >= state.max_steps
        )
        if self._last_logged_step == state.global_step:
            self._finish(state)
        else:  # the Trainer logs the rest of this epoch's loss right after this callback; finish the row then
            control.should_log = True

    def _measure(self, model, epoch: float, step: int, last: bool = False) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": round(epoch, 4), "step": step}
        if self.heldout is not None:
            generate = step == 0 or last or round(epoch) % self.generation_every == 0
            with self.timer.timed("diagnostics"):
                row.update(
                    measure(
                        model,
                        self.tokenizer,
                        self.heldout,
                        self.prompts if generate else None,
                        self.new_tokens,
                        self.batch_size,
                    )
                )
        return row

    def _finish(self, state) -> None:
        row, self._pending = self._pending, None
        steps = sum(count for _, count in self._epoch_losses)
        row["train_loss"] = sum(loss * count for loss, count in self._epoch_losses) / steps if steps else None
        self._epoch_losses = []
        row["elapsed_s"] = round(self._elapsed_before + time.monotonic() - self._session_start, 3)
        self.rows.append(row)
        if state.is_world_process_zero:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(row_to_json(row) + "\n")
            tqdm.write(summary_line(row))
            if time.monotonic() - self._plotted_at >= self.plot_interval:
                self._plot()

    def on_train_end(self, args, state, control, model=None, **kwargs):
        last = self.rows[-1] if self.rows else None
        if (
            last is not None
            and self.heldout is not None
            and self.prompts is not None
            and len(self.prompts)
            and "ttr" not in last
        ):
            with (
                self.timer.timed("diagnostics"),
                eval_mode(model),
            ):  # stopped between generation points: the final model's
                last.update(continuation_row(model, self.tokenizer, self.prompts, self.new_tokens))
            if state.is_world_process_zero:
                self._rewrite()
        if state.is_world_process_zero and self.rows and len(self.rows) != self._plotted_rows:
            self._plot()

    def _rewrite(self) -> None:
        """Write every row to ``diagnostics.jsonl`` at once (atomically)."""
        write_atomic(self.path, "".join(row_to_json(row) + "\n" for row in self.rows))

    def _plot(self) -> None:
        with self.timer.timed("diagnostics"):
            plot_rows(self.rows, self.plot_path, self.title)
        self._plotted_rows, self._plotted_at = len(self.rows), time.monotonic()


class KeepLowestHeldoutCallback(TrainerCallback):
    """Keep the model of the trained epoch with the lowest held-out loss in ``<output_dir>/early_stopped/``.

    That model is the early-stopped fine-tune, the control that tells hyperfitting (training on to near-zero loss)
    from fine-tuning as such. It reads the held-out loss the :class:`DiagnosticsCallback` listed before it has just
    measured, so it costs one model save per new lowest loss and no extra measurement. Every rank measured the loss;
    rank 0's decision is broadcast, and every rank saves through ``Trainer.save_model`` (FSDP gathers its shards
    there); the main process writes a temporary folder and renames it over the previous one, so a kill never leaves
    a half-written ``early_stopped/``. ``trainer`` is set once the trainer is built.
    """

    def __init__(self, output_dir: str | Path, diagnostics: DiagnosticsCallback):
        self.folder = Path(output_dir) / EARLY_STOPPED_DIR
        self.diagnostics = diagnostics
        self.trainer = None
        self.kept: dict[str, Any] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            shutil.rmtree(self._temporary, ignore_errors=True)  # an interrupted save
            previous = self.folder.with_name(self.folder.name + ".old")
            if previous.exists() and not self.folder.exists():  # killed between the two renames: the old one is whole
                previous.rename(self.folder)
            shutil.rmtree(previous, ignore_errors=True)
        self.trainer.accelerator.wait_for_everyone()  # every rank reads the folder after the clean-up
        self.kept = read_early_stopped(self.folder.parent)
        if self.kept is not None and self.kept["step"] > state.global_step:  # saved by work the resumed run redoes
            self.kept = None

    def on_epoch_end(self, args, state, control, **kwargs):
        row = self.diagnostics.latest
        loss = None if row is None else row.get("heldout_loss")
        if not isinstance(loss, (int, float)) or not math.isfinite(loss) or row["step"] == 0:
            return
        lower = self.kept is None or loss < self.kept["heldout_loss"]
        if self.trainer.accelerator.num_processes > 1:  # rank 0 decides: a save is collective, so all ranks must agree
            from accelerate.utils import broadcast_object_list

            lower = broadcast_object_list([lower])[0]
        if not lower:
            return
        self.kept = {"path": EARLY_STOPPED_DIR, "epoch": row["epoch"], "step": row["step"], "heldout_loss": loss}
        self.trainer.save_model(str(self._temporary))
        if state.is_world_process_zero:
            (self._temporary / EARLY_STOPPED_RECORD).write_text(json.dumps(self.kept) + "\n", encoding="utf-8")
            previous = self.folder.with_name(self.folder.name + ".old")
            if self.folder.exists():
                self.folder.rename(previous)
            self._temporary.rename(self.folder)
            shutil.rmtree(previous, ignore_errors=True)
            tqdm.write(
                f"early-stopped model: epoch {row['epoch']:g} has the lowest held-out loss so far ({loss:.4g}): kept "
                f"in {self.folder}"
            )
        self.trainer.accelerator.wait_for_everyone()

    @property
    def _temporary(self) -> Path:
        return self.folder.with_name(self.folder.name + ".partial")


class SaveEveryEpochsCallback(TrainerCallback):
    """With ``save_strategy="epoch"``: keep the Trainer's end-of-epoch checkpoint only every ``every`` epochs and at
    the end.

    Runs after the Trainer's own flow callback, which asks for a save at every epoch end; the last epoch (all
    epochs done, or training told to stop, as by the early stop) is always saved.
    """

    def __init__(self, every: int):
        self.every = every

    def on_epoch_end(self, args, state, control, **kwargs):
        last = control.should_training_stop or state.global_step >= state.max_steps
        if control.should_save and not last and round(state.epoch) % self.every:
            control.should_save = False


class EarlyStopOnLossCallback(TrainerCallback):
    """Stop training once a logged training loss falls below ``threshold`` (the epoch still ends normally)."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.stopped_at_step: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and logs["loss"] < self.threshold and self.stopped_at_step is None:
            self.stopped_at_step = state.global_step
            control.should_training_stop = True
            if state.is_world_process_zero:
                tqdm.write(
                    f"early stop: training loss {logs['loss']:.4g} < {self.threshold:g} at step {state.global_step}"
                )


class PhaseTimer(TrainerCallback):
    """Wall seconds per part of a session: optimizer steps (``on_step_begin`` to ``on_step_end``) and named phases.

    Other code times its phases with :meth:`timed` (diagnostics, checkpoint writes, start-up); :meth:`split` adds
    the time of the whole session that no part covers, so the parts sum to the total.
    """

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._started = time.perf_counter()
        self._step_start: float | None = None

    @contextmanager
    def timed(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_start is not None:
            self.seconds["optimizer_steps"] += time.perf_counter() - self._step_start
            self._step_start = None

    def split(self) -> dict[str, float]:
        """Seconds per part since this timer was made (``other``: the rest), the total, and the share outside the
        steps."""
        total = time.perf_counter() - self._started
        parts = {name: round(value, 3) for name, value in self.seconds.items()}
        parts["other"] = round(max(total - sum(self.seconds.values()), 0.0), 3)
        outside = total - self.seconds.get("optimizer_steps", 0.0)
        return {
            **parts,
            "total": round(total, 3),
            "outside_steps_share": round(outside / total, 4) if total > 0 else None,
        }


def time_split_line(split: dict[str, float]) -> str:
    """One log line: the session's seconds per part and the share of the total spent outside optimizer steps."""
    parts = [
        f"{name.replace('_', ' ')} {value:.1f} s"
        for name, value in split.items()
        if name not in ("total", "outside_steps_share")
    ]
    share = split.get("outside_steps_share")
    outside = f"; {share:.1%} outside optimizer steps" if share is not None else ""
    return f"time: {split['total']:.1f} s in this session ({', '.join(parts)}){outside}"
