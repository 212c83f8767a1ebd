"""Pieces both packages share: errors, atomic writes, text files, model arguments, run files, training tokens.

``hyperfit_train`` imports from here; nothing here imports ``hyperfit_train``.
"""
