"""hyperfit's lm-evaluation-harness plugin: task glue, metrics and result comparison.

Importing this package is cheap (it imports nothing); lm-eval imports the modules its task YAMLs
name with ``!function``. Tasks: ``task_configs/README.md``; usage: ``docs/tasks.md``.
"""
