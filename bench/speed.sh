#!/usr/bin/env bash
# Training and prediction speed against the PyTorch reference loop, same data and work.
#   bash bench/speed.sh [--epochs N] [--threads "1 2"] [--hidden "10 128"]
# Trains on the paper's 1D data (1710 rows, M = 1024, batch 32, K = 4) for a few epochs
# with each tool and prints seconds per epoch; then times ebm-predict on the test set.
# Run it on an otherwise idle machine.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$here/build"; epochs=3; threads_list="1 2"; hidden_list="10 128"
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --hidden) hidden_list="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    *) echo "speed.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
data="${PAPER1D_DIR:-$here/../shared/data/paper1d}"
train="$data/ebms_proposals_1dregression_2_train.csv"; test="$data/ebms_proposals_1dregression_2_test.csv"
ref="$here/../shared/bench/ref_torch_ebmdn.py"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
echo "| hidden | threads | ebm s/epoch | PyTorch s/epoch | speed-up |"
echo "| --- | --- | --- | --- | --- |"
for h in $hidden_list; do
  for t in $threads_list; do
    start=$(date +%s.%N)
    "$build/ebm-train" "$train" --target y -m "$work/m.json" --hidden "$h" --components 4 --samples 1024 \
      --batch-size 32 --epochs "$epochs" --valid-fraction 0 --no-calibrate -j "$t" -q
    end=$(date +%s.%N)
    ours=$(python3 -c "print(($end - $start) / $epochs)")
    if [ -f "$ref" ] && [ "${SKIP_TORCH:-0}" != 1 ]; then
      torch=$(/usr/bin/python3 "$ref" "$train" "$test" --epochs "$epochs" --hidden "$h" --threads "$t" --grid -12.5 12.5 64 |
              python3 -c "import json,sys; print(json.load(sys.stdin)['seconds_per_epoch'])")
    else
      torch=nan
    fi
    python3 -c "o=$ours; t=float('$torch'); print(f'| $h | $t | {o:.3f} | {t:.3f} | {t/o:.1f}x |')"
  done
done
# Prediction: 1900 rows, 1024 proposal samples each, mean/std/interval/logpdf.
"$build/ebm-train" "$train" --target y -m "$work/p.json" --hidden 10 --epochs 1 --samples 64 -q
for t in $threads_list; do
  start=$(date +%s.%N)
  "$build/ebm-predict" -m "$work/p.json" "$test" --samples 1024 --interval 0.9 --logpdf -j "$t" -o /dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'ebm-predict, 1900 rows x 1024 samples, {$t} thread(s): {($end - $start):.3f} s')"
done

# Memory: peak resident set of ebm-predict on 10,000 and 1,000,000 generated rows through a
# pipe (M = 64 so that the million rows take seconds; the chunked pipeline holds the same
# number of rows in memory whatever M is). Peak from /proc/PID/status VmHWM.
peak_mb() {  # ROWS
  awk -v rows="$1" 'BEGIN { print "x"; for (i = 0; i < rows; i++) printf "%.4f\n", -10 + 20 * ((i * 7919) % 100003) / 100003 }' |
    "$build/ebm-predict" -m "$work/p.json" --samples 64 --interval 0.9 -j 2 -o /dev/null &
  local pid=$! peak=0 hwm
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    sleep 0.05
  done
  wait "$pid"
  echo "$((peak / 1024))"
}
small=$(peak_mb 10000); large=$(peak_mb 1000000)
echo "ebm-predict peak memory: 10,000 rows ${small} MB, 1,000,000 rows ${large} MB"
