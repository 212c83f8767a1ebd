"""The chains of steps that ``hyperfit-demo`` and ``hyperfit-reproduce`` share: the step runner, the command-line
builders and the task groups both chains evaluate (:mod:`hyperfit_tasks.chains.steps`)."""
