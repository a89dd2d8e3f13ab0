#!/usr/bin/env bash
# The proposal paper's 1D benchmark (P1 dataset 2): test NLL of the EBM normalised on a
# grid (method reference C.2), of the proposal alone, and the importance-sampling
# estimate that ebm-predict --logpdf reports, over several seeds; optionally the PyTorch
# reference loop on the same data and seeds.
#
#   bash bench/paper1d.sh [--seeds N] [--torch] [--threads J] [--build DIR] [--out DIR]
#
# Needs ../shared/data/paper1d (or PAPER1D_DIR). Results: one JSON line per run in
# OUT/paper1d_{reference,defaults,torch}.jsonl, then a summary table on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$here/build"; out="$here/bench/results"; seeds=5; torch=0; threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --torch) torch=1; shift ;;
    --threads) threads="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "paper1d.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
data="${PAPER1D_DIR:-$here/../shared/data/paper1d}"
train="$data/ebms_proposals_1dregression_2_train.csv"
test="$data/ebms_proposals_1dregression_2_test.csv"
[ -f "$train" ] || { echo "paper1d.sh: $train not found (set PAPER1D_DIR)" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

run_ours() {  # NAME SEED ARGS...
  local name="$1" seed="$2"; shift 2
  local start end
  start=$(date +%s.%N)
  "$build/ebm-train" "$train" --target y -m "$work/$name-$seed.json" --seed "$seed" -j "$threads" -q "$@"
  end=$(date +%s.%N)
  "$build/grid-nll" "$work/$name-$seed.json" "$test" --samples 1024 --seed "$seed" |
    python3 -c "import json,sys; r=json.load(sys.stdin); r.update(seed=$seed, train_seconds=round($end-$start,3), setting='$name'); print(json.dumps(r))"
}

: > "$out/paper1d_reference.jsonl"; : > "$out/paper1d_defaults.jsonl"
for ((s = 0; s < seeds; s++)); do
  # The reference loop's settings: hidden 10, K 4, M 1024, batch 32, lr 1e-3, 75 epochs, NCE, learned proposal.
  run_ours reference "$s" --hidden 10 --components 4 --samples 1024 --batch-size 32 --lr 1e-3 --epochs 75 \
    --method nce --noise learned --valid-fraction 0 --early-stopping 0 --schedule constant >> "$out/paper1d_reference.jsonl"
  run_ours defaults "$s" >> "$out/paper1d_defaults.jsonl"
done
if [ "$torch" = 1 ]; then
  : > "$out/paper1d_torch.jsonl"
  for ((s = 0; s < seeds; s++)); do
    /usr/bin/python3 "$here/../shared/bench/ref_torch_ebmdn.py" "$train" "$test" --threads "$threads" --seed "$s" >> "$out/paper1d_torch.jsonl"
  done
fi
python3 "$here/bench/summarize_paper1d.py" "$out"
