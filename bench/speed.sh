#!/usr/bin/env bash
# Speed and memory of ebm against the PyTorch reference loop, same data and work, same run.
#   bash bench/speed.sh [--reps N] [--threads "1 2"] [--build DIR]
# Run it on an otherwise idle machine. Prints markdown tables for docs/benchmarks.md:
#  1. training, paper setting: 1D data (1710 rows), H 10, K 4, M 1024, batch 32, NCE with
#     the learned proposal; seconds per epoch, median of --reps runs of 3 epochs each;
#  2. training, wide network: 512 rows of power-plant (4 features), H 128, same loop, one
#     epoch per run; seconds per epoch, and GFLOP/s of the energy network's dense
#     arithmetic (counted analytically) against Eigen's single-precision GEMM peak;
#  3. prediction: rows/s of ebm-predict --samples 1024 --interval 0.9 (mean, std, 90%
#     interval) against the same computation in PyTorch (bench/torch_predict.py);
#  4. memory: peak resident memory of ebm-predict on 10,000 and 1,000,000 rows read from
#     standard input.
# --sections "train predict memory" runs a subset (the memory part needs no reference).
# ebm's seconds are wall time of the whole command (start-up and data loading included);
# the reference reports its training loop only.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$here/build"; reps=3; threads_list="1 2"; sections="train predict memory"
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --sections) sections="$2"; shift 2 ;;
    *) echo "speed.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
data="${PAPER1D_DIR:-$here/../shared/data/paper1d}"
uci="${UCI_DIR:-$here/../shared/uci}"
ref="$here/../shared/bench/ref_torch_ebmdn.py"
torch_python=/usr/bin/python3
train="$data/ebms_proposals_1dregression_2_train.csv"; test="$data/ebms_proposals_1dregression_2_test.csv"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
head -n 513 "$uci/power-plant.csv" > "$work/wide_train.csv"              # header + 512 rows, y last
{ head -n 1 "$uci/power-plant.csv"; sed -n '600,1099p' "$uci/power-plant.csv"; } > "$work/wide_predict.csv"
head -n 11 "$work/wide_predict.csv" > "$work/wide_test.csv"

has() { [[ " $sections " == *" $1 "* ]]; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(v) for v in sys.argv[1:]))" "$@"; }
now() { date +%s.%N; }

# ebm-train seconds per epoch: TRAIN HIDDEN EPOCHS THREADS
ebm_epoch() {
  local start end
  start=$(now)
  "$build/ebm-train" "$1" --target y -m "$work/m.json" --hidden "$2" --components 4 --samples 1024 \
    --batch-size 32 --epochs "$3" --valid-fraction 0 --no-calibrate -j "$4" -q
  end=$(now)
  python3 -c "print(($end - $start) / $3)"
}
# reference seconds per epoch: TRAIN TEST HIDDEN EPOCHS THREADS
torch_epoch() {
  "$torch_python" "$ref" "$1" "$2" --hidden "$3" --epochs "$4" --threads "$5" --grid -5 5 64 |
    python3 -c "import json,sys; print(json.load(sys.stdin)['seconds_per_epoch'])"
}

if has train; then
peak=$("$build/gemm-peak" 2048 5 | python3 -c "import json,sys; print(json.load(sys.stdin)['gflops'])")
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); Eigen SGEMM 2048^3, one thread: $peak GFLOP/s"
echo
echo "| benchmark | threads | ebm s/epoch | PyTorch s/epoch | speed-up | ebm GFLOP/s (energy net) | % of peak |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
# Energy network flops per candidate and pass: y-branch (1->H, H->H), joint Wy (H->H),
# residual block (H->H), output (H->1); forward 2*(3H^2 + 2H), backward twice that.
for setting in paper wide; do
  if [ "$setting" = paper ]; then tr="$train"; te="$test"; h=10; epochs=3; rows=1710
  else tr="$work/wide_train.csv"; te="$work/wide_test.csv"; h=128; epochs=1; rows=512; fi
  for t in $threads_list; do
    ours=(); theirs=()
    for _ in $(seq "$reps"); do
      ours+=("$(ebm_epoch "$tr" "$h" "$epochs" "$t")")
      if [ -f "$ref" ] && [ "${SKIP_TORCH:-0}" != 1 ]; then theirs+=("$(torch_epoch "$tr" "$te" "$h" "$epochs" "$t")"); fi
    done
    o=$(median "${ours[@]}"); r=$([ ${#theirs[@]} -gt 0 ] && median "${theirs[@]}" || echo nan)
    python3 -c "
o, r, h, rows, t, peak = $o, float('$r'), $h, $rows, $t, $peak
flops = rows * 1025 * 3 * 2 * (3 * h * h + 2 * h)
g = flops / o / 1e9
print(f'| $setting (H {h}, {rows} rows) | {t} | {o:.3f} | {r:.3f} | {r / o:.1f}x | {g:.1f} | {100 * g / (peak * t):.0f}% |')"
  done
done

fi

"$build/ebm-train" "$train" --target y -m "$work/p10.json" --hidden 10 --epochs 1 --samples 64 -q
"$build/ebm-train" "$work/wide_train.csv" --target y -m "$work/p128.json" --hidden 128 --epochs 1 --samples 16 -q
if has predict; then
echo
echo "| prediction (M 1024, mean/std/90% interval) | threads | ebm rows/s | PyTorch rows/s | speed-up |"
echo "| --- | --- | --- | --- | --- |"
for setting in paper wide; do
  if [ "$setting" = paper ]; then model="$work/p10.json"; input="$test"; h=10
  else model="$work/p128.json"; input="$work/wide_predict.csv"; h=128; fi
  rows=$(($(wc -l < "$input") - 1))
  for t in $threads_list; do
    ours=(); theirs=()
    for _ in $(seq "$reps"); do
      start=$(now)
      "$build/ebm-predict" -m "$model" "$input" --samples 1024 --interval 0.9 -j "$t" -q -o /dev/null
      end=$(now)
      ours+=("$(python3 -c "print($rows / ($end - $start))")")
      if [ -f "$ref" ] && [ "${SKIP_TORCH:-0}" != 1 ]; then
        theirs+=("$("$torch_python" "$here/bench/torch_predict.py" "$input" --hidden "$h" --threads "$t" |
                   python3 -c "import json,sys; print(json.load(sys.stdin)['rows_per_second'])")")
      fi
    done
    o=$(median "${ours[@]}"); r=$([ ${#theirs[@]} -gt 0 ] && median "${theirs[@]}" || echo nan)
    python3 -c "o, r = $o, float('$r'); print(f'| $setting (H $h, $rows rows) | $t | {o:.0f} | {r:.0f} | {o / r:.1f}x |')"
  done
done
fi

# Memory: peak resident set of ebm-predict on 10,000 and 1,000,000 generated rows (M = 64
# so that the million rows take seconds; the chunked pipeline holds the same number of
# rows in memory whatever M is). The peak is the kernel's maxrss of the one child process,
# read with getrusage after it exits (polling /proc/PID/status misses the peak of a run
# that ends within the polling interval).
peak_mb() {  # ROWS
  awk -v rows="$1" 'BEGIN { print "x"; for (i = 0; i < rows; i++) printf "%.4f\n", -10 + 20 * ((i * 7919) % 100003) / 100003 }' \
    > "$work/rows.csv"
  python3 - "$build/ebm-predict" "$work/p10.json" "$work/rows.csv" <<'PY'
import resource, subprocess, sys
predict, model, rows = sys.argv[1:4]
with open(rows) as source:
    subprocess.run([predict, "-m", model, "--samples", "64", "--interval", "0.9", "-j", "2", "-q", "-o", "/dev/null"],
                   stdin=source, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
PY
}
if has memory; then
  echo
  small=$(peak_mb 10000); large=$(peak_mb 1000000)
  echo "ebm-predict peak resident memory: 10,000 rows ${small} MB, 1,000,000 rows ${large} MB"
fi
