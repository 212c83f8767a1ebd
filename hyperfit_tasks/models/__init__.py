"""hyperfit's lm-eval models: ``hf-citation-blocked`` and its citation-blocking ``LogitsProcessor``."""
