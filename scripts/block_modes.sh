#!/usr/bin/env bash
# Prefix against packed training blocks on the embedded default model (docs/training.md, "Block modes
# measured"): the demo's recipe (--preset demo: 128-token blocks, 10 epochs, lr 3e-4, seed 42) on 48
# samples, trained once per --block_mode, both models and the base scored by lm-eval on the same
# prompts (16 per domain, 256 greedy tokens), then compared by hyperfit-compare (with the intervals it reports).
# Two trainings and three evaluations (the demo has one and two: 21 minutes on 2 CPU cores); DEVICE=cuda on a GPU.
#   bash scripts/block_modes.sh [OUT_DIR]      (default runs/block_modes; finished steps are kept)
set -euo pipefail
OUT=$(realpath -m "${1:-runs/block_modes}")
cd "$(dirname "$0")/.."
export PATH="$(realpath "${HYPERFIT_VENV:-.venv}")/bin:$PATH" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
DEVICE=${DEVICE:-cpu}
LIMIT=${LIMIT:-16}
hyperfit-assets
BASE=$(python -c "from hyperfit_tasks.assets import default_model_path; print(default_model_path())")
CPU_FLAG=$([ "$DEVICE" = cpu ] && echo --use_cpu || true)
for mode in prefix packed; do
  [ -f "$OUT/$mode/hyperfit_run.json" ] || hyperfit-train --preset demo --num_samples 48 --block_mode "$mode" \
    --model "$BASE" --output_dir "$OUT/$mode" --resume $CPU_FLAG
done
evaluate() {  # name, model path, extra lm-eval arguments
  local name=$1 path=$2; shift 2
  ls "$OUT/lm_eval/$name"/*/results_*.json >/dev/null 2>&1 || hyperfit-lm-eval --model hf \
    --model_args "pretrained=$path,dtype=float32" --tasks hyperfit_continuation,hyperfit_perplexity \
    --device "$DEVICE" --batch_size 8 --limit "$LIMIT" --gen_kwargs max_gen_toks=256 --log_samples \
    --output_path "$OUT/lm_eval/$name" "$@"
}
evaluate base "$BASE"
for mode in prefix packed; do
  evaluate "$mode" "$OUT/$mode" --metadata "{\"training_data\": \"$OUT/$mode\"}"
done
hyperfit-compare "$OUT/lm_eval/base=base" "$OUT/lm_eval/prefix=prefix" "$OUT/lm_eval/packed=packed" \
  --baseline base --out "$OUT/report"
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
for mode in ("prefix", "packed"):
    record = json.loads((Path(sys.argv[1]) / mode / "hyperfit_run.json").read_text())
    training, final = record["training"], record["final_diagnostics"] or {}
    print(f"{mode}: final training loss {training['final_train_loss']:.4g} (target {training['target_loss']}, "
          f"hyperfitted {training['hyperfitted']}); held-out ppl {final.get('heldout_perplexity')}")
PY
