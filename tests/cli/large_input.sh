#!/usr/bin/env bash
# A million rows streamed through ebm-predict: every row comes out, and memory stays flat
# (rows are read, predicted and written in chunks).
#
# In a sanitizer build (EBM_SANITIZE set in BUILD_DIR/CMakeCache.txt) the run is 20x
# shorter and the memory limit is not checked: AddressSanitizer's shadow memory and
# quarantine make the resident size meaningless, and the full run would take minutes.
set -euo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
rows=1000000
limit_mb=200
if grep -qE '^EBM_SANITIZE:[A-Z]+=.+' "$build/CMakeCache.txt" 2>/dev/null; then
  rows=50000
  limit_mb=
fi

"$build/ebm-train" "$src/data/bimodal_train.csv" --target y -m "$work/model.json" --hidden 8 --epochs 1 --samples 16 -q
# Header: the model's feature columns, whatever they are.
header=$(python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["features"]))' "$work/model.json")
generate() {
  awk -v rows="$rows" -v header="$header" 'BEGIN {
    print header
    width = split(header, names, ",")
    for (i = 0; i < rows; i++) {
      line = ""
      for (j = 1; j <= width; j++) line = line (j > 1 ? "," : "") sprintf("%.5f", -3 + 6 * ((i * 7919 + j * 104729) % 100003) / 100003)
      print line
    }
  }'
}

start=$(date +%s.%N)
if [ -x /usr/bin/time ] && [ -z "${EBM_TEST_NO_GNU_TIME:-}" ]; then
  generate | /usr/bin/time -v -o "$work/time.txt" "$build/ebm-predict" -m "$work/model.json" --samples 32 \
    > "$work/pred.csv" || fail "ebm-predict failed"
  peak_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
else
  # No GNU time (it is not installed by default): poll the high-water mark of the
  # resident set, VmHWM, until the process exits. (EBM_TEST_NO_GNU_TIME=1 forces this path.)
  generate | "$build/ebm-predict" -m "$work/model.json" --samples 32 > "$work/pred.csv" &
  pid=$!
  peak_kb=0
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak_kb" ] && peak_kb=$hwm
    sleep 0.1
  done
  wait "$pid" || fail "ebm-predict failed"
fi
seconds=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')

lines=$(wc -l < "$work/pred.csv")
[ "$lines" = $((rows + 1)) ] || fail "expected $rows prediction rows, got $((lines - 1))"
[ "$(head -n 1 "$work/pred.csv")" = "y_mean,y_std" ] || fail "header: $(head -n 1 "$work/pred.csv")"
awk -F, 'NR > 1 && (NF != 2 || $2 !~ /^[0-9.e+-]+$/ || $2 <= 0) { print "bad line " NR ": " $0; exit 1 }' "$work/pred.csv" ||
  fail "bad prediction values"
[ -n "$peak_kb" ] && [ "$peak_kb" -gt 0 ] || fail "could not measure the peak memory"
peak_mb=$((peak_kb / 1024))
echo "large_input: $rows rows in ${seconds}s, peak resident memory ${peak_mb} MB"
if [ -n "$limit_mb" ] && [ "$peak_mb" -ge "$limit_mb" ]; then
  fail "peak resident memory ${peak_mb} MB, limit ${limit_mb} MB"
fi
echo "large_input: ok"
