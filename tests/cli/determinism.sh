#!/usr/bin/env bash
# Same data, options and seed give byte-identical results: checkpoints across runs and
# thread counts, predictions and samples across runs, thread counts and ways of splitting
# the input (each row has its own random stream).
set -euo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
data="$src/data/bimodal_train.csv"; test_data="$src/data/bimodal_test.csv"

# Training: two runs with each of -j1, -j2, -j3 (3 does not divide the batch evenly).
opts=(--target y --hidden 8 --epochs 2 --samples 16 --batch-size 20 -q)
for run in 1 2; do
  for j in 1 2 3; do "$train" "$data" "${opts[@]}" --seed 11 -j "$j" -m "$work/m_j${j}_$run.json"; done
done
for f in m_j1_2 m_j2_1 m_j2_2 m_j3_1 m_j3_2; do
  cmp -s "$work/m_j1_1.json" "$work/$f.json" || fail "checkpoint $f.json differs from m_j1_1.json"
done
# The seed does matter (otherwise the comparisons above prove nothing).
"$train" "$data" "${opts[@]}" --seed 12 -m "$work/m_seed12.json"
cmp -s "$work/m_j1_1.json" "$work/m_seed12.json" && fail "checkpoints do not depend on --seed"
model="$work/m_j1_1.json"

# Prediction: every output column, the metrics file, across runs and thread counts.
popts=(-m "$model" --samples 32 --interval 0.9 --quantiles 0.1,0.5,0.9 --mode --mode-steps 10 --logpdf --ess
       --keep x)
for run in 1 2; do
  for j in 1 2 3; do
    "$predict" "${popts[@]}" --seed 3 -j "$j" "$test_data" --metrics "$work/metrics_j${j}_$run.json" > "$work/p_j${j}_$run.csv"
  done
done
[ "$(wc -l < "$work/p_j1_1.csv")" = 501 ] || fail "expected 500 prediction rows"
for f in p_j1_2 p_j2_1 p_j2_2 p_j3_1 p_j3_2; do
  cmp -s "$work/p_j1_1.csv" "$work/$f.csv" || fail "predictions $f.csv differ from p_j1_1.csv"
  m="${f/p_/metrics_}"
  cmp -s "$work/metrics_j1_1.json" "$work/$m.json" || fail "metrics $m.json differ from metrics_j1_1.json"
done
# A row's result does not depend on the rows around it: the second half of the file on
# its own gives the second half of the output.
{ head -n 1 "$test_data"; tail -n +252 "$test_data"; } > "$work/half.csv"
"$predict" "${popts[@]}" --seed 3 -j 2 "$work/half.csv" | tail -n +2 > "$work/p_half.csv"
tail -n +252 "$work/p_j1_1.csv" | cmp -s - "$work/p_half.csv" || fail "predictions depend on the other rows of the file"
"$predict" "${popts[@]}" --seed 4 "$test_data" | cmp -s - "$work/p_j1_1.csv" && fail "predictions do not depend on --seed"

# Sampling, with Langevin steps, across runs and thread counts.
sopts=(-m "$model" -n 5 --proposal-samples 32 --langevin-steps 2 --seed 9)
for run in 1 2; do
  for j in 1 2 3; do "$sample" "${sopts[@]}" -j "$j" "$test_data" > "$work/s_j${j}_$run.csv"; done
done
[ "$(wc -l < "$work/s_j1_1.csv")" = 2501 ] || fail "expected 2500 sample rows"
for f in s_j1_2 s_j2_1 s_j2_2 s_j3_1 s_j3_2; do
  cmp -s "$work/s_j1_1.csv" "$work/$f.csv" || fail "samples $f.csv differ from s_j1_1.csv"
done
# Same for a slice of the input (row numbers restart at 0, so compare sample and y only).
"$sample" "${sopts[@]}" -j 2 "$work/half.csv" | tail -n +2 | cut -d, -f2- > "$work/s_half.csv"
tail -n +$((2 + 250 * 5)) "$work/s_j1_1.csv" | cut -d, -f2- | cmp -s - "$work/s_half.csv" ||
  fail "samples depend on the other rows of the file"
echo "determinism: ok"
