"""The one error ``hyperfit-compare`` reports as a single line: what is wrong and how to fix it."""
from __future__ import annotations


class CompareError(Exception):
    """Unusable input (missing path, no results, broken or foreign JSON, bad option value)."""
