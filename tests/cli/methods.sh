#!/usr/bin/env bash
# Every training method from the command line, on one and two targets: the checkpoint
# records the method and exactly the method's own settings, the run is reproducible, and
# ebm-predict and ebm-sample work on it as on any other model. sm refuses ReLU clearly.
set -euo pipefail
build="$1"; src="$2"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
head -301 "$src/data/bimodal_train.csv" > "$work/one.csv"
head -301 "$src/data/twotarget_train.csv" > "$work/two.csv"
tiny="--epochs 2 --hidden 8 --samples 16 --activation tanh -q --seed 5"
two_targets="--target y1 --target y2"

for method in ml-is kld-is ml-mcmc nce nce+ dsm sm; do
  "$train" "$work/one.csv" --target y -m "$work/$method-1.json" --method "$method" $tiny ||
    fail "$method: training on one target failed"
  # shellcheck disable=SC2086
  "$train" "$work/two.csv" $two_targets -m "$work/$method-2.json" --method "$method" $tiny ||
    fail "$method: training on two targets failed"
  python3 - "$method" "$work/$method-1.json" "$work/$method-2.json" <<'PY' || fail "$method: checkpoint record"
import json, math, sys
method = sys.argv[1]
own = {"kld-is": ["label_sigma"], "ml-mcmc": ["mcmc_steps", "mcmc_step_size"], "dsm": ["dsm_sigma"]}.get(method, [])
others = {"label_sigma", "mcmc_steps", "mcmc_step_size", "dsm_sigma"} - set(own)
for path in sys.argv[2:]:
    c = json.load(open(path))
    t = c["training"]
    assert t["method"] == method, (path, t["method"])
    for key in own:
        assert key in t, (path, key)
    for key in others:
        assert key not in t, (path, key)
        assert key.replace("_", "-") + "=" not in t["config"], (path, key)
    assert math.isfinite(c["results"]["train_loss"]), (path, c["results"]["train_loss"])
PY
  "$predict" -m "$work/$method-1.json" "$src/data/bimodal_test.csv" --logpdf -o "$work/p.csv" ||
    fail "$method: ebm-predict failed"
  [ "$(wc -l < "$work/p.csv")" = 501 ] || fail "$method: expected 500 prediction rows"
  "$sample" -m "$work/$method-2.json" "$src/data/twotarget_test.csv" -n 3 --seed 1 > "$work/s.csv" ||
    fail "$method: ebm-sample failed"
done

# Same options, same bytes (the methods' own random streams included).
"$train" "$work/one.csv" --target y -m "$work/again.json" --method ml-mcmc $tiny
cmp -s "$work/ml-mcmc-1.json" "$work/again.json" || fail "ml-mcmc: a repeated run differs"
"$train" "$work/one.csv" --target y -m "$work/again.json" --method dsm $tiny -j 2
cmp -s "$work/dsm-1.json" "$work/again.json" || fail "dsm: the result depends on the thread count"

# sm with ReLU: a usage error naming the smooth activations, and no checkpoint.
if "$train" "$work/one.csv" --target y -m "$work/relu.json" --method sm --epochs 1 -q 2> "$work/err"; then
  fail "sm with relu should fail"
fi
grep -q -- "--activation tanh or silu" "$work/err" || fail "sm/relu message: $(cat "$work/err")"
[ -e "$work/relu.json" ] && fail "sm/relu wrote a checkpoint"
# --energy-form relative (f = log q + g), on one and two targets: said in the log, recorded
# as format version 3 and in the architecture, not calibrated, and predictions, modes and
# Langevin samples work on it; the same options give the same bytes.
for method in sm nce; do
  "$train" "$work/one.csv" --target y -m "$work/rel-$method.json" --method "$method" --energy-form relative \
    --epochs 2 --hidden 8 --samples 16 --activation tanh --seed 5 --no-progress 2> "$work/rel.err" ||
    fail "relative $method: training failed: $(cat "$work/rel.err")"
  grep -q "energy log q + g (proposal fitted by likelihood, no calibration)" "$work/rel.err" ||
    fail "relative $method: not said: $(cat "$work/rel.err")"
done
# shellcheck disable=SC2086
"$train" "$work/two.csv" $two_targets -m "$work/rel-2.json" --method sm --energy-form relative $tiny ||
  fail "relative sm on two targets"
python3 - "$work/rel-sm.json" "$work/rel-nce.json" "$work/rel-2.json" <<'PY' || fail "relative energy: checkpoint record"
import json, sys
for path in sys.argv[1:]:
    c = json.load(open(path))
    assert c["format_version"] == 3, (path, c["format_version"])
    assert c["architecture"]["energy_form"] == "relative", (path, c["architecture"])
    assert c["results"]["temperature"] == 1 and c["results"]["proposal_scale"] == 1, (path, c["results"])
PY
"$predict" -m "$work/rel-sm.json" "$src/data/bimodal_test.csv" --logpdf --mode --interval 0.9 -o "$work/rel.csv" ||
  fail "relative: ebm-predict failed"
python3 - "$work/rel.csv" <<'PY' || fail "relative: predictions (see above)"
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 500, len(rows)
for r in rows:
    values = [float(r[k]) for k in ("y_mean", "y_lo", "y_hi", "y_mode", "log_density")]
    assert all(math.isfinite(v) for v in values), r
    assert float(r["y_lo"]) <= float(r["y_hi"]), r
PY
"$sample" -m "$work/rel-2.json" "$src/data/twotarget_test.csv" -n 3 --langevin-steps 2 --seed 1 > "$work/rel-s.csv" ||
  fail "relative: ebm-sample with Langevin steps failed"
"$train" "$work/one.csv" --target y -m "$work/rel-again.json" --method sm --energy-form relative \
  --epochs 2 --hidden 8 --samples 16 --activation tanh --seed 5 -q
cmp -s "$work/rel-sm.json" "$work/rel-again.json" || fail "relative sm: a repeated run differs"
if "$train" "$work/one.csv" --target y -m "$work/x.json" --energy-form sideways -q 2> "$work/err"; then
  fail "--energy-form sideways accepted"
fi
grep -q "energy-form" "$work/err" || fail "--energy-form sideways: message $(cat "$work/err")"

# An unknown method lists the seven.
if "$train" "$work/one.csv" --target y -m "$work/x.json" --method cd 2> "$work/err"; then fail "--method cd accepted"; fi
grep -q "ml-is, kld-is, ml-mcmc, nce, nce+, dsm or sm" "$work/err" || fail "unknown method message: $(cat "$work/err")"
echo "methods: ok"
