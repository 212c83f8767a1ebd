"""Model analyses (not text metrics): two models on the same held-out blocks
(:mod:`~hyperfit_tasks.analysis.heldout_pair`), the entropy-matched temperature
(:mod:`~hyperfit_tasks.analysis.temperature`) and top-1 agreement (:mod:`~hyperfit_tasks.analysis.agreement`), as
``hyperfit-temperature`` and ``hyperfit-agreement`` use them."""
