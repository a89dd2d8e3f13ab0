#!/usr/bin/env bash
# Resource limits (ulimit -v) as batch systems impose them: worker threads that cannot be
# created mean fewer threads, not a hang; too little memory is one error line and exit 1,
# quickly. Every run has a time limit: before the fix, -j 16 under a 120 MB limit never
# returned. (Skipped in the sanitizer build: AddressSanitizer reserves terabytes of
# virtual address space and cannot start under ulimit -v.)
set -uo pipefail
build="$1"; src="$2"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
linked=$(ldd "$build/ebm-predict" 2> /dev/null || true)  # read whole: `ldd | grep -q` can fail under pipefail
if [[ $linked == *libasan* ]]; then
  echo "limits: skipped under AddressSanitizer"
  exit 0
fi
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
"$build/ebm-train" "$src/data/bimodal_train.csv" --target y -m model.json --epochs 1 --hidden 8 --samples 8 --ensemble 1 -q ||
  { echo "FAIL: training the test model" >&2; exit 1; }
"$build/ebm-predict" -m model.json "$src/data/bimodal_test.csv" -j 1 -o expected.csv

# Room for the process but not for 15 more thread stacks of 8 MB: fewer threads, same output.
( ulimit -v 300000; timeout 60 "$build/ebm-predict" -m model.json "$src/data/bimodal_test.csv" -j 16 -o got.csv \
    2> got.err ); code=$?
[[ $code == 0 ]] || fail "ebm-predict -j 16 under ulimit -v 300000: exit $code ($(head -c 200 got.err))"
cmp -s expected.csv got.csv || fail "ebm-predict -j 16 under ulimit -v 300000 gave other predictions than -j 1"

# Too little memory for the work: one error line, exit 1, no output file, well within the time limit.
( ulimit -v 120000; timeout 60 "$build/ebm-predict" -m model.json "$src/data/bimodal_test.csv" -j 16 -o small.csv \
    2> small.err ); code=$?
[[ $code == 1 || $code == 0 ]] || fail "ebm-predict -j 16 under ulimit -v 120000: exit $code (124 = hung)"
if [[ $code == 1 ]]; then
  [[ $(wc -l < small.err) == 1 ]] && grep -q '^ebm-predict: error: ' small.err ||
    fail "ebm-predict under ulimit -v 120000: not one error line: $(head -c 300 small.err)"
  [[ ! -e small.csv ]] || fail "ebm-predict under ulimit -v 120000 left small.csv"
fi

# Training with far more threads than can be created.
( ulimit -v 2000000; timeout 120 "$build/ebm-train" "$src/data/bimodal_train.csv" --target y -m many.json \
    --epochs 1 --hidden 8 --samples 8 -q -j 1024 2> many.err ); code=$?
[[ $code == 0 || $code == 1 ]] || fail "ebm-train -j 1024 under ulimit -v 2000000: exit $code ($(head -c 200 many.err))"

if [[ $failures -gt 0 ]]; then
  echo "limits: $failures check(s) failed" >&2
  exit 1
fi
echo "limits: ok"
