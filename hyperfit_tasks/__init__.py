"""hyperfit's lm-evaluation-harness plugin, its metrics, result comparison, and the pieces the trainer shares.

Importing this package is cheap (it imports nothing); lm-eval imports the modules its task YAMLs name with
``!function``. Subpackages and where new code goes: ``docs/layout.md``; tasks: ``task_configs/README.md``.
"""
