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
# An unknown method lists the seven.
if "$train" "$work/one.csv" --target y -m "$work/x.json" --method cd 2> "$work/err"; then fail "--method cd accepted"; fi
grep -q "ml-is, kld-is, ml-mcmc, nce, nce+, dsm or sm" "$work/err" || fail "unknown method message: $(cat "$work/err")"
echo "methods: ok"
