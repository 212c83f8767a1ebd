"""lm-eval glue of the ``hyperfit_*`` tasks: the task class, document loaders, ``process_results`` and aggregations.

The task YAMLs in ``task_configs/`` name these functions with ``!function``.
"""
