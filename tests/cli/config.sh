#!/usr/bin/env bash
# --config / --print-config: a configuration file sets any option, the command line wins,
# unknown keys are errors; the checkpoint records the effective options, and training
# again from them reproduces the checkpoint byte for byte.
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
data="$src/data/bimodal_train.csv"; test_data="$src/data/bimodal_test.csv"

"$train" "$data" -t y -m a.json --epochs 2 --hidden 8 --samples 16 --seed 3 --method nce+ -q || { fail "training a.json"; exit 1; }
python3 -c 'import json, sys; sys.stdout.write(json.load(open("a.json"))["training"]["config"])' > a.toml ||
  fail "the checkpoint has no training.config"
grep -qx 'hidden=8' a.toml || fail "recorded config lacks hidden=8: $(cat a.toml)"
grep -qx 'method="nce+"' a.toml || fail "recorded config lacks the method"
grep -q '^model=' a.toml && fail "recorded config contains the output path"
"$train" --config a.toml -m b.json || fail "training from the recorded config"
cmp -s a.json b.json || fail "the checkpoint trained from its recorded config differs"

# The command line wins over the file.
"$train" --config a.toml -m c.json --hidden 4 || fail "training with --config and --hidden"
python3 -c 'import json; assert json.load(open("c.json"))["architecture"]["hidden"] == 4' || fail "--hidden 4 did not win over hidden=8"

# --print-config prints what would run, in the same format, and does nothing else.
"$train" --config a.toml -m d.json --seed 9 --print-config > printed.toml || fail "--print-config"
[ -e d.json ] && fail "--print-config trained a model"
grep -qx 'seed=9' printed.toml || fail "--print-config does not show the command-line seed"
grep -qx 'hidden=8' printed.toml || fail "--print-config does not show the file's hidden"
"$predict" -m a.json --samples 32 --interval 0.8 --print-config > p.toml || fail "ebm-predict --print-config"
"$predict" --config p.toml "$test_data" > p1.csv || fail "ebm-predict --config"
"$predict" -m a.json --samples 32 --interval 0.8 "$test_data" > p2.csv
cmp -s p1.csv p2.csv || fail "ebm-predict with the printed config gives other output"
head -n 1 p1.csv | grep -qx 'y_mean,y_std,y_lo,y_hi' || fail "ebm-predict --config: header $(head -n 1 p1.csv)"
"$sample" -m a.json -n 3 --print-config | grep -qx 'draws=3\|n=3' || fail "ebm-sample --print-config lacks the draw count"

# Errors: an unknown key names the file and the key; a missing file; both exit 2.
printf 'hidden = 8\nbogus = 3\n' > bad.toml
"$train" "$data" -t y -m e.json --config bad.toml 2> err.txt
code=$?
[ "$code" = 2 ] || fail "unknown key: exit $code"
grep -q "^ebm-train: error: bad.toml: unknown option 'bogus'" err.txt || fail "unknown key message: $(cat err.txt)"
"$train" "$data" -t y -m e.json --config nosuch.toml 2> err.txt
[ $? = 2 ] && grep -q "^ebm-train: error: nosuch.toml: cannot read the configuration file" err.txt ||
  fail "missing config file: $(cat err.txt)"
[ -e e.json ] && fail "a failed run wrote its checkpoint"

if [ "$failures" -gt 0 ]; then echo "config: $failures checks failed" >&2; exit 1; fi
echo "config: ok"
