#!/usr/bin/env bash
# End-to-end smoke test of the three tools on the bundled data, through files and pipes:
# checks headers, row counts, finiteness, orderings and determinism, not just exit codes.
set -euo pipefail
build="$1"; src="$2"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
tiny="--epochs 3 --hidden 16 --samples 32 -q"

# Train from a file and from stdin: same data, same seed -> byte-identical checkpoints
# (apart from the recorded data source).
"$train" "$src/data/bimodal_train.csv" --target y -m "$work/m.json" $tiny
cat "$src/data/bimodal_train.csv" | "$train" - --target y -m "$work/m_stdin.json" $tiny
python3 - "$work/m.json" "$work/m_stdin.json" <<'PY' || fail "stdin-trained checkpoint differs"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d["training"].pop("data")
    d["training"].pop("config", None)  # records DATA, which differs
assert a == b
assert a["format"] == "ebm-checkpoint" and a["features"] == ["x"] and a["targets"] == ["y"]
PY

# Predict through a file and through a pipe.
"$predict" -m "$work/m.json" "$src/data/bimodal_test.csv" --interval 0.9 --quantiles 0.05,0.5,0.95 --mode \
  --logpdf --keep x --metrics "$work/metrics.json" -o "$work/pred.csv" 2> "$work/err"
[ -s "$work/err" ] && fail "ebm-predict wrote to stderr: $(cat "$work/err")"
[ "$(head -1 "$work/pred.csv")" = "x,y_mean,y_std,y_lo,y_hi,y_q0.05,y_q0.5,y_q0.95,y_mode,log_density" ] ||
  fail "unexpected header: $(head -1 "$work/pred.csv")"
[ "$(wc -l < "$work/pred.csv")" = 501 ] || fail "expected 500 prediction rows"
awk -F, 'NR > 1 {
  for (i = 1; i <= NF; i++) if ($i !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) { print "non-numeric " $i; exit 1 }
  if ($3 <= 0) { print "std <= 0 on line " NR; exit 1 }
  if (!($4 <= $7 && $7 <= $5)) { print "lo <= median <= hi violated on line " NR; exit 1 }
  if (!($6 <= $7 && $7 <= $8)) { print "quantiles not ordered on line " NR; exit 1 } }' "$work/pred.csv" ||
  fail "bad prediction values"
cat "$src/data/bimodal_test.csv" | "$predict" -m "$work/m.json" --interval 0.9 --quantiles 0.05,0.5,0.95 --mode \
  --logpdf --keep x > "$work/pred_pipe.csv"
cmp -s "$work/pred.csv" "$work/pred_pipe.csv" || fail "pipe and file predictions differ"
python3 - "$work/metrics.json" <<'PY' || fail "metrics JSON"
import json, math, sys
m = json.load(open(sys.argv[1]))
for k in ("rows", "nll", "rmse", "mae", "crps", "coverage"):
    assert k in m, k
assert m["rows"] == 500
assert all(math.isfinite(m[k]) for k in ("nll", "rmse", "mae", "crps", "coverage"))
assert 0 <= m["coverage"] <= 1
PY

# Threads and repeated runs: byte-identical output.
"$predict" -m "$work/m.json" "$src/data/bimodal_test.csv" --interval 0.9 -j 1 > "$work/j1.csv"
"$predict" -m "$work/m.json" "$src/data/bimodal_test.csv" --interval 0.9 -j 2 > "$work/j2.csv"
cmp -s "$work/j1.csv" "$work/j2.csv" || fail "predictions depend on the thread count"

# Sample: rows x N lines, row and sample indices in order.
"$sample" -m "$work/m.json" "$src/data/bimodal_test.csv" -n 7 --seed 3 > "$work/s.csv"
[ "$(head -1 "$work/s.csv")" = "row,sample,y" ] || fail "sample header: $(head -1 "$work/s.csv")"
[ "$(wc -l < "$work/s.csv")" = 3501 ] || fail "expected 3500 sample rows"
awk -F, 'NR > 1 { r = int((NR - 2) / 7); s = (NR - 2) % 7; if ($1 != r || $2 != s) { print "bad index on line " NR; exit 1 } }' \
  "$work/s.csv" || fail "sample indices"
"$sample" -m "$work/m.json" "$src/data/bimodal_test.csv" -n 7 --seed 3 --langevin-steps 3 > "$work/s2.csv"
[ "$(wc -l < "$work/s2.csv")" = 3501 ] || fail "langevin sample rows"

# Two targets and a text id column.
"$train" "$src/data/twotarget_train.csv" --target y1 --target y2 -m "$work/m2.json" $tiny
head -6 "$src/data/twotarget_test.csv" | "$predict" -m "$work/m2.json" --interval 0.8 > "$work/p2.csv"
[ "$(head -1 "$work/p2.csv")" = "y1_mean,y1_std,y1_lo,y1_hi,y2_mean,y2_std,y2_lo,y2_hi" ] || fail "two-target header"
[ "$(wc -l < "$work/p2.csv")" = 6 ] || fail "two-target rows"
"$train" "$src/data/multi_train.csv" --target y -m "$work/m3.json" $tiny
python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['features']; assert f == ['x1','x2','x3','x4','x5'], f" \
  "$work/m3.json" || fail "text id column must not be a feature"
# (to a file, not "| head": with pipefail a reader that stops early fails the pipeline)
"$predict" -m "$work/m3.json" "$src/data/multi_test.csv" --keep id > "$work/p3.csv"
[ "$(sed -n 3p "$work/p3.csv" | cut -d, -f1)" = r0002 ] || fail "--keep id"
[ "$(head -1 "$work/p3.csv")" = "id,y_mean,y_std" ] || fail "--keep id header: $(head -1 "$work/p3.csv")"
echo "smoke: ok"
