#!/usr/bin/env bash
# ebm-inspect from the command line (the report itself is tested in tests/test_inspect.cpp),
# and the smaller conveniences of issue 15 item 8 that only the executables show: DATA on
# standard input for ebm-train, -v in ebm-predict and ebm-sample, -f with spaces, the
# training summary, one definition of coverage, --metrics - beside -o FILE.
set -euo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"
head -n 401 "$src/data/multi_train.csv" > train.csv
head -n 101 "$src/data/multi_test.csv" > test.csv
tiny="--epochs 3 --hidden 8 --samples 8"

# ebm-train reads standard input without DATA; -f trims the spaces around names.
"$build/ebm-train" -t y -f "x1, x2" -m m.json $tiny < train.csv 2> train.log || fail "ebm-train from stdin: $(cat train.log)"
python3 -c 'import json; t = json.load(open("m.json"))["training"]; assert t["data"] == "<stdin>", t["data"]' ||
  fail "the checkpoint does not record <stdin>"
# The summary compares the calibration's NLLs from one estimate: the second is not above the first.
python3 - train.log <<'PY' || fail "calibration line: $(grep calibration train.log)"
import re, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("calibration: temperature")]
# One per candidate of --x-embedding auto after its probe (1 epoch of 3), one for each
# candidate at its end (below 1,000 training rows the other one trains on as a third
# member: the x-embedding mix), then member 2 (--ensemble auto: 360 training rows).
assert len(lines) == 5, lines
for line in lines:
    before, after = map(float, re.search(r"valid NLL (\S+) at T = 1 -> (\S+)$", line).groups())
    assert after <= before, (before, after)
PY

# ebm-inspect: text and JSON name the columns; importance for each feature.
"$build/ebm-inspect" m.json > report.txt
for part in "features (2):" "targets (1):" "x2" "numeric" "training range" "calibration of member 3:" \
            "members (mixture weights): 1: x-embedding" \
            "calibration of the ensemble: shared temperature"; do
  grep -qF "$part" report.txt || fail "ebm-inspect's report lacks '$part'"
done
grep -q "permutation importance" report.txt && fail "importance without DATA"
"$build/ebm-inspect" m.json test.csv --samples 64 --json -j 1 > report.json
"$build/ebm-inspect" m.json --samples 64 --json -j 3 < test.csv - > report3.json
python3 - report.json report3.json <<'PY' || fail "ebm-inspect --json"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert [f["name"] for f in a["importance"]["features"]] == [f["name"] for f in a["features"]]
assert a["importance"]["rows"] == 100 and a["targets"][0]["name"] == "y" and len(a["features"]) == 2
a["importance"].pop("data"); b["importance"].pop("data")
assert a["importance"] == b["importance"], "importance depends on -j or on reading stdin"
PY
set +e
"$build/ebm-inspect" 2> err.txt; [ $? = 2 ] && grep -q "MODEL is required" err.txt || fail "no MODEL: $(cat err.txt)"
"$build/ebm-inspect" m.json "$src/data/bimodal_test.csv" 2> err.txt
[ $? = 1 ] && grep -q "no column" err.txt || fail "data without the model's columns: $(cat err.txt)"
set -e

# -v: one closing line on stderr; coverage has one definition; --metrics - beside -o FILE.
"$build/ebm-predict" -m m.json test.csv --samples 64 -v -o pred.csv --metrics - > metrics.json 2> err.txt
grep -qE "^ebm-predict: 100 rows in [0-9.]+ s \([0-9]+ rows/s\)$" err.txt || fail "ebm-predict -v: $(cat err.txt)"
python3 - metrics.json <<'PY' || fail "metrics on stdout, or their coverage"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["coverage"] == m["coverage_levels"]["0.9"], (m["coverage"], m["coverage_levels"])
for t in m["targets"].values():
    assert t["coverage"] == t["coverage_levels"]["0.9"]
PY
"$build/ebm-predict" -m m.json test.csv --samples 64 --interval 0.5 --metrics metrics5.json -o pred5.csv
python3 - metrics5.json pred5.csv <<'PY' || fail "coverage of --interval 0.5 is not that of the written intervals"
import csv, json, sys
m = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
truth = list(csv.DictReader(open("test.csv")))
inside = sum(float(p["y_lo"]) <= float(t["y"]) <= float(p["y_hi"]) for p, t in zip(rows, truth))
assert abs(m["targets"]["y"]["coverage_levels"]["0.5"] - inside / len(rows)) < 1e-12, (m, inside)
PY
"$build/ebm-sample" -m m.json test.csv -n 3 -v -o samples.csv 2> err.txt
grep -qE "^ebm-sample: 100 rows in " err.txt || fail "ebm-sample -v: $(cat err.txt)"
echo "inspect: ok"
