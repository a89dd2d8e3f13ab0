#!/usr/bin/env bash
# Batch use: a test file split into 4 chunks (each with the header) and predicted by
# concurrent ebm-predict processes (GNU parallel if installed, and always xargs -P 2)
# gives, once the chunks are concatenated without their repeated headers, exactly the
# bytes of predicting the whole file at once. This holds because each row's random
# stream is derived from its feature values (row_stream in lib/ebm/inference.cpp), not
# from its position in the file, so no "first row" offset option is needed.
# Also checked: chunk metrics combine (row-weighted) into the whole-file metrics, and
# chunked ebm-sample output equals the whole-file output once the row numbers (which
# restart at 0 in each chunk) are offset.
# Called by ctest as: bash tests/cli/batch_parallel.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ebm-batch.XXXXXX")"; trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
input="$src/data/multi_test.csv"
chunks=4

"$train" "$src/data/multi_train.csv" --target y -m model.json --epochs 2 --hidden 8 --samples 16 --batch-size 64 -q
popts=(-m model.json --keep id --samples 64 --seed 11 --interval 0.9 --quantiles 0.1,0.5,0.9 --mode --mode-steps 5
       --logpdf --ess -j 1)
sopts=(-m model.json --keep id -n 3 --proposal-samples 64 --langevin-steps 2 --seed 11 -j 1)

# The whole file at once.
"$predict" "${popts[@]}" "$input" --metrics whole.metrics.json -o whole.pred.csv
"$sample" "${sopts[@]}" "$input" -o whole.sample.csv
rows=$(($(wc -l < "$input") - 1))
[[ "$rows" == 500 ]] || fail "expected 500 rows in $input, found $rows"
[[ "$(($(wc -l < whole.pred.csv) - 1))" == "$rows" ]] || fail "whole-file prediction has the wrong number of rows"

# Split into chunks of ceil(rows / 4) rows, each with the header.
header=$(head -n 1 "$input")
tail -n +2 "$input" | split -d -l $(((rows + chunks - 1) / chunks)) --additional-suffix=.body - chunk_
for body in chunk_*.body; do
  { printf '%s\n' "$header"; cat "$body"; } > "${body%.body}.csv"
  rm "$body"
done
chunk_files=(chunk_*.csv)
[[ ${#chunk_files[@]} == "$chunks" ]] || fail "split made ${#chunk_files[@]} chunks, expected $chunks"

# One job: predict and sample a chunk (run by parallel or xargs, so a separate script).
cat > job.sh <<EOF
#!/usr/bin/env bash
set -euo pipefail
chunk="\$1"; tag="\$2"
"$predict" ${popts[*]} "\$chunk" --metrics "\${chunk%.csv}.\$tag.metrics.json" -o "\${chunk%.csv}.\$tag.pred.csv"
"$sample" ${sopts[*]} "\$chunk" -o "\${chunk%.csv}.\$tag.sample.csv"
EOF

# Concatenate the chunk outputs of one runner (in chunk order, one header) and compare.
check_runner() {
  local tag="$1"
  local preds=() samples=() metrics=()
  for chunk in "${chunk_files[@]}"; do
    preds+=("${chunk%.csv}.$tag.pred.csv")
    samples+=("${chunk%.csv}.$tag.sample.csv")
    metrics+=("${chunk%.csv}.$tag.metrics.json")
  done
  for f in "${preds[@]}" "${samples[@]}" "${metrics[@]}"; do [[ -s "$f" ]] || fail "$tag: $f was not written"; done
  { head -n 1 "${preds[0]}"; for f in "${preds[@]}"; do tail -n +2 "$f"; done; } > "$tag.pred.csv"
  cmp "$tag.pred.csv" whole.pred.csv >&2 ||
    fail "$tag: concatenated chunk predictions differ from predicting the whole file"
  # Sample row numbers restart at 0 in each chunk: offset them by the rows of the earlier chunks.
  { head -n 1 "${samples[0]}"
    offset=0
    for i in "${!samples[@]}"; do
      awk -F, -v OFS=, -v offset="$offset" 'NR > 1 { $1 += offset; print }' "${samples[$i]}"
      offset=$((offset + $(wc -l < "${chunk_files[$i]}") - 1))
    done; } > "$tag.sample.csv"
  cmp "$tag.sample.csv" whole.sample.csv >&2 ||
    fail "$tag: concatenated chunk samples (rows offset) differ from sampling the whole file"
  python3 - whole.metrics.json "${metrics[@]}" <<'PY' || fail "$tag: chunk metrics do not combine into the whole-file metrics"
import json, math, sys
whole = json.load(open(sys.argv[1]))
parts = [json.load(open(p)) for p in sys.argv[2:]]
n = sum(p["rows"] for p in parts)
assert n == whole["rows"] == 500, (n, whole["rows"])
def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))
for key in ("nll", "mae", "crps", "coverage", "mean_ess"):
    combined = sum(p[key] * p["rows"] for p in parts) / n
    assert close(combined, whole[key]), (key, combined, whole[key])
rmse = math.sqrt(sum(p["rmse"] ** 2 * p["rows"] for p in parts) / n)
assert close(rmse, whole["rmse"]), ("rmse", rmse, whole["rmse"])
PY
  echo "  $tag: chunked predictions, samples and metrics match the whole file"
}

runners=()
if command -v parallel > /dev/null && parallel --version 2> /dev/null | grep -q "GNU parallel"; then
  # PARALLEL_HOME: keep GNU parallel's state out of the user's home directory.
  PARALLEL_HOME="$work/.parallel" parallel --will-cite -j 2 --halt now,fail=1 bash job.sh {} parallel ::: "${chunk_files[@]}" ||
    fail "GNU parallel: a job failed"
  check_runner parallel
  runners+=(parallel)
  # scripts/predict_parallel.sh: one stream cut into blocks by parallel --pipe (8 KB blocks,
  # so the 500 rows make several), output in order with one header: the whole-file bytes.
  popts_pipe=()
  for option in "${popts[@]}"; do [[ "$option" == "-j" || "$option" == 1 ]] || popts_pipe+=("$option"); done
  PARALLEL_HOME="$work/.parallel" bash "$src/scripts/predict_parallel.sh" -j 2 --block 8k -- "$predict" "${popts_pipe[@]}" \
    < "$input" > piped.pred.csv 2> piped.err || fail "scripts/predict_parallel.sh failed: $(cat piped.err)"
  cmp -s whole.pred.csv piped.pred.csv || fail "scripts/predict_parallel.sh output differs from the single-process output"
  runners+=("parallel --pipe")
else
  echo "  (GNU parallel is not installed: xargs only)"
fi
printf '%s\n' "${chunk_files[@]}" | xargs -P 2 -I{} bash job.sh {} xargs || fail "xargs -P 2: a job failed"
check_runner xargs
runners+=(xargs)

# Chunk boundaries do not matter either: 3 uneven chunks through stdin, sequentially.
tail -n +2 "$input" | split -d -l 170 - uneven_
for part in uneven_*; do
  { printf '%s\n' "$header"; cat "$part"; } | "$predict" "${popts[@]}" - | tail -n +2
done > uneven.body.csv
tail -n +2 whole.pred.csv | cmp - uneven.body.csv >&2 || fail "predictions of uneven chunks through stdin differ"

echo "batch_parallel: ok (${runners[*]}; $chunks chunks of $input)"
