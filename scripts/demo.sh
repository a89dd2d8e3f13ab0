#!/usr/bin/env bash
# Demo of the three tools on the bundled example data (data/README.md).
# Called by `make demo` as: bash scripts/demo.sh BUILD_DIR
# Trains, predicts (intervals, quantiles, mode, log-density, metrics) and samples on
# data/bimodal_*, then runs the same pipeline briefly on data/twotarget_* (two targets)
# and data/multi_* (several features, a text id column passed through with --keep), and
# on data/mixed_* (missing values, rows without target, a categorical column).
# Everything is written under demo-output/ in the repository root; takes about half a
# minute on two cores.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: bash scripts/demo.sh BUILD_DIR" >&2
  exit 2
fi
# BUILD_DIR is relative to the caller's directory; everything else to the repository root.
build=$(cd "$1" 2>/dev/null && pwd) || { echo "demo: build directory '$1' not found (run make first)" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

train="$build/ebm-train"
predict="$build/ebm-predict"
sample="$build/ebm-sample"
for tool in "$train" "$predict" "$sample"; do
  if [[ ! -x "$tool" ]]; then
    echo "demo: $tool not found or not executable (run make first)" >&2
    exit 1
  fi
done

out=demo-output
mkdir -p "$out/bimodal" "$out/twotarget" "$out/multi" "$out/mixed"

# Prints the top-level numbers of a metrics JSON file (written by ebm-predict --metrics)
# as "name value" lines, without needing a JSON tool.
show_metrics() {
  local key value
  while IFS=: read -r key value; do
    key=${key//[\" ]/}
    value=${value//[, ]/}
    LC_ALL=C printf '    %-9s %.4g\n' "$key" "$value"
  done < <(grep -E '^  "(rows|nll|rmse|mae|crps|coverage|interval|mean_ess)"' "$1")
}

step() { printf '\n== %s\n' "$*"; }

# Trains with progress going to LOG; on failure shows the end of the log and stops.
train_to() {
  local log=$1
  shift
  if ! "$train" "$@" 2> "$log"; then
    echo "demo: ebm-train failed; last lines of $log:" >&2
    tail -n 5 "$log" >&2
    exit 1
  fi
}

# ------------------------------------------------------------------ bimodal (main demo)
d=$out/bimodal
step "bimodal: training on data/bimodal_train.csv (30 epochs, 10% of the rows held out for validation)"
train_to "$d/train.log" data/bimodal_train.csv --target y -m "$d/model.json" \
  --epochs 30 --valid-fraction 0.1 --seed 1 --plot-history "$d/history.svg"
tail -n 1 "$d/train.log" | sed 's/^/   /'

step "bimodal: predicting data/bimodal_test.csv"
"$predict" -m "$d/model.json" data/bimodal_test.csv \
  --interval 0.9 --quantiles 0.05,0.5,0.95 --mode --logpdf \
  --metrics "$d/metrics.json" -o "$d/predictions.csv" \
  --plot "$d/density.svg" --report "$d/calibration.svg"
echo "   metrics (original units of y; nll is per row, lower is better):"
show_metrics "$d/metrics.json"
echo "   first predictions:"
head -n 4 "$d/predictions.csv" | sed 's/^/    /'

step "bimodal: drawing 100 samples per test row"
"$sample" -m "$d/model.json" data/bimodal_test.csv -n 100 --seed 1 -o "$d/samples.csv"
echo "   $(($(wc -l < "$d/samples.csv") - 1)) sample rows; first lines:"
head -n 4 "$d/samples.csv" | sed 's/^/    /'

# ------------------------------------------------------------------ twotarget (2-D y)
d=$out/twotarget
step "twotarget: two targets y1, y2 (20 epochs)"
train_to "$d/train.log" data/twotarget_train.csv --target y1 --target y2 -m "$d/model.json" \
  --epochs 20 --valid-fraction 0.1 --seed 1
"$predict" -m "$d/model.json" data/twotarget_test.csv --interval 0.9 --logpdf \
  --metrics "$d/metrics.json" -o "$d/predictions.csv"
"$sample" -m "$d/model.json" data/twotarget_test.csv -n 100 --seed 1 -o "$d/samples.csv"
show_metrics "$d/metrics.json"
head -n 3 "$d/predictions.csv" | sed 's/^/    /'

# ------------------------------------------------------------------ multi (5 features, text id)
d=$out/multi
step "multi: five features, text column 'id' kept as a row label (20 epochs)"
train_to "$d/train.log" data/multi_train.csv --target y -m "$d/model.json" \
  --epochs 20 --valid-fraction 0.1 --seed 1
"$predict" -m "$d/model.json" data/multi_test.csv --keep id --interval 0.9 \
  --metrics "$d/metrics.json" -o "$d/predictions.csv"
"$sample" -m "$d/model.json" data/multi_test.csv --keep id -n 20 --seed 1 -o "$d/samples.csv"
show_metrics "$d/metrics.json"
head -n 3 "$d/predictions.csv" | sed 's/^/    /'

# ------------------------------------------------------------------ mixed (missing values, categorical)
d=$out/mixed
step "mixed: x missing in 15% of the rows (NA or empty), 8 targets missing, categorical 'group' (40 epochs)"
train_to "$d/train.log" data/mixed_train.csv --target y --categorical group -m "$d/model.json" \
  --epochs 40 --seed 1
grep -E "^(training on|ebm-train: skipped|missing values|categorical)" "$d/train.log" | sed 's/^/   /'
"$predict" -m "$d/model.json" data/mixed_test.csv --keep x,group --interval 0.9 \
  --metrics "$d/metrics.json" -o "$d/predictions.csv"
show_metrics "$d/metrics.json"
echo "   predictions for two rows with x missing (NA or empty) and two with x observed:"
awk -F, 'NR == 1 { print; next }
  ($1 == "" || $1 == "NA") && missing++ < 2 { print }
  $1 != "" && $1 != "NA" && observed++ < 2 { print }' "$d/predictions.csv" | sed 's/^/    /'
printf 'x,group,y\n1.5,e,\n' > "$d/unseen.csv"
echo "   a level never seen in training is treated as unknown, with one warning line:"
"$predict" -m "$d/model.json" "$d/unseen.csv" --keep group -o "$d/unseen_predictions.csv" 2>&1 | sed 's/^/    /'
"$sample" -m "$d/model.json" data/mixed_test.csv --keep group -n 20 --seed 1 -o "$d/samples.csv"

step "outputs"
cat <<EOF
   $root/$out/
     bimodal/    model.json  train.log  predictions.csv  metrics.json  samples.csv
                 density.svg (p(y|x) heat map)  history.svg  calibration.svg
     twotarget/  model.json  train.log  predictions.csv  metrics.json  samples.csv
     multi/      model.json  train.log  predictions.csv  metrics.json  samples.csv
     mixed/      model.json  train.log  predictions.csv  metrics.json  samples.csv
   Column meanings, options and metric definitions: docs/usage.md
EOF
