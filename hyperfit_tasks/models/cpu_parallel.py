"""lm-eval model ``hf-cpu-dp``: lm-eval's HF model, data-parallel over CPU processes as well.

    ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 "$(which hyperfit-lm-eval)" --model hf-cpu-dp \\
        --model_args pretrained=MODEL --device cpu --tasks hyperfit_continuation ...

lm-eval's ``hf`` splits the documents over processes only when it counts more than one GPU: on
CPU processes every process evaluates every document. This model is ``hf`` (every argument
works) with the rank and world size taken from accelerate whenever it runs several processes, so
lm-eval's evaluator splits the requests and gathers every rank's samples before aggregating.
"""

from __future__ import annotations

from lm_eval.models.huggingface import HFLM


class CPUDataParallelHFLM(HFLM):
    """``HFLM`` that joins accelerate's process group on CPU too (one process: exactly ``hf``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        accelerator = getattr(self, "accelerator", None)  # HFLM keeps it only when accelerate runs > 1 process
        if accelerator is not None and self.world_size == 1:
            self._rank = accelerator.local_process_index  # as HFLM does on GPUs (one machine)
            self._world_size = accelerator.num_processes
