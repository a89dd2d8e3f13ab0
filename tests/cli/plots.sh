#!/usr/bin/env bash
# Pictures: ebm-train --plot-history, ebm-predict --plot and --report write SVG that parses
# as XML with the expected parts; the CSV output does not change with --plot; misuse fails
# before any work and leaves no file.
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
train="$build/ebm-train"; predict="$build/ebm-predict"
data="$src/data/bimodal_train.csv"; test_data="$src/data/bimodal_test.csv"

"$train" "$data" --target y -m m.json --epochs 3 --hidden 16 --samples 16 -q --plot-history history.svg ||
  { fail "training with --plot-history"; exit 1; }
"$predict" -m m.json "$test_data" --samples 64 --interval 0.8 -o plain.csv || fail "predict"
"$predict" -m m.json "$test_data" --samples 64 --interval 0.8 -o pictured.csv --plot density.svg --report report.svg ||
  fail "predict with --plot and --report"
cmp -s plain.csv pictured.csv || fail "--plot/--report changed the CSV output"
"$predict" -m m.json "$test_data" --samples 64 --interval 0.8 -o /dev/null --plot density2.svg -j 1
cmp -s density.svg density2.svg || fail "the density picture depends on the run or the thread count"

# Structure: parsed with Python's XML parser, parts counted by their class.
python3 - <<'PY' || fail "SVG structure (see above)"
import sys, xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
problems = []
def load(name):
    root = ET.parse(name).getroot()
    if root.tag != NS + "svg":
        problems.append(f"{name}: root is {root.tag}")
    return root
def group(root, cls):
    return [g for g in root.iter(NS + "g") if g.get("class") == cls]
def texts(root):
    return [t.text or "" for t in root.iter(NS + "text")]
def expect(cond, what):
    if not cond:
        problems.append(what)

d = load("density.svg")
heat = group(d, "heatmap")
expect(len(heat) == 1 and len(heat[0].findall(NS + "rect")) > 120, "density: heat map with more than 120 cells")
expect(len(group(d, "mean")) == 1 and len(group(d, "mean")[0].findall(NS + "polyline")) == 1, "density: mean line")
expect(len(group(d, "interval")) == 1 and group(d, "interval")[0].find(NS + "polygon") is not None, "density: band")
pts = group(d, "points")
expect(len(pts) == 1 and len(pts[0].findall(NS + "circle")) >= 450, "density: the 500 test points (most inside the frame)")
expect({"mean", "80% interval", "data"} <= set(texts(d)), f"density: legend texts {texts(d)[:12]}")
expect("p(y | x)" in texts(d), "density: title")

h = load("history.svg")
expect(len(group(h, "train-loss")) == 1, "history: training loss series")
expect(len(group(h, "valid-nll")) == 1, "history: validation NLL series")
expect(any(t.startswith("kept: epoch ") for t in texts(h)), "history: best epoch marker")
expect("epoch" in texts(h), "history: x label")

r = load("report.svg")
bars = group(r, "pit-histogram")
expect(len(bars) == 1 and len(bars[0].findall(NS + "rect")) == 20, "report: 20 PIT bars")
curve = group(r, "calibration-curve")
expect(len(curve) == 1 and len(curve[0].findall(NS + "circle")) == 20, "report: calibration points")
expect(len(group(r, "diagonal")) == 1 and len(group(r, "uniform")) == 1, "report: reference lines")
expect("PIT histogram (500 rows)" in texts(r), "report: title with the row count")
for p in problems:
    print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# Misuse: a two-feature model with --plot (usage error, before reading data); --report
# on input without the target column (data error). Nothing is written.
printf 'a,b,y\n' > two.csv
for i in $(seq 60); do echo "$((i % 7)),$((i % 5)),$((i % 11))" >> two.csv; done
"$train" two.csv --target y -m two.json --epochs 1 --hidden 4 --samples 4 -q || fail "training the two-feature model"
mkdir out
"$predict" -m two.json two.csv --plot out/d.svg -o out/p.csv 2> err.txt
code=$?
[ "$code" = 2 ] || fail "--plot with two features: exit $code, expected 2"
grep -qx "ebm-predict: error: --plot needs a model with one feature and one target; two.json has 2 feature(s) and 1 target(s)" err.txt ||
  fail "--plot with two features: message $(cat err.txt)"
cut -d, -f1 "$test_data" > x_only.csv
"$predict" -m m.json x_only.csv --report out/r.svg -o out/p.csv 2> err.txt
code=$?
[ "$code" = 1 ] || fail "--report without targets: exit $code, expected 1"
grep -q "^ebm-predict: error: x_only.csv: --report needs the target column 'y'" err.txt || fail "--report message: $(cat err.txt)"
[ -z "$(ls -A out)" ] || fail "a failed run left files: $(ls -A out)"

if [ "$failures" -gt 0 ]; then echo "plots: $failures checks failed" >&2; exit 1; fi
echo "plots: ok"
