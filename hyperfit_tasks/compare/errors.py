"""The one error ``hyperfit-compare`` reports as a single line: what is wrong and how to fix it."""
from __future__ import annotations

from hyperfit_tasks.common.errors import HyperfitError


class CompareError(HyperfitError):
    """Unusable input (missing path, no results, broken or foreign JSON, bad option value)."""
