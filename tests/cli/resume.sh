#!/usr/bin/env bash
# Long runs and hostile conditions:
#  * SIGINT / SIGTERM after the first periodic checkpoint: exit 130, a complete checkpoint
#    with a "resume" block; --resume then finishes bit-identically to an uninterrupted
#    run, also with another thread count;
#  * diverging training: exit 1, a message naming epoch and batch, no checkpoint;
#  * a reader that stops early (| head): the tools end quietly;
#  * a full disk (/dev/full): an error and exit 1; a device given as -o is written to,
#    never replaced.
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"
# Background training runs still alive on exit (a failed check) are stopped.
cleanup() { local p; for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
# Every check runs; the failures are listed at the end.
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
data="$src/data/bimodal_train.csv"; test_data="$src/data/bimodal_test.csv"
cd "$work"

# --------------------------------------------------------------------------- interrupt + resume
opts=(--target y --epochs 16 --checkpoint-every 2 --hidden 32 --samples 64 --seed 5 -q --x-embedding none)
# A sanitizer build (EBM_SANITIZE in the CMake cache) is 20-40x slower: a smaller network.
if grep -qE '^EBM_SANITIZE:[A-Z]+=.+' "$build/CMakeCache.txt" 2>/dev/null; then
  opts=(--target y --epochs 16 --checkpoint-every 2 --hidden 16 --samples 16 --seed 5 -q --x-embedding none)
fi
"$train" "$data" "${opts[@]}" -j 2 -m full.json || { fail "uninterrupted run failed"; exit 1; }

# interrupt_and_resume SIGNAL THREADS_FIRST THREADS_RESUMED
interrupt_and_resume() {
  local signal="$1" j1="$2" j2="$3" model="int_$1.json"
  "$train" "$data" "${opts[@]}" -j "$j1" -m "$model" 2> "train_$signal.err" &
  local pid=$!
  # The checkpoint appears by rename, so once it exists it is complete.
  for _ in $(seq 6000); do
    [ -e "$model" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  [ -e "$model" ] || { fail "$signal: no checkpoint appeared"; return; }
  kill "-$signal" "$pid"
  wait "$pid"
  local code=$?
  [ "$code" = 130 ] || { fail "$signal: exit status $code, expected 130 ($(cat "train_$signal.err"))"; return; }
  grep -q "interrupted" "train_$signal.err" || fail "$signal: no 'interrupted' message: $(cat "train_$signal.err")"
  ls -a | grep -q '\.tmp\.' && fail "$signal: temporary file left behind"
  python3 - "$model" <<'PY' || fail "$signal: interrupted checkpoint is incomplete"
import json, sys
c = json.load(open(sys.argv[1]))
r = c["resume"]
assert isinstance(r, dict), "no resume object"
assert 2 <= r["epochs_done"] < 16, r["epochs_done"]
assert len(r["history"]) == r["epochs_done"]
assert c["results"]["interrupted"] is True
PY
  "$train" "$data" "${opts[@]}" -j "$j2" -m "$model" --resume "$model" || { fail "$signal: --resume failed"; return; }
  cmp -s full.json "$model" || fail "$signal: resumed checkpoint differs from the uninterrupted run's"
}
interrupt_and_resume INT 2 2
interrupt_and_resume TERM 2 1

# --------------------------------------------------------------------------- divergence
echo "precious" > keep.json
"$train" "$data" --target y --epochs 3 --hidden 8 --samples 8 -q --lr 1e4 -m diverged.json 2> diverge.err
code=$?
[ "$code" = 1 ] || fail "diverging run: exit $code, expected 1"
grep -qE '^ebm-train: error: .*epoch [0-9]+.*batch [0-9]+' diverge.err ||
  fail "divergence message does not name the epoch and batch: $(cat diverge.err)"
[ -e diverged.json ] && fail "diverging run left a checkpoint"
"$train" "$data" --target y --epochs 3 --hidden 8 --samples 8 -q --lr 1e4 -m keep.json 2> /dev/null
[ "$(cat keep.json)" = precious ] || fail "diverging run modified an existing checkpoint"
ls -a | grep -q '\.tmp\.' && fail "diverging run left a temporary file"

# --------------------------------------------------------------------------- early reader exit
"$train" "$data" --target y --epochs 1 --hidden 8 --samples 8 -q -m small.json || { fail "training small.json"; exit 1; }
# Enough rows that the output cannot fit in the pipe buffer: the tools must meet the
# closed pipe, not finish before head exits.
awk 'BEGIN { print "x"; for (i = 0; i < 20000; i++) printf "%.4f\n", -3 + 6 * (i % 997) / 997 }' > many.csv
"$predict" -m small.json many.csv --samples 8 2> head_predict.err | head -n 5 > head.out
codes=("${PIPESTATUS[@]}")
[ "$(wc -l < head.out)" = 5 ] || fail "| head -n 5 did not get 5 lines"
[ -s head_predict.err ] && fail "ebm-predict | head wrote to stderr: $(cat head_predict.err)"
case "${codes[0]}" in 0|141) ;; *) fail "ebm-predict | head: exit status ${codes[0]}" ;; esac
"$sample" -m small.json many.csv -n 10 --proposal-samples 8 2> head_sample.err | head -n 5 > head.out
codes=("${PIPESTATUS[@]}")
[ -s head_sample.err ] && fail "ebm-sample | head wrote to stderr: $(cat head_sample.err)"
case "${codes[0]}" in 0|141) ;; *) fail "ebm-sample | head: exit status ${codes[0]}" ;; esac

# --------------------------------------------------------------------------- full disk
# Before the fix in OutputFile, -o DEVICE renamed a regular file over the device node
# wherever /dev was writable (as root): restore the devices if that ever happens again.
restore_device() {  # NAME MINOR
  if [ ! -c "/dev/$1" ] && [ "$(id -u)" = 0 ]; then rm -f "/dev/$1" && mknod -m 666 "/dev/$1" c 1 "$2"; fi
}
to_full() { "$@" > /dev/full; }
if [ -c /dev/full ]; then
  # expect_full DESCRIPTION COMMAND...: exit 1 and an error line naming the program.
  expect_full() {
    local what="$1"; shift
    "$@" 2> full.err
    local code=$?
    if [ ! -c /dev/full ]; then restore_device full 7; fail "$what replaced the /dev/full device"; fi
    [ "$code" = 1 ] || fail "$what: exit $code, expected 1 ($(cat full.err))"
    # The errno of the failed write, also on standard output (it read "Input/output error").
    grep -qE '^ebm-[a-z]+: error: .*cannot write: No space left on device$' full.err ||
      fail "$what: no 'No space left on device' error: $(cat full.err)"
    [ "$(wc -l < full.err)" -le 1 ] || fail "$what: more than one line on stderr: $(cat full.err)"
  }
  expect_full "ebm-predict > /dev/full" to_full "$predict" -m small.json "$test_data" --samples 8
  expect_full "ebm-predict -o /dev/full" "$predict" -m small.json "$test_data" --samples 8 -o /dev/full
  expect_full "ebm-predict --metrics /dev/full" "$predict" -m small.json "$test_data" --samples 8 \
    --metrics /dev/full -o pred.csv
  [ -e pred.csv ] && fail "ebm-predict exited 1 (metrics not written) but left its -o output pred.csv"
  expect_full "ebm-sample > /dev/full" to_full "$sample" -m small.json "$test_data" -n 3
  expect_full "ebm-sample -o /dev/full" "$sample" -m small.json "$test_data" -n 3 -o /dev/full
  expect_full "ebm-train -m /dev/full" "$train" "$data" --target y --epochs 1 --hidden 4 --samples 4 -q -m /dev/full
else
  echo "resume: /dev/full missing, full-disk checks skipped"
fi
# Writing to a device works and leaves it a device.
"$predict" -m small.json "$test_data" --samples 8 -o /dev/null
code=$?
if [ ! -c /dev/null ]; then restore_device null 3; fail "-o /dev/null replaced the /dev/null device"; fi
[ "$code" = 0 ] || fail "-o /dev/null: exit $code"
if [ "$failures" -gt 0 ]; then echo "resume: $failures checks failed" >&2; exit 1; fi
echo "resume: ok"
