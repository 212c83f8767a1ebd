"""Errors that hyperfit's commands report as one line naming the problem and its fix."""

from __future__ import annotations

import argparse
import sys
from typing import Callable


class HyperfitError(Exception):
    """Bad input or an unusable state; the message is one line that says what to change."""


class TrainingDataError(HyperfitError, ValueError):
    """The training data given to a control cannot be used (message: one line, with the fix)."""


def first_line(error: BaseException, empty: str | None = None) -> str:
    """The first line of ``error``'s message; ``empty`` (default: the error's type name) when it has none."""
    return (str(error).strip().splitlines() or [type(error).__name__ if empty is None else empty])[0]


# how a full disk shows: errno ENOSPC, or torch's zip writer (torch.save, safetensors' fallback) failing midway
DISK_FULL_SIGNS = ("No space left on device", "unexpected pos")


def one_line_message(error: BaseException) -> str:
    """What a command prints for ``error``: a :class:`HyperfitError`'s first line as it is, any other's after its type
    name, with the fix when it is a full disk (torch reports one as ``unexpected pos ...``)."""
    line = first_line(error, empty="")
    if isinstance(error, HyperfitError):
        return line
    if is_disk_full(error):
        return (
            f"{type(error).__name__}: {line}: a write failed midway, most likely a full disk: free space where this "
            "command writes (df -h), then run it again (what was already finished is kept)"
        )
    return f"{type(error).__name__}: {line} (run with --debug for the traceback)"


def is_disk_full(error: BaseException | None) -> bool:
    """True if ``error`` or an error it was raised from is a full disk (errno ENOSPC, or its message says so)."""
    import errno

    while error is not None:
        if getattr(error, "errno", None) == errno.ENOSPC or any(sign in str(error) for sign in DISK_FULL_SIGNS):
            return True
        error = error.__cause__ or error.__context__
    return False


def run_command(
    prog: str,
    work: Callable[[], int | None],
    *,
    debug: bool,
    interrupted: str = "interrupted",
    report: Callable[[Exception], bool] = lambda error: True,
) -> int:
    """Run a console script's ``work`` and return its exit code: 130 on Ctrl-C, 1 on an error (printed as one line).

    With ``debug`` an error is re-raised with its traceback; ``report(error)`` false keeps it silent.
    """
    try:
        return work() or 0
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        if report(error):
            print(f"{prog}: error: {one_line_message(error)}", file=sys.stderr)
        return 1


class NonFiniteLossError(HyperfitError):
    """The training loss became NaN or infinite; training stopped before the optimizer applied it."""

    def __init__(self, loss: float, step: int, epoch: float, last_checkpoint: str | None):
        self.loss, self.step, self.epoch, self.last_checkpoint = loss, step, epoch, last_checkpoint
        kept = (
            f"the last good checkpoint is {last_checkpoint}"
            if last_checkpoint
            else "no checkpoint was saved before it"
        )
        super().__init__(
            f"training loss is {loss} at step {step} (epoch {epoch:.2f}): stopped, {kept}; "
            "lower --learning_rate (or train in float32 instead of --fp16) and start again with --overwrite"
        )


class OneLineUsageErrors:
    """``argparse`` parser mixin: a bad option is one line on stderr (exit 2), not the whole usage; ``--help`` keeps
    it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class OneLineArgumentParser(OneLineUsageErrors, argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with one-line usage errors."""


def model_not_found(name: str, option: str, reason: str | None = None) -> HyperfitError:
    """The one-line error for a model that is no local folder and did not load as a Hub id (shared by the CLIs)."""
    if (
        name.startswith((".", "/", "~")) or name.count("/") > 1
    ):  # a path: the Hub would say "Repo id must be in the form"
        problem = "no such folder"
    else:
        problem = f"no local folder of that name, and not loadable from the Hugging Face Hub ({reason or 'not found'})"
    return HyperfitError(
        f"cannot load model {name!r}: {problem}: give the folder of a saved model or a Hub id as {option}"
    )
