#!/usr/bin/env bash
# Writes a fixed set of checkpoints, predictions, samples and pictures made by the binaries
# in BIN_DIR into OUT_DIR, so that a refactoring can be checked byte for byte:
#   bash scripts/golden_outputs.sh /tmp/before-bin /tmp/before
#   bash scripts/golden_outputs.sh build /tmp/after && diff -r /tmp/before /tmp/after
# Every run uses a fixed seed; -j 2 and -j 1 both appear (results do not depend on it).
set -euo pipefail
bin=$1; out=$2; data=$(cd "$(dirname "$0")/../data" && pwd)
mkdir -p "$out"; cd "$out"
train() { "$bin/ebm-train" -q "$@"; }
train "$data/bimodal_train.csv" -t y -m nce.json --epochs 6 --seed 3 -j 2 --plot-history nce_history.svg
train "$data/bimodal_train.csv" -t y -m mlis.json --epochs 4 --method ml-is --hidden 24 --activation tanh -j 1
train "$data/bimodal_train.csv" -t y -m nceplus.json --epochs 4 --method nce+ --noise gmm --gmm-sigmas 0.05,0.5 --no-calibrate
train "$data/multi_train.csv" -t y -m multi.json --epochs 5 --activation silu --residual-blocks 1 --schedule cosine --weight-decay 0.01 --early-stopping 2
train "$data/twotarget_train.csv" -t y1 -t y2 -m two.json --epochs 4 --hidden 20 -K 3 --valid-fraction 0.2
train "$data/bimodal_train.csv" -t y -m wide.json --epochs 2 --hidden 40 --samples 64 --batch-size 64
train "$data/bimodal_train.csv" -t y -m every.json --epochs 4 --checkpoint-every 2 --seed 5
train "$data/bimodal_train.csv" -t y -m resumed.json --epochs 2 --checkpoint-every 2 --seed 5
train "$data/bimodal_train.csv" -t y -m resumed.json --epochs 4 --checkpoint-every 2 --seed 5 --resume resumed.json 2>/dev/null || echo "resume-extend refused" > resume_note.txt
pred() { "$bin/ebm-predict" -q "$@"; }
pred -m nce.json "$data/bimodal_test.csv" --interval 0.8 --quantiles 0.1,0.5 --mode --logpdf --ess --keep x \
  --metrics nce_metrics.json --plot nce_plot.svg --report nce_report.svg -o nce_pred.csv -j 2 --seed 7
pred -m mlis.json "$data/bimodal_test.csv" --samples 256 --logpdf -o mlis_pred.csv
pred -m nceplus.json "$data/bimodal_test.csv" --metrics nceplus_metrics.json -o nceplus_pred.csv --precision 6
pred -m multi.json "$data/multi_test.csv" --keep id --interval 0.9 --logpdf --metrics multi_metrics.json -o multi_pred.csv -j 1
pred -m two.json "$data/twotarget_test.csv" --interval 0.5 --quantiles 0.25 --mode --logpdf --metrics two_metrics.json -o two_pred.csv --report two_report.svg
pred -m wide.json "$data/bimodal_test.csv" --samples 64 --chunk-rows 7 -o wide_pred.csv 2>/dev/null || pred -m wide.json "$data/bimodal_test.csv" --samples 64 -o wide_pred.csv
cut -d, -f1 "$data/bimodal_test.csv" | pred -m nce.json - --tabs --no-header -o header_free.csv 2>/dev/null || true
samp() { "$bin/ebm-sample" -q "$@"; }
samp -m nce.json "$data/bimodal_test.csv" -n 5 --seed 2 -o nce_samples.csv --keep y
samp -m two.json "$data/twotarget_test.csv" -n 3 --langevin-steps 4 -o two_samples.csv -j 2
samp -m multi.json "$data/multi_test.csv" -n 2 --proposal-samples 100 -o multi_samples.csv
