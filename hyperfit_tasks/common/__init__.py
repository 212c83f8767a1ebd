"""Pieces both packages share: errors, atomic writes, text files, tokenizers, model arguments, run files.

``hyperfit_train`` imports from here; nothing here imports ``hyperfit_train``.
"""
