"""Which floating-point precision runs: bf16 where the hardware multiplies bf16 matrices natively, fp32 where it does
not.

Both packages choose through :func:`resolve_precision`: ``hyperfit-train --precision`` (bf16 mixed precision with
float32 master weights, TrainingArguments' ``bf16``) and the chains' evaluations (lm-eval's ``dtype`` model argument,
:func:`lm_eval_dtype`). Nothing is assumed about the machine: without native bf16 matrix instructions torch emulates
bf16 more slowly than fp32, so ``auto`` picks fp32 there and an explicit bf16 request is a one-line error.

Detection (:func:`bf16_support`), in this order:

* ``HYPERFIT_BF16=1`` / ``HYPERFIT_BF16=0`` in the environment forces the answer (tests, or a machine the detection
  misjudges); any other value is an error;
* CPU: torch's own CPU capability probe, ``torch.cpu.get_capabilities()`` (cpuinfo, the CPUID flags), must report
  ``amx_bf16`` (Intel Sapphire Rapids and later) or ``avx512_bf16`` (Intel Cooper Lake, AMD Zen 4 and later), and
  torch must be built with oneDNN (``torch.backends.mkldnn``), whose kernels use those instructions. Not
  ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: it is true on any AVX-512 CPU, where oneDNN emulates bf16.
  Other CPU architectures (ARM) count as unsupported: fp32, as before;
* CUDA and XPU: ``torch.<device>.is_bf16_supported(including_emulation=False)`` (native bf16, e.g. CUDA compute
  capability 8.0 or later); other devices count as unsupported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hyperfit_tasks.common.errors import HyperfitError

PRECISIONS = ("auto", "fp32", "bf16")
BF16_OVERRIDE = "HYPERFIT_BF16"  # environment variable: 1 or 0 forces the detection's answer
LM_EVAL_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
CPU_BF16_FLAGS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"))  # torch.cpu.get_capabilities() keys


@dataclass(frozen=True)
class Bf16Support:
    """Whether ``device`` multiplies bf16 matrices natively, and what the detection found (for run records and
    errors)."""

    supported: bool
    found: str


def bf16_support(device="cpu") -> Bf16Support:
    """Detect native bf16 matrix multiplication on ``device`` (a name such as ``cpu``, ``cuda:0``, or a
    torch.device)."""
    override = os.environ.get(BF16_OVERRIDE)
    if override is not None:
        if override not in ("0", "1"):
            raise HyperfitError(
                f"{BF16_OVERRIDE} must be 1 (bf16 supported) or 0 (not), got {override!r}: fix it or unset it to "
                "detect the hardware"
            )
        return Bf16Support(override == "1", f"forced by {BF16_OVERRIDE}={override}")
    import torch

    kind = torch.device(device).type
    if kind == "cpu":
        capabilities = torch.cpu.get_capabilities()
        found = [name for flag, name in CPU_BF16_FLAGS if capabilities.get(flag)]
        if not found:
            return Bf16Support(
                False, f"{capabilities.get('architecture', 'this')} CPU without AMX-BF16 or AVX512-BF16"
            )
        if not torch.backends.mkldnn.is_available():
            return Bf16Support(False, f"{' and '.join(found)} CPU, but torch is built without oneDNN")
        return Bf16Support(True, f"{' and '.join(found)} CPU")
    backend = getattr(torch, kind, None)
    if kind in ("cuda", "xpu") and backend.is_available():
        supported = backend.is_bf16_supported(including_emulation=False)
        return Bf16Support(supported, f"{kind} device with{'' if supported else 'out'} native bf16")
    return Bf16Support(False, f"{kind} device (bf16 support not detected on it)")


def resolve_precision(requested: str, device="cpu", option: str | None = None) -> str:
    """``"fp32"`` or ``"bf16"`` for ``requested`` (``auto``, ``fp32`` or ``bf16``) on ``device``.

    ``auto`` is bf16 where :func:`bf16_support` finds it, else fp32; ``bf16`` where it is not found is a one-line error
    naming ``option`` (default ``--precision bf16``), since emulated bf16 runs slower than fp32.
    """
    if requested not in PRECISIONS:
        raise HyperfitError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "fp32":
        return "fp32"
    support = bf16_support(device)
    if support.supported:
        return "bf16"
    if requested == "auto":
        return "fp32"
    raise HyperfitError(
        f"{option or '--precision bf16'}: no native bf16 matrix multiply here ({support.found}), so torch would "
        "emulate bf16, slower than fp32: use --precision fp32, or --precision auto (which picks fp32 on this machine)"
    )


def precision_of_dtype(dtype: object) -> str | None:
    """``fp32`` or ``bf16`` for lm-eval's ``dtype`` ``float32`` or ``bfloat16`` (the inverse of :func:`lm_eval_dtype`),
    else None."""
    return {value: name for name, value in LM_EVAL_DTYPES.items()}.get(dtype)


def lm_eval_dtype(precision: str) -> str:
    """lm-eval's ``dtype`` model argument for a resolved precision (``fp32`` -> ``float32``, ``bf16`` ->
    ``bfloat16``)."""
    try:
        return LM_EVAL_DTYPES[precision]
    except KeyError:
        raise HyperfitError(
            f"precision must be fp32 or bf16 (resolve 'auto' first with resolve_precision), got {precision!r}"
        ) from None
