"""Which Trainer checkpoints are complete, so that ``--resume`` never starts from a half-written one.

``transformers.Trainer`` writes ``checkpoint-<step>/`` in place: the model, then the optimizer,
scheduler and RNG states, then ``trainer_state.json`` last, and only after that deletes older
checkpoints. A process killed part-way leaves a folder that ``get_last_checkpoint`` would still
pick. Here a checkpoint counts as complete only if its ``trainer_state.json`` names its own step
and every file resuming reads opens cleanly (safetensors headers and sizes, ``torch.save`` zip archives).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from hyperfit_tasks.common.run_files import checkpoint_step

MODEL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin")


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` cannot be resumed from (one phrase), or None when it is complete."""
    step = checkpoint_step(path)
    state_file = path / "trainer_state.json"
    if not state_file.is_file():
        return "no trainer_state.json (the save was interrupted)"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unreadable trainer_state.json"
    if state.get("global_step") != step:
        return f"trainer_state.json is for step {state.get('global_step')}, not {step}"
    weights = [path / name for name in MODEL_WEIGHTS if (path / name).is_file()]
    if not weights:
        return "no model weights"
    for weight in weights:
        problem = _weights_problem(weight)
        if problem:
            return problem
    if (path / "optimizer.pt").is_file():
        if not (path / "scheduler.pt").is_file():  # the Trainer then silently skips loading the optimizer too
            return "no scheduler.pt next to optimizer.pt"
    elif not _has_sharded_optimizer(path):
        return "no optimizer state"
    for name in ("optimizer.pt", "scheduler.pt", "scaler.pt"):
        if (path / name).is_file() and not _torch_file_opens(path / name):
            return f"{name} is damaged"
    rng_files = sorted(path.glob("rng_state*.pth"))
    if not rng_files:
        return "no RNG state"
    ranks = sorted(int(name.stem.rsplit("_", 1)[1]) for name in rng_files if name.stem != "rng_state")
    if ranks != list(range(len(ranks))):
        return f"RNG states of ranks {ranks} are not 0..{len(ranks) - 1}"
    for rng_file in rng_files:
        if not _torch_file_opens(rng_file):
            return f"{rng_file.name} is damaged"
    return None


def scan_checkpoints(output_dir: Path) -> tuple[Path | None, dict[Path, str]]:
    """The newest complete checkpoint in ``output_dir`` (or None) and ``{incomplete checkpoint: problem}``."""
    folders = sorted(
        (
            path
            for path in Path(output_dir).glob("checkpoint-*")
            if path.is_dir() and checkpoint_step(path) is not None
        ),
        key=checkpoint_step,
    )
    incomplete = {}
    complete = None
    for folder in folders:
        problem = checkpoint_problem(folder)
        if problem:
            incomplete[folder] = problem
        else:
            complete = folder
    return complete, incomplete


def _weights_problem(path: Path) -> str | None:
    if path.suffix == ".json":  # sharded safetensors: every shard named in the index must open
        try:
            shards = set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError):
            return f"unreadable {path.name}"
        for shard in sorted(shards):
            problem = _weights_problem(path.parent / shard) if (path.parent / shard).is_file() else f"missing {shard}"
            if problem:
                return problem
        return None
    if path.suffix == ".bin":
        return None if _torch_file_opens(path) else f"{path.name} is damaged"
    return None if _safetensors_opens(path) else f"{path.name} is damaged"


def _safetensors_opens(path: Path) -> bool:
    """True if the header parses and the file is as long as the header says (truncation fails here)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
        return True
    except Exception:  # safetensors raises its own error types for truncated or corrupt files
        return False


def _torch_file_opens(path: Path) -> bool:
    """True if ``path`` is a whole ``torch.save`` zip archive: its central directory, written last, is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _has_sharded_optimizer(path: Path) -> bool:
    """FSDP (``optimizer_0/``) and DeepSpeed (``global_step*/``) keep the optimizer in folders."""
    return any(path.glob("optimizer_*")) or any(path.glob("global_step*"))
