#!/usr/bin/env bash
# Reliability v2 (issue 14): behaviours that succeed or end by a signal, so they do not fit
# the one-error-line corpus of errors.sh. Each check names its item of the issue.
#   - signals: SIGINT/SIGTERM during ebm-predict/ebm-sample -o leave no temporary file;
#     SIGINT while ebm-train waits for its input ends it at once; SIGHUP during training
#     saves the checkpoint like SIGTERM (items 9)
#   - --resume with a larger --epochs equals the longer run; other data is refused (7, 8)
#   - ebm-sample ignores a blank target cell (11); a recorded config replays a path with
#     '#' (16); a 250-character output name works (15); -m through a symlink keeps the
#     link and the file's mode (18); --keep cells do not make memory grow with the chunk,
#     nor a line of commas with its cells (6)
# Called by ctest as: bash tests/cli/reliability.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
set -m   # job control: background tools get SIGINT as from a terminal, not ignored
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ebm-rel.XXXXXX")"; trap 'exec 3>&- 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
train="$build/ebm-train" predict="$build/ebm-predict" sample="$build/ebm-sample"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
no_temporaries() {  # WHAT
  local left; left=$(find . -maxdepth 1 -name '.*.tmp.*')
  [[ -z "$left" ]] || { fail "$1: temporary files left: $(echo $left)"; rm -f ./.*.tmp.*; }
}
head -n 201 "$src/data/bimodal_train.csv" > train.csv
tiny=(--hidden 4 --samples 4 --batch-size 32 -q --x-embedding none)
"$train" train.csv --target y -m model.json --epochs 1 "${tiny[@]}" || { echo "FAIL: training the fixture" >&2; exit 1; }

# ---- item 9: signals leave no temporary file; SIGINT is not held up by a waiting read
for tool in predict sample; do
  for sig in INT TERM HUP; do
    rm -f in.fifo && mkfifo in.fifo
    if [[ $tool == predict ]]; then
      "$predict" -m model.json in.fifo -o out.csv 2> /dev/null &
    else
      "$sample" -m model.json in.fifo -n 2 -o out.csv 2> /dev/null &
    fi
    pid=$!
    exec 3> in.fifo
    printf 'x,y\n1,2\n' >&3
    for _ in $(seq 50); do [[ -n "$(find . -maxdepth 1 -name '.out.csv.tmp.*')" ]] && break; sleep 0.1; done
    kill -$sig $pid
    for _ in $(seq 50); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
    kill -0 $pid 2> /dev/null && fail "ebm-$tool still runs 5 s after SIG$sig"
    exec 3>&-
    wait $pid 2> /dev/null
    [[ ! -e out.csv ]] || fail "ebm-$tool -o out.csv: SIG$sig left out.csv"
    no_temporaries "ebm-$tool -o out.csv, SIG$sig"
  done
done
rm -f in.fifo && mkfifo in.fifo
"$train" in.fifo --target y -m waiting.json --epochs 1 "${tiny[@]}" 2> /dev/null &
pid=$!
exec 3> in.fifo
printf 'x,y\n1,2\n' >&3
sleep 0.5
kill -INT $pid
for _ in $(seq 50); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
kill -0 $pid 2> /dev/null && fail "ebm-train reading a pipe ignored SIGINT for 5 s"
exec 3>&-
wait $pid 2> /dev/null
[[ ! -e waiting.json ]] || fail "ebm-train interrupted while reading wrote waiting.json"
no_temporaries "ebm-train interrupted while reading"
# SIGHUP during training: like SIGTERM, the last complete epoch is saved (exit 130).
"$train" "$src/data/bimodal_train.csv" --target y -m hup.json --epochs 100000 --checkpoint-every 1 "${tiny[@]}" \
  2> hup.err &
pid=$!
for _ in $(seq 300); do [[ -e hup.json ]] && break; sleep 0.1; done
kill -HUP $pid
wait $pid; code=$?
[[ $code == 130 ]] || fail "ebm-train SIGHUP: exit $code, expected 130 ($(head -c 200 hup.err))"
python3 -c 'import json,sys; j=json.load(open("hup.json")); assert j["resume"]["epochs_done"] >= 1' 2> /dev/null ||
  fail "ebm-train SIGHUP: hup.json is not a complete resumable checkpoint"
no_temporaries "ebm-train SIGHUP"

# ---- item 7: --resume with a larger --epochs is the longer run, bit for bit
"$train" train.csv --target y -m two.json --epochs 2 --checkpoint-every 1 --seed 3 "${tiny[@]}" &&
  "$train" train.csv --target y -m extended.json --epochs 4 --checkpoint-every 1 --seed 3 "${tiny[@]}" \
    --resume two.json 2> extend.err &&
  "$train" train.csv --target y -m four.json --epochs 4 --checkpoint-every 1 --seed 3 "${tiny[@]}" ||
  fail "extending with --resume: $(cat extend.err)"
cmp -s extended.json four.json || fail "--resume two.json --epochs 4 differs from a 4-epoch run"
# Under --x-embedding auto (the default) --resume continues the embedding of its checkpoint.
small=(--hidden 4 --samples 4 --batch-size 32 -q)
"$train" train.csv --target y -m p2.json --epochs 2 --checkpoint-every 1 --seed 3 "${small[@]}" --x-embedding periodic &&
  "$train" train.csv --target y -m p4.json --epochs 4 --checkpoint-every 1 --seed 3 "${small[@]}" --resume p2.json \
    2> p4.err || fail "--resume of a periodic model under auto: $(cat p4.err)"
python3 -c 'import json; a = json.load(open("p4.json"))["architecture"]; assert a["x_embedding"] == "periodic", a' ||
  fail "--resume under auto did not keep the checkpoint's embedding"
"$train" train.csv --target y -m cos2.json --epochs 2 --checkpoint-every 1 --schedule cosine "${tiny[@]}"
"$train" train.csv --target y -m cos4.json --epochs 4 --checkpoint-every 1 --schedule cosine "${tiny[@]}" \
  --resume cos2.json 2> cosine.err && fail "--resume of a cosine schedule with other --epochs was accepted"
grep -q "cosine schedule's learning rate depends on the number of epochs" cosine.err ||
  fail "cosine extension: unexpected message: $(cat cosine.err)"

# ---- item 8: the same means and spreads with the targets moved between rows is other data
# (integer targets and no validation split: the statistics are exactly equal)
python3 -c '
with open("ints.csv", "w") as f, open("swapped.csv", "w") as g:
    f.write("x,y\n"); g.write("x,y\n")
    ys = [i % 8 for i in range(40)]
    zs = ys[1:2] + ys[0:1] + ys[2:]
    for i in range(40):
        f.write("%g,%d\n" % (i / 40, ys[i])); g.write("%g,%d\n" % (i / 40, zs[i]))'
"$train" ints.csv --target y -m ints.json --epochs 2 --checkpoint-every 1 --valid-fraction 0 "${tiny[@]}" ||
  fail "training ints.csv"
"$train" swapped.csv --target y -m other.json --epochs 2 --checkpoint-every 1 --valid-fraction 0 "${tiny[@]}" \
  --resume ints.json 2> other.err && fail "--resume accepted targets moved between rows"
grep -q "ints.json: was trained on different data (the fingerprint of the training values differs)" other.err ||
  fail "other data: unexpected message: $(cat other.err)"
"$train" ints.csv --target y -m same.json --epochs 3 --checkpoint-every 1 --valid-fraction 0 "${tiny[@]}" \
  --resume ints.json 2> same.err || fail "--resume on the same data: $(cat same.err)"

# ---- item 11: ebm-sample never reads the targets, so a blank one is no error
printf 'x,y\n1,\n2,\n' > blank_y.csv
"$sample" -m model.json blank_y.csv -n 2 > blank.out 2> blank.err || fail "ebm-sample refused a blank target: $(cat blank.err)"
[[ "$(wc -l < blank.out)" == 5 ]] || fail "ebm-sample with blank targets: $(wc -l < blank.out) lines, expected 5"

# ---- item 16: a path with '#' survives --print-config and --config
cp train.csv "my data #1.csv"
"$train" "my data #1.csv" --target y -m hash.json --epochs 1 "${tiny[@]}" --print-config > hash.toml &&
  "$train" --config hash.toml 2> hash.err || fail "replaying a config with '#' in a path: $(cat hash.err)"
[[ -e hash.json ]] || fail "replaying a config with '#' in a path wrote no model"

# ---- item 15: the longest valid output name (the temporary name is shortened)
long=$(printf 'p%.0s' $(seq 250)).csv
"$predict" -m model.json "$src/data/bimodal_test.csv" -o "$long" 2> long.err || fail "a 254-byte output name: $(cat long.err)"
[[ -s "$long" ]] || fail "a 254-byte output name: no output"
no_temporaries "a 254-byte output name"

# ---- item 18: -m through a symbolic link replaces the file it points to, keeping its mode
cp model.json private.json && chmod 600 private.json && ln -s private.json link.json
"$train" train.csv --target y -m link.json --epochs 2 "${tiny[@]}" || fail "training into a symlink"
[[ -L link.json ]] || fail "-m link.json replaced the symbolic link by a file"
[[ "$(stat -c %a private.json)" == 600 ]] || fail "-m link.json: private.json has mode $(stat -c %a private.json), expected 600"
cmp -s private.json model.json && fail "-m link.json did not write through the link"

# ---- item 6: --keep cells end a chunk early: memory does not hold 1024 rows of them
# (ldd's output is read whole: with pipefail, `ldd | grep -q` fails when grep stops reading
# first, which made the sanitized build run these memory bounds now and then.)
linked=$(ldd "$predict" 2> /dev/null || true)
if command -v /usr/bin/time > /dev/null && [[ $linked != *libasan* ]]; then
  python3 -c '
import sys
cell = "k" * (1 << 18)
with open("wide_keep.csv", "w") as f:
    f.write("x,y,note\n")
    for i in range(300): f.write("%d,1,%s\n" % (i % 7, cell))'
  /usr/bin/time -f %M -o keep.rss "$predict" -m model.json wide_keep.csv --keep note --samples 8 -o /dev/null ||
    fail "--keep with 256 KiB cells failed"
  rss=$(tail -n 1 keep.rss)
  (( rss < 60000 )) || fail "--keep with 300 cells of 256 KiB (75 MB): peak RSS $rss KB, expected < 60 MB"
  # A 16 MB line of commas: the cells beyond the header's width are counted, not stored
  # (before: 16 million empty strings, 1.09 GB).
  { printf 'x,y\n1,2\n'; head -c 16000000 /dev/zero | tr '\0' ','; printf '\n'; } > commas.csv
  /usr/bin/time -f %M -o commas.rss "$predict" -m model.json commas.csv -o /dev/null 2> commas.err
  grep -qx "ebm-predict: error: commas.csv:3: expected 2 cells, found 16000001" commas.err ||
    fail "a line of 16 million commas: $(head -c 200 commas.err)"
  rss=$(tail -n 1 commas.rss)
  (( rss < 200000 )) || fail "a line of 16 million commas: peak RSS $rss KB, expected < 200 MB"
fi

if [[ $failures -gt 0 ]]; then echo "reliability: $failures checks failed" >&2; exit 1; fi
echo "reliability: ok"
