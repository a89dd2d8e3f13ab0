#!/usr/bin/env bash
# Progress on a terminal: ebm-predict and ebm-sample show rows and rows/s on stderr when it
# is a terminal (here a pseudo-terminal from script(1)), nothing with -q, nothing when
# stderr is redirected; the output is the same either way.
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
command -v script > /dev/null || { echo "progress: script(1) not installed, skipped"; exit 0; }
"$build/ebm-train" "$src/data/bimodal_train.csv" -t y -m m.json --epochs 1 --hidden 8 --samples 8 -q || exit 1
rows=100000   # about a second of work here; a sanitizer build is 20x slower, so fewer rows
grep -qE '^EBM_SANITIZE:[A-Z]+=.+' "$build/CMakeCache.txt" 2>/dev/null && rows=10000
awk -v rows="$rows" 'BEGIN { print "x"; for (i = 0; i < rows; i++) printf "%.3f\n", -3 + 6 * (i % 1000) / 1000 }' > many.csv
# Enough rows for at least a second of work, so that the 250 ms redraw happens.
script -qec "$build/ebm-predict -m m.json many.csv --samples 64 -o tty.csv" tty.log > /dev/null ||
  fail "ebm-predict under a terminal failed"
grep -q "rows/s" tty.log || fail "no 'rows/s' progress on a terminal: $(tail -c 200 tty.log | cat -v)"
grep -q $'\r\033\[K' tty.log || fail "the progress line is not redrawn in place"
script -qec "$build/ebm-predict -m m.json many.csv --samples 64 -o quiet.csv -q" quiet.log > /dev/null
grep -q "rows/s" quiet.log && fail "-q still shows progress"
grep -q "warning" quiet.log && fail "-q still shows the extrapolation warning"
"$build/ebm-predict" -m m.json many.csv --samples 64 -o plain.csv 2> plain.err
# x runs over [-3, 3), beyond the training rows at the ends: the one warning line, nothing else.
grep -v '^ebm-predict: warning: of [0-9]* rows, [1-9][0-9]* have features outside the training range' plain.err > other.err
[ -s other.err ] && fail "progress written to a redirected stderr: $(head -c 200 other.err)"
[ "$(wc -l < plain.err)" = 1 ] || fail "expected one warning line on stderr, found: $(head -c 300 plain.err)"
grep -q $'\033\[K[^\r]*warning' tty.log || fail "the warning does not follow the erased progress line: $(tail -c 300 tty.log | cat -v)"
cmp -s tty.csv plain.csv || fail "the output depends on whether stderr is a terminal"
cmp -s quiet.csv plain.csv || fail "the output depends on -q"
script -qec "$build/ebm-sample -m m.json many.csv -n 4 --proposal-samples 64 -o s.csv" sample.log > /dev/null ||
  fail "ebm-sample under a terminal failed"
grep -q "rows/s" sample.log || fail "ebm-sample shows no progress on a terminal"
if [ "$failures" -gt 0 ]; then echo "progress: $failures checks failed" >&2; exit 1; fi
echo "progress: ok"
