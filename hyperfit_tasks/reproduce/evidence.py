"""Read the outputs ``hyperfit-reproduce``'s steps leave under its output folder into a :class:`~.claims.Evidence`.

Each file is optional: a step that did not run leaves its part empty and the claims it feeds are "not measurable here".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperfit_tasks.common.run_files import has_results, read_diagnostics, read_json, read_run_record
from hyperfit_tasks.compare.data import read_table
from hyperfit_tasks.reproduce.claims import CONTINUATION, DOMAINS, HYPERFITTED, Evidence


def copy_counts(table: dict[str, Any] | None, run: str = HYPERFITTED) -> dict[str, tuple[int, int, float | None]]:
    """Per domain (continuations over 10 copied tokens, continuations, mean longest copied span) of ``run`` in a
    ``table.json``: the share from its cells, the count of documents from the run's lm-eval results file."""
    if not table:
        return {}
    cells = (table.get("cells") or {}).get(run) or {}
    record = next((entry for entry in table.get("runs") or [] if entry.get("name") == run), None)
    results = read_json(Path(record["results_file"])) if record and record.get("results_file") else None
    found = {}
    for domain in DOMAINS:
        task = f"{CONTINUATION}_{domain}"
        share = (cells.get(f"{task}/training_overlap_over_10") or {}).get("value")
        documents = (((results or {}).get("n-samples") or {}).get(task) or {}).get("effective")
        if isinstance(share, (int, float)) and isinstance(documents, int) and documents > 0:
            span = (cells.get(f"{task}/longest_training_span") or {}).get("value")
            found[domain] = (round(share * documents), documents, span)
    return found


def run_metrics(folder: Path | None, task: str | None) -> dict[str, float | None] | None:
    """The metrics (name -> value) of ``task`` in the newest lm-eval results under ``folder`` (a run that no comparison
    reads, as the judge's sanity control); None when the folder has no results or the task is absent."""
    if folder is None or task is None or not has_results(folder):
        return None
    from hyperfit_tasks.compare.results import find_results_files, read_results

    found = read_results(find_results_files(folder)[0]).metrics.get(task)
    return (
        {metric: measured.value for (metric, filter_name), measured in found.items() if filter_name == "none"}
        if found
        else None
    )


def load_evidence(
    tables: dict[str, Path],
    run_dir: Path,
    agreement_order: Path,
    temperature: Path,
    small: int | None,
    judge_control: Path | None = None,
    judge_task: str | None = None,
) -> Evidence:
    """Everything the claims read, from the files the steps wrote (``tables``: the ``table.json`` of each comparison,
    ``main``, ``decoding``, ``control`` and ``judge``; ``judge_control``: the judge's run on a degenerate loop, whose
    ``judge_task`` metrics claim 10 reads)."""
    main = read_table(tables["main"])
    return Evidence(
        main=main,
        decoding=read_table(tables["decoding"]),
        control=read_table(tables["control"]),
        run_record=read_run_record(run_dir),
        diagnostics=read_diagnostics(run_dir),
        agreement_order=read_json(agreement_order),
        temperature=read_json(temperature),
        copies=copy_counts(main),
        small_samples=small,
        judge=read_table(tables["judge"]),
        judge_control=run_metrics(judge_control, judge_task),
        judge_task=judge_task,
    )
