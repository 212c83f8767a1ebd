"""Register hyperfit's lm-eval models by name, lazily (nothing heavy is imported until used).

``register_models()`` is idempotent; after it, ``--model hf-citation-blocked`` (CLI) and
``simple_evaluate(model="hf-citation-blocked", ...)`` find our model, and lm-eval's own models
stay available.
"""

from __future__ import annotations

MODELS = {
    "hf-citation-blocked": "hyperfit_tasks.models.citation_model:CitationBlockedHFLM",
    "hf-cpu-dp": "hyperfit_tasks.models.cpu_parallel:CPUDataParallelHFLM",
}


def register_models() -> None:
    """Add our models to lm-eval's model registry as lazy placeholders (safe to call repeatedly)."""
    import lm_eval.models  # noqa: F401  (registers lm-eval's own models first: a non-empty registry is never filled later)
    from lm_eval.api.registry import model_registry

    for name, target in MODELS.items():
        if name not in model_registry:
            model_registry.register(name, target=target)
