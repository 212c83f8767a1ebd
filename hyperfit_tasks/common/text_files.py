"""Reading text files: one map of file extension to ``datasets`` builder, UTF-8 checks, and the readers built on them.

Training and held-out data (:func:`load_text_dataset`), the tasks' ``data_files`` (:func:`read_data_files`) and
the controls' text files (:func:`read_texts`) all go through here, so a bad file (empty, not UTF-8, unparsable, a
text column of numbers) gets the same one-line error from the trainer and from the tasks.
"""

from __future__ import annotations

import json
from pathlib import Path

from hyperfit_tasks.common.errors import HyperfitError, TrainingDataError, first_line

LOCAL_BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def load_text_dataset(
    source: str,
    text_field: str = "text",
    config: str | None = None,
    split: str = "train",
    role: str = "training data",
    option: str = "--dataset_text_field",
):
    """A ``datasets.Dataset`` with one text per row in column ``text_field`` (``option`` names it in errors).

    ``source`` is a local file (``.txt`` read as one document in column ``text``; ``.jsonl``,
    ``.json``, ``.parquet``, ``.csv``), a local folder, or a Hugging Face Hub dataset id.
    """
    path = Path(source).expanduser()
    if path.is_file():
        builder = check_text_file(path, role)
        options = {"sample_by": "document"} if builder == "text" else {}
        dataset = _load(role, source, builder, data_files=str(path), split="train", **options)
        if builder == "text":
            text_field = "text"
    elif path.is_dir():
        dataset = _load(role, source, str(path), split=split)
    elif path.suffix.lower() in LOCAL_BUILDERS or source.startswith((".", "/", "~")):
        raise HyperfitError(f"{role} file not found: {path}: check the path")
    else:
        dataset = _load(role, source, source, name=config, split=split)
    if text_field not in dataset.column_names:
        raise HyperfitError(
            f"{role} {source} has no '{text_field}' column (columns: {', '.join(dataset.column_names) or 'none'}): "
            f"set {option} to the column that holds the text"
        )
    check_text_column(dataset, text_field, f"{role} {source}", option)
    return dataset.select_columns([text_field])


def check_text_file(path: Path, role: str) -> str:
    """The ``datasets`` builder of the local file ``path``, after checking that it can hold text: a known extension,
    not empty, UTF-8 (``datasets`` would fail on these later with ``StopIteration`` or a bare
    ``UnicodeDecodeError``)."""
    builder = LOCAL_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise HyperfitError(f"{role} {path} has an unsupported extension: use {', '.join(LOCAL_BUILDERS)}")
    if path.stat().st_size == 0:
        raise HyperfitError(f"{role} file {path} is empty: give a file with text")
    if builder != "parquet":
        check_utf8(path, role)
    return builder


def check_text_column(dataset, text_field: str, subject: str, option: str) -> None:
    """Fail with one line unless the existing column ``text_field`` of ``dataset`` (``subject`` in the message) holds
    strings and has rows; ``option`` is the setting that names the column."""
    dtype = getattr(dataset.features[text_field], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise HyperfitError(
            f"{subject} column '{text_field}' holds {dtype or 'non-text values'}, not text: set {option}"
        )
    if len(dataset) == 0:
        raise HyperfitError(f"{subject} has no rows: give a file with text")


def check_utf8(path: Path, role: str, chunk_bytes: int = 1 << 20) -> None:
    """Fail with one line if a text file is not valid UTF-8 (``datasets`` would fail later, mid-tokenization)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(chunk_bytes)
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                position = offset - pending + error.start
                raise HyperfitError(
                    f"{role} file {path} is not UTF-8 text (byte {position}): convert it to UTF-8"
                ) from None
            if not chunk:
                return
            offset += len(chunk)


def _load(role: str, source: str, path: str, **kwargs):
    from datasets import load_dataset

    try:
        return load_dataset(path, **kwargs)
    except Exception as error:  # datasets raises many types (FileNotFoundError, DatasetGenerationError, ...)
        while error.__cause__ is not None:  # the root cause names the real problem (e.g. the JSON error)
            error = error.__cause__
        reason = first_line(error)
        local = "data_files" in kwargs or Path(source).expanduser().exists()
        fix = "check the file's format" if local else "give a local file or a reachable Hub dataset id"
        raise HyperfitError(f"cannot load {role} {source!r}: {reason}: {fix}") from None


def read_data_files(files: list[str]):
    """Rows of the tasks' local ``data_files`` through ``datasets`` (builder chosen by the file extension).

    Each file is checked first as the trainer's data is (:func:`check_text_file`), so a folder, an empty or a
    non-UTF-8 file, or one ``datasets`` cannot parse stops with one line naming the file and the fix.
    """
    for file in files:
        if Path(file).is_dir():
            raise HyperfitError(
                f"data file {file} is a folder, not a file: set data_files (in --metadata or dataset_kwargs) to the "
                "file(s) in it"
            )
        if not Path(file).is_file():
            raise FileNotFoundError(
                f"data file {file} does not exist: fix data_files (in --metadata or dataset_kwargs)"
            )
    suffixes = {Path(file).suffix.lower() for file in files}
    builders = {LOCAL_BUILDERS.get(suffix) for suffix in suffixes}
    if len(builders) != 1 or None in builders:
        raise ValueError(
            f"data files must share one of the extensions {', '.join(LOCAL_BUILDERS)}, got "
            f"{', '.join(sorted(suffixes))}"
        )
    for file in files:
        check_text_file(Path(file), "data")
    return _load("data", ", ".join(files), builders.pop(), data_files=files, split="train")


def read_texts(path: Path) -> list[str]:
    """Documents of a ``.jsonl``/``.json`` file (one ``{"text": ...}`` per line) or a whole text file as one."""
    check_utf8(path, "data")
    if path.suffix not in (".jsonl", ".json"):
        return [path.read_text(encoding="utf-8")]
    texts = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise TrainingDataError(
                    f'{path} line {number} is not JSON ({error.msg}): expected one {{"text": ...}} per line'
                ) from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise TrainingDataError(
                    f"{path} line {number} has no string 'text' field: expected one {{\"text\": ...}} per line"
                )
            texts.append(row["text"])
    return texts
