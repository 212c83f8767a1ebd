"""hyperfit_train: hyperfit a causal LM with TRL's SFTTrainer and watch the sharpening while it trains.

Command line: ``hyperfit-train`` (:mod:`hyperfit_train.cli`). Python: parse options with
:func:`hyperfit_train.config.parse_args`, run with :func:`hyperfit_train.trainer.train`.
Importing this package stays light (no torch / transformers until a submodule needs them).
"""
