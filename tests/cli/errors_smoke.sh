#!/usr/bin/env bash
# Bad input: one line on stderr naming program, file, line and column; exit 1 for data
# errors and 2 for usage errors; nothing on stdout; no output file left behind.
set -uo pipefail
build="$1"; src="$2"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
"$build/ebm-train" "$src/data/bimodal_train.csv" --target y -m model.json --epochs 1 --hidden 8 --samples 8 -q
printf 'x,y\n1,2\n3,abc\n' > bad_cell.csv
printf 'x,y\n1,2\n3\n' > ragged.csv
printf 'x,y\n' > header_only.csv
: > empty.csv
printf 'x,y\n1,inf\n' > nan.csv  # (nan itself is a missing value)
printf 'x,x\n1,2\n' > dup.csv
printf 'z\n1\n' > no_x.csv
printf '{"format": "other"}' > notours.json
printf '{"format": "ebm-checkpoint", "format_version": 9}' > newer.json
head -c 300 model.json > truncated.json

# expect EXIT PATTERN COMMAND...
expect() {
  local code="$1" pattern="$2"; shift 2
  rm -f out.csv out.json
  "$@" > stdout.txt 2> stderr.txt < /dev/null
  local got=$?
  local lines; lines=$(wc -l < stderr.txt)
  if [ "$got" != "$code" ] || ! grep -qE "$pattern" stderr.txt || [ "$lines" != 1 ] || [ -s stdout.txt ] ||
     [ -e out.csv ] || [ -e out.json ] || ls -a | grep -q '\.tmp\.'; then
    echo "FAIL: $* -> exit $got (want $code), stderr: $(cat stderr.txt)" >&2
    failures=$((failures + 1))
  fi
}
T="$build/ebm-train"; P="$build/ebm-predict"; S="$build/ebm-sample"
expect 1 '^ebm-train: error: bad_cell.csv:3:2: column .y.: expected a number, found .abc.' $T bad_cell.csv --target y -m out.json
expect 1 '^ebm-train: error: ragged.csv:3: expected 2 cells, found 1' $T ragged.csv --target y -m out.json
expect 1 '^ebm-train: error: header_only.csv: no data rows' $T header_only.csv --target y -m out.json
expect 1 '^ebm-train: error: empty.csv' $T empty.csv --target y -m out.json
expect 1 '^ebm-train: error: nan.csv:2:2: .*expected a number' $T nan.csv --target y -m out.json
expect 1 "^ebm-train: error: dup.csv:1: duplicate column name 'x'" $T dup.csv --target x -m out.json
expect 1 "^ebm-train: error: .*missing.csv: cannot open" $T missing.csv --target y -m out.json
expect 1 "^ebm-train: error: .*no column 'q'" $T "$src/data/bimodal_train.csv" --target q -m out.json
expect 1 "^ebm-train: error: no/such/dir/m.json: cannot create" $T "$src/data/bimodal_train.csv" --target y -m no/such/dir/m.json
expect 2 '^ebm-train: error: .*--lr' $T "$src/data/bimodal_train.csv" --target y -m out.json --lr 0
expect 2 '^ebm-train: error: .*method' $T "$src/data/bimodal_train.csv" --target y -m out.json --method foo
expect 2 '^ebm-train: error: .*--bogus' $T "$src/data/bimodal_train.csv" --target y -m out.json --bogus
expect 1 "^ebm-predict: error: notours.json: format is 'other', expected 'ebm-checkpoint'" $P -m notours.json "$src/data/bimodal_test.csv" -o out.csv
expect 1 '^ebm-predict: error: newer.json: format_version 9 is not supported' $P -m newer.json "$src/data/bimodal_test.csv" -o out.csv
expect 1 '^ebm-predict: error: truncated.json: not valid JSON' $P -m truncated.json "$src/data/bimodal_test.csv" -o out.csv
expect 1 "^ebm-predict: error: no_x.csv: no column 'x'" $P -m model.json no_x.csv -o out.csv
expect 1 "^ebm-predict: error: bad_cell.csv:3:2: column 'y'" $P -m model.json bad_cell.csv --metrics out.json -o out.csv
expect 2 '^ebm-predict: error: .*interval' $P -m model.json "$src/data/bimodal_test.csv" --interval 1.5 -o out.csv
expect 2 '^ebm-predict: error: --quantiles' $P -m model.json "$src/data/bimodal_test.csv" --quantiles 0.5,abc -o out.csv
expect 2 '^ebm-sample: error: .*(-n|draws)' $S -m model.json "$src/data/bimodal_test.csv" -n 0 -o out.csv
# An existing output file keeps its bytes when the run fails.
echo "precious" > keep.csv
"$P" -m model.json bad_cell.csv --metrics m.json -o keep.csv 2> /dev/null
[ "$(cat keep.csv)" = precious ] || { echo "FAIL: existing output was modified" >&2; failures=$((failures + 1)); }
if [ "$failures" -gt 0 ]; then echo "$failures error-handling checks failed" >&2; exit 1; fi
echo "errors_smoke: ok"
