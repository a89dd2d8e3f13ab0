#!/usr/bin/env bash
# train -> predict -> sample on the bundled data, through files and through pipes.
# Checks content, not just exit codes: exact headers, row counts, every value numeric and
# finite, interval/quantile ordering, positive spreads, sample indices, metrics JSON (and
# that it agrees with the prediction file), stdout holding only CSV, and byte-identical
# output across runs (--seed), thread counts (-j1/-j2), input routes (file, pipe,
# redirect), input formats (--tabs, --delimiter, --no-header) and output formats
# (--output-delimiter, --precision).
# Called by ctest as: bash tests/cli/pipeline.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ebm-pipeline.XXXXXX")"; trap 'rm -rf "$work"' EXIT
cd "$work"
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
data="$src/data"
for tool in "$train" "$predict" "$sample"; do
  [[ -x "$tool" ]] || { echo "FAIL: $tool not built" >&2; exit 1; }
done

failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
  local what="$1"; shift
  checks=$((checks + 1))
  "$@" || fail "$what"
}
# run NAME COMMAND...: runs a tool that must succeed; stderr is kept in NAME.err.
run() {
  local name="$1"; shift
  checks=$((checks + 1))
  if ! "$@" 2> "$name.err"; then
    fail "$name: '$*' exited with an error: $(cat "$name.err")"
    return 1
  fi
}
header_is() {  # FILE EXPECTED
  local got; got=$(head -n 1 "$1")
  [[ "$got" == "$2" ]] || { echo "  $1: header '$got', expected '$2'" >&2; return 1; }
}
rows_are() {  # FILE N (data rows, without the header)
  local got; got=$(($(wc -l < "$1") - 1))
  [[ "$got" == "$2" ]] || { echo "  $1: $got data rows, expected $2" >&2; return 1; }
}
same() { cmp "$1" "$2" >&2; }
differ() { ! cmp -s "$1" "$2"; }
# numeric FILE [DELIM] [TEXT_COLUMNS]: every line has as many fields as the header, and
# every field outside the first TEXT_COLUMNS columns is a finite decimal number.
numeric() {
  awk -F"${2:-,}" -v text="${3:-0}" '
    NR == 1 { n = NF; next }
    NF != n { printf "  %s:%d: %d fields, header has %d\n", FILENAME, NR, NF, n; bad = 1; exit }
    { for (i = text + 1; i <= NF; i++)
        if ($i !~ /^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/) {
          printf "  %s:%d:%d: not a finite number: \"%s\"\n", FILENAME, NR, i, $i; bad = 1; exit } }
    END { if (NR < 2) { printf "  %s: no data rows\n", FILENAME; bad = 1 }; exit bad }' "$1" >&2
}
# ordered FILE A B [C...]: on every row, column A <= column B <= column C ... (by header name).
ordered() {
  local file="$1"; shift
  awk -F, -v names="$*" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
              k = split(names, want, " ")
              for (j = 1; j <= k; j++) if (!(want[j] in col)) { print "  no column " want[j]; bad = 1; exit }
              next }
    { for (j = 1; j < k; j++) if ($col[want[j]] + 0 > $col[want[j + 1]] + 0) {
        printf "  %s:%d: %s = %s > %s = %s\n", FILENAME, NR, want[j], $col[want[j]], want[j + 1], $col[want[j + 1]]
        bad = 1; exit } }
    END { exit bad }' "$file" >&2
}
# positive FILE COLUMN...: the named columns are > 0 on every row.
positive() {
  local file="$1"; shift
  awk -F, -v names="$*" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; k = split(names, want, " "); next }
    { for (j = 1; j <= k; j++) if (!($col[want[j]] + 0 > 0)) {
        printf "  %s:%d: %s = %s is not positive\n", FILENAME, NR, want[j], $col[want[j]]; bad = 1; exit } }
    END { exit bad }' "$file" >&2
}
# sample_indices FILE ROWS N: "row" runs 0..ROWS-1, each with "sample" 0..N-1, in order.
sample_indices() {
  awk -F, -v rows="$2" -v n="$3" '
    NR == 1 { if ($1 != "row" || $2 != "sample") { print "  header does not start with row,sample"; bad = 1; exit }; next }
    { i = NR - 2
      if ($1 != int(i / n) || $2 != i % n) { printf "  %s:%d: row,sample = %s,%s, expected %d,%d\n", FILENAME, NR, $1, $2, int(i / n), i % n; bad = 1; exit } }
    END { if (!bad && NR - 1 != rows * n) { printf "  %d sample rows, expected %d\n", NR - 1, rows * n; bad = 1 }; exit bad }' "$1" >&2
}
no_stderr() {  # NAME: the run left nothing on stderr
  [[ ! -s "$1.err" ]] || { echo "  $1 wrote to stderr: $(head -c 300 "$1.err")" >&2; return 1; }
}

tiny=(--epochs 2 --hidden 8 --samples 16 --batch-size 64)
n_test=$(($(wc -l < "$data/bimodal_test.csv") - 1))
[[ "$n_test" == 500 ]] || { echo "FAIL: expected 500 rows in bimodal_test.csv" >&2; exit 1; }

# ------------------------------------------------------------------ bimodal: training
# From a file, with -j1 and -j2: byte-identical checkpoints. Progress goes to stderr only.
run train_j1 "$train" "$data/bimodal_train.csv" --target y -m m.json "${tiny[@]}" --seed 5 -j 1 > train_j1.out
check "ebm-train wrote to stdout" test ! -s train_j1.out
check "ebm-train's progress on stderr names the checkpoint" grep -q "wrote m.json" train_j1.err
run train_j2 "$train" "$data/bimodal_train.csv" --target y -m m_j2.json "${tiny[@]}" --seed 5 -j 2 -q > train_j2.out
check "ebm-train -q wrote to stdout" test ! -s train_j2.out
check "ebm-train -q wrote to stderr" no_stderr train_j2
check "checkpoints from -j1 and -j2 differ" same m.json m_j2.json
# Same again: a repeated run gives the same bytes; another seed does not.
run train_again "$train" "$data/bimodal_train.csv" --target y -m m_again.json "${tiny[@]}" --seed 5 -q
check "repeated training with the same --seed differs" same m.json m_again.json
run train_seed "$train" "$data/bimodal_train.csv" --target y -m m_seed6.json "${tiny[@]}" --seed 6 -q
check "training does not depend on --seed" differ m.json m_seed6.json
# Through a pipe (stdin is a pipe from cat): the same checkpoint apart from the recorded data source.
run train_pipe "$train" - --target y -m m_pipe.json "${tiny[@]}" --seed 5 -q < <(cat "$data/bimodal_train.csv")
check "checkpoint trained from a pipe differs from the file-trained one" python3 - m.json m_pipe.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["format"] == "ebm-checkpoint" and a["format_version"] == 2, a["format"]
assert a["features"] == ["x"] and a["targets"] == ["y"], (a["features"], a["targets"])
assert b["training"]["data"] == "<stdin>", b["training"]["data"]
a["training"].pop("data"); b["training"].pop("data")
a["training"].pop("config", None); b["training"].pop("config", None)  # the command line, which differs
assert a == b
PY

# ----------------------------------------------------------------- bimodal: prediction
popts=(--samples 64 --seed 3)
run pred_file "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --keep x --interval 0.9 \
  --quantiles 0.05,0.95 --mode --logpdf -o pred_a.csv > pred_file.out
check "ebm-predict -o FILE wrote to stdout" test ! -s pred_file.out
check "ebm-predict -o FILE wrote to stderr" no_stderr pred_file
check "prediction header" header_is pred_a.csv "x,y_mean,y_std,y_lo,y_hi,y_q0.05,y_q0.95,y_mode,log_density"
check "prediction rows" rows_are pred_a.csv 500
check "prediction values" numeric pred_a.csv
check "kept x column equals the input's" \
  cmp <(cut -d, -f1 "$data/bimodal_test.csv") <(cut -d, -f1 pred_a.csv)

# With the median and metrics: orderings, positive spread, metrics agree with the file.
run pred_full "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --interval 0.9 \
  --quantiles 0.05,0.5,0.95 --mode --logpdf --ess --metrics metrics.json -o pred_full.csv
check "full prediction header" header_is pred_full.csv \
  "y_mean,y_std,y_lo,y_hi,y_q0.05,y_q0.5,y_q0.95,y_mode,log_density,ess"
check "full prediction rows" rows_are pred_full.csv 500
check "full prediction values" numeric pred_full.csv
check "lo <= q0.5 <= hi" ordered pred_full.csv y_lo y_q0.5 y_hi
check "q0.05 <= q0.5 <= q0.95" ordered pred_full.csv y_q0.05 y_q0.5 y_q0.95
check "y_std > 0" positive pred_full.csv y_std
check "ess > 0" positive pred_full.csv ess
check "metrics JSON" python3 - metrics.json pred_full.csv "$data/bimodal_test.csv" <<'PY'
import csv, json, math, sys
m = json.load(open(sys.argv[1]))
for key in ("rows", "nll", "rmse", "mae", "crps", "coverage"):
    assert key in m, "missing key " + key
assert m["rows"] == 500, m["rows"]
assert isinstance(m["rows"], int)
for key in ("nll", "rmse", "mae", "crps", "coverage"):
    assert isinstance(m[key], (int, float)) and math.isfinite(m[key]), (key, m[key])
assert 0 <= m["coverage"] <= 1 and m["rmse"] >= m["mae"] > 0 and m["crps"] > 0
assert m["interval"] == 0.9, m["interval"]
assert set(m["targets"]) == {"y"}
# The figures agree with the prediction file (printed with 7 significant digits).
pred = list(csv.DictReader(open(sys.argv[2])))
truth = list(csv.DictReader(open(sys.argv[3])))
assert len(pred) == len(truth) == 500
err = [float(p["y_mean"]) - float(t["y"]) for p, t in zip(pred, truth)]
rmse = math.sqrt(sum(e * e for e in err) / len(err))
mae = sum(abs(e) for e in err) / len(err)
assert abs(rmse - m["rmse"]) <= 1e-5 * m["rmse"], (rmse, m["rmse"])
assert abs(mae - m["mae"]) <= 1e-5 * m["mae"], (mae, m["mae"])
nll = -sum(float(p["log_density"]) for p in pred) / len(pred)
assert abs(nll - m["nll"]) <= 1e-5 * max(1, abs(m["nll"])), (nll, m["nll"])
inside = sum(float(p["y_lo"]) <= float(t["y"]) <= float(p["y_hi"]) for p, t in zip(pred, truth)) / len(pred)
assert abs(inside - m["coverage"]) <= 2 / 500, (inside, m["coverage"])
PY

# Standard output holds only the CSV (nothing else, stderr separate and empty).
run pred_stdout "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --keep x --interval 0.9 \
  --quantiles 0.05,0.95 --mode --logpdf > pred_stdout.csv
check "ebm-predict to stdout wrote to stderr" no_stderr pred_stdout
check "stdout is exactly the CSV written with -o" same pred_a.csv pred_stdout.csv
# Through pipes: cat | ebm-predict > out.csv, and ebm-predict - < file | consumer.
run pred_pipe "$predict" -m m.json "${popts[@]}" --keep x --interval 0.9 \
  --quantiles 0.05,0.95 --mode --logpdf < <(cat "$data/bimodal_test.csv") > pred_pipe.csv
check "prediction from a pipe differs from the file's" same pred_a.csv pred_pipe.csv
run pred_redirect "$predict" -m m.json - "${popts[@]}" --keep x --interval 0.9 --quantiles 0.05,0.95 \
  --mode --logpdf < "$data/bimodal_test.csv" > pred_redirect.csv
check "prediction from a redirect (-) differs from the file's" same pred_a.csv pred_redirect.csv
check "predict output piped into awk: every row valid" bash -c \
  "'$predict' -m m.json - ${popts[*]} --interval 0.9 --quantiles 0.5 < '$data/bimodal_test.csv' |
   awk -F, 'NR > 1 && !(\$3 <= \$5 && \$5 <= \$4 && \$2 > 0) { bad = 1 } END { exit bad || NR != 501 }'"

# Repeated runs with --seed: byte-identical; another seed: different; -j1 == -j2.
run pred_seed_again "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --keep x --interval 0.9 \
  --quantiles 0.05,0.95 --mode --logpdf -o pred_b.csv
check "repeated prediction with the same --seed differs" same pred_a.csv pred_b.csv
run pred_seed4 "$predict" -m m.json "$data/bimodal_test.csv" --samples 64 --seed 4 --keep x --interval 0.9 \
  --quantiles 0.05,0.95 --mode --logpdf -o pred_seed4.csv
check "predictions do not depend on --seed" differ pred_a.csv pred_seed4.csv
for j in 1 2; do
  run "pred_j$j" "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --interval 0.9 --quantiles 0.5 \
    --logpdf --ess -j "$j" --metrics "metrics_j$j.json" -o "pred_j$j.csv"
done
check "predictions with -j1 and -j2 differ" same pred_j1.csv pred_j2.csv
check "metrics with -j1 and -j2 differ" same metrics_j1.json metrics_j2.json
# The model trained with -j2 predicts exactly what the -j1 model predicts.
run pred_mj2 "$predict" -m m_j2.json "$data/bimodal_test.csv" "${popts[@]}" --interval 0.9 --quantiles 0.5 \
  --logpdf --ess -o pred_mj2.csv
check "predictions of the -j1 and -j2 checkpoints differ" same pred_j1.csv pred_mj2.csv

# -------------------------------------------------------------------- bimodal: sampling
run sample_file "$sample" -m m.json "$data/bimodal_test.csv" -n 4 --proposal-samples 64 --seed 7 -o s_a.csv \
  > sample_file.out
check "ebm-sample -o FILE wrote to stdout" test ! -s sample_file.out
check "ebm-sample -o FILE wrote to stderr" no_stderr sample_file
check "sample header" header_is s_a.csv "row,sample,y"
check "sample rows = input rows x N, indices in order" sample_indices s_a.csv 500 4
check "sample values" numeric s_a.csv
run sample_pipe "$sample" -m m.json -n 4 --proposal-samples 64 --seed 7 < <(cat "$data/bimodal_test.csv") > s_pipe.csv
check "samples from a pipe differ from the file's" same s_a.csv s_pipe.csv
run sample_again "$sample" -m m.json - -n 4 --proposal-samples 64 --seed 7 -j 2 < "$data/bimodal_test.csv" > s_j2.csv
check "samples with -j2 (or a second run) differ" same s_a.csv s_j2.csv
run sample_seed "$sample" -m m.json "$data/bimodal_test.csv" -n 4 --proposal-samples 64 --seed 8 -o s_seed8.csv
check "samples do not depend on --seed" differ s_a.csv s_seed8.csv
run sample_mala "$sample" -m m.json "$data/bimodal_test.csv" -n 3 --proposal-samples 32 --langevin-steps 2 \
  --langevin-step 0.1 --seed 7 -o s_mala.csv
check "Langevin samples: rows and indices" sample_indices s_mala.csv 500 3
check "Langevin sample values" numeric s_mala.csv
# predict --keep x | sample: the kept x column feeds the sampler, same draws as from the file.
check "ebm-predict --keep x | ebm-sample differs from sampling the file" bash -c \
  "set -o pipefail; '$predict' -m m.json --samples 8 --keep x < '$data/bimodal_test.csv' |
   '$sample' -m m.json -n 4 --proposal-samples 64 --seed 7 | cmp - s_a.csv"

# ------------------------------------------------------ input formats and output formats
# Tabs: --tabs, --delimiter '\t' and --delimiter tab read the same; output keeps the tab.
tr ',' '\t' < "$data/bimodal_test.csv" > test.tsv
tr ',' '\t' < pred_a.csv > pred_a.tsv
for how in tabs backslash_t word; do
  case "$how" in
    tabs) flag=(--tabs) ;;
    backslash_t) flag=(--delimiter '\t') ;;
    word) flag=(--delimiter tab) ;;
  esac
  run "pred_$how" "$predict" -m m.json test.tsv "${flag[@]}" "${popts[@]}" --keep x --interval 0.9 \
    --quantiles 0.05,0.95 --mode --logpdf -o "pred_$how.tsv"
  check "tab-separated prediction ($how)" same pred_a.tsv "pred_$how.tsv"
done
check "tab-separated values" numeric pred_tabs.tsv $'\t'
# Training on a TSV gives the same checkpoint.
tr ',' '\t' < "$data/bimodal_train.csv" > train.tsv
run train_tabs "$train" train.tsv --tabs --target y -m m_tabs.json "${tiny[@]}" --seed 5 -q
check "checkpoint trained from TSV differs" python3 - m.json m_tabs.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
a["training"].pop("data"); b["training"].pop("data")
a["training"].pop("config", None); b["training"].pop("config", None)  # the command line, which differs
assert a == b
PY
# Semicolons in, semicolons out; commas in, --output-delimiter ';' out.
tr ',' ';' < "$data/bimodal_test.csv" > test.ssv
tr ',' ';' < pred_a.csv > pred_a.ssv
run pred_semicolon "$predict" -m m.json test.ssv --delimiter ';' "${popts[@]}" --keep x --interval 0.9 \
  --quantiles 0.05,0.95 --mode --logpdf -o pred_semicolon.ssv
check "--delimiter ';' prediction" same pred_a.ssv pred_semicolon.ssv
run pred_outdelim "$predict" -m m.json "$data/bimodal_test.csv" --output-delimiter ';' "${popts[@]}" --keep x \
  --interval 0.9 --quantiles 0.05,0.95 --mode --logpdf -o pred_outdelim.ssv
check "--output-delimiter ';' prediction" same pred_a.ssv pred_outdelim.ssv
run pred_tsv_to_csv "$predict" -m m.json test.tsv --tabs --output-delimiter , "${popts[@]}" --keep x \
  --interval 0.9 --quantiles 0.05,0.95 --mode --logpdf -o pred_tsv_to_csv.csv
check "--tabs --output-delimiter , prediction" same pred_a.csv pred_tsv_to_csv.csv
run sample_outdelim "$sample" -m m.json test.tsv --tabs -n 4 --proposal-samples 64 --seed 7 -o s_tabs.tsv
check "--tabs samples" cmp <(tr '\t' ',' < s_tabs.tsv) s_a.csv

# --no-header: columns are named 1, 2, ...; the model is the same up to the names.
tail -n +2 "$data/bimodal_train.csv" > train_noheader.csv
tail -n +2 "$data/bimodal_test.csv" > test_noheader.csv
run train_noheader "$train" train_noheader.csv --no-header --target 2 -m m_noheader.json "${tiny[@]}" --seed 5 -q
check "--no-header checkpoint: names 1/2, same numbers as with the header" \
  python3 - m.json m_noheader.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert b["features"] == ["1"] and b["targets"] == ["2"], (b["features"], b["targets"])
for key in ("normalization", "architecture", "parameters"):
    assert a[key] == b[key], key
PY
run pred_noheader "$predict" -m m_noheader.json test_noheader.csv --no-header "${popts[@]}" --keep 1 \
  --interval 0.9 --quantiles 0.05,0.95 --mode -o pred_noheader.csv
check "--no-header prediction header" header_is pred_noheader.csv "1,2_mean,2_std,2_lo,2_hi,2_q0.05,2_q0.95,2_mode"
check "--no-header prediction rows" rows_are pred_noheader.csv 500
check "--no-header predictions equal the ones with a header" \
  cmp <(tail -n +2 pred_noheader.csv) <(tail -n +2 pred_a.csv | cut -d, -f1-8)

# --precision: at most that many significant digits, close to the full values; 0 and 17
# both round-trip; the default is 7 digits.
for p in 0 3 17; do
  run "pred_precision$p" "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --interval 0.9 --logpdf \
    --precision "$p" -o "pred_p$p.csv"
done
run pred_precision_default "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --interval 0.9 --logpdf \
  -o pred_pdefault.csv
run pred_precision7 "$predict" -m m.json "$data/bimodal_test.csv" "${popts[@]}" --interval 0.9 --logpdf \
  --precision 7 -o pred_p7.csv
check "--precision 7 is the default" same pred_pdefault.csv pred_p7.csv
check "--precision values" python3 - pred_p0.csv pred_p3.csv pred_p17.csv pred_p7.csv <<'PY'
import csv, re, sys
def load(path):
    rows = list(csv.reader(open(path)))
    return rows[0], rows[1:]
def digits(text):  # significant digits of a decimal number
    mantissa = re.split("[eE]", text.lstrip("-"))[0].replace(".", "").lstrip("0")
    return len(mantissa)
h0, full = load(sys.argv[1])
for path, limit in ((sys.argv[2], 3), (sys.argv[4], 7)):
    h, rows = load(path)
    assert h == h0 and len(rows) == len(full) == 500
    for r, f in zip(rows, full):
        for text, exact in zip(r, f):
            assert digits(text) <= limit, (path, text)
            v, x = float(text), float(exact)
            assert abs(v - x) <= 0.51 * 10 ** (1 - limit) * abs(x) + 1e-300, (path, text, exact)
h17, rows17 = load(sys.argv[3])
assert h17 == h0
for r, f in zip(rows17, full):
    assert [float(t) for t in r] == [float(t) for t in f], (r, f)  # both round-trip the same doubles
assert any(digits(t) > 7 for r in full for t in r), "--precision 0 should print more than 7 digits somewhere"
PY
run sample_precision "$sample" -m m.json "$data/bimodal_test.csv" -n 2 --proposal-samples 32 --precision 2 -o s_p2.csv
check "sample --precision 2" awk -F, 'NR > 1 { m = $3; sub(/^-/, "", m); sub(/[eE].*/, "", m); gsub(/\./, "", m);
  sub(/^0+/, "", m); if (length(m) > 2) { print "  " $3 " has more than 2 digits"; bad = 1; exit } } END { exit bad }' s_p2.csv

# --------------------------------------------------- multi: a text id column, --keep id
run train_multi "$train" "$data/multi_train.csv" --target y -m m_multi.json "${tiny[@]}" --seed 5
check "text column id is reported as ignored" grep -q "ignoring text columns: id" train_multi.err
check "text column id must not be a feature" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["features"] == ["x1", "x2", "x3", "x4", "x5"], c["features"]
assert c["targets"] == ["y"] and c["architecture"]["x_dim"] == 5' m_multi.json
run pred_multi "$predict" -m m_multi.json "$data/multi_test.csv" --keep id "${popts[@]}" --interval 0.8 \
  --quantiles 0.5 --metrics metrics_multi.json -o pred_multi.csv
check "multi header" header_is pred_multi.csv "id,y_mean,y_std,y_lo,y_hi,y_q0.5"
check "multi rows" rows_are pred_multi.csv 500
check "multi values (id is text)" numeric pred_multi.csv , 1
check "multi lo <= q0.5 <= hi" ordered pred_multi.csv y_lo y_q0.5 y_hi
check "multi y_std > 0" positive pred_multi.csv y_std
check "--keep id copies the ids in order" cmp <(cut -d, -f1 "$data/multi_test.csv") <(cut -d, -f1 pred_multi.csv)
check "multi metrics" python3 -c '
import json, math, sys
m = json.load(open(sys.argv[1]))
assert m["rows"] == 500 and all(math.isfinite(m[k]) for k in ("nll", "rmse", "mae", "crps", "coverage"))
assert m["interval"] == 0.8' metrics_multi.json
# Columns in another order, through a pipe: the model picks its features by name.
awk -F, -v OFS=, '{ print $7, $5, $1, $3, $2, $4, $6 }' "$data/multi_test.csv" > multi_shuffled.csv
run pred_multi_shuffled "$predict" -m m_multi.json --keep id "${popts[@]}" --interval 0.8 \
  --quantiles 0.5 < <(cat multi_shuffled.csv) > pred_multi_shuffled.csv
check "predictions depend on the column order of the input" same pred_multi.csv pred_multi_shuffled.csv
run sample_multi "$sample" -m m_multi.json "$data/multi_test.csv" --keep id -n 3 --proposal-samples 32 -o s_multi.csv
check "multi sample header" header_is s_multi.csv "row,sample,id,y"
check "multi sample indices" sample_indices s_multi.csv 500 3
check "multi sample values" numeric s_multi.csv , 3
check "multi sample ids follow the rows" python3 -c '
import csv, sys
ids = [r["id"] for r in csv.DictReader(open(sys.argv[1]))]
for r in csv.DictReader(open(sys.argv[2])):
    assert r["id"] == ids[int(r["row"])], r' "$data/multi_test.csv" s_multi.csv

# ------------------------------------------------------------- two targets: y1 and y2
run train_two "$train" - --target y1 --target y2 -m m_two.json "${tiny[@]}" --seed 5 -q < <(cat "$data/twotarget_train.csv")
check "two-target checkpoint" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["features"] == ["x"] and c["targets"] == ["y1", "y2"] and c["architecture"]["y_dim"] == 2' m_two.json
run pred_two "$predict" -m m_two.json - "${popts[@]}" --interval 0.8 --quantiles 0.1,0.5,0.9 --mode --logpdf \
  --metrics metrics_two.json < "$data/twotarget_test.csv" > pred_two.csv
check "two-target header" header_is pred_two.csv \
  "y1_mean,y1_std,y1_lo,y1_hi,y1_q0.1,y1_q0.5,y1_q0.9,y1_mode,y2_mean,y2_std,y2_lo,y2_hi,y2_q0.1,y2_q0.5,y2_q0.9,y2_mode,log_density"
check "two-target rows" rows_are pred_two.csv 500
check "two-target values" numeric pred_two.csv
check "y1: lo <= q0.5 <= hi" ordered pred_two.csv y1_lo y1_q0.5 y1_hi
check "y2: lo <= q0.5 <= hi" ordered pred_two.csv y2_lo y2_q0.5 y2_hi
check "y1: q0.1 <= q0.5 <= q0.9" ordered pred_two.csv y1_q0.1 y1_q0.5 y1_q0.9
check "y2: q0.1 <= q0.5 <= q0.9" ordered pred_two.csv y2_q0.1 y2_q0.5 y2_q0.9
check "two-target std > 0" positive pred_two.csv y1_std y2_std
check "two-target metrics" python3 -c '
import json, math, sys
m = json.load(open(sys.argv[1]))
for k in ("rows", "nll", "rmse", "mae", "crps", "coverage"):
    assert k in m, k
assert m["rows"] == 500 and all(math.isfinite(m[k]) for k in ("nll", "rmse", "mae", "crps", "coverage"))
assert list(m["targets"]) == ["y1", "y2"], list(m["targets"])
for t in m["targets"].values():
    assert abs(sum(t["pit_histogram"]) - 1) < 1e-9' metrics_two.json
for j in 1 2; do
  run "sample_two_j$j" "$sample" -m m_two.json "$data/twotarget_test.csv" -n 5 --proposal-samples 32 --seed 2 \
    -j "$j" -o "s_two_j$j.csv"
done
check "two-target sample header" header_is s_two_j1.csv "row,sample,y1,y2"
check "two-target sample indices" sample_indices s_two_j1.csv 500 5
check "two-target sample values" numeric s_two_j1.csv
check "two-target samples with -j1 and -j2 differ" same s_two_j1.csv s_two_j2.csv

if [[ $failures -gt 0 ]]; then
  echo "pipeline: $failures of $checks checks failed" >&2
  exit 1
fi
echo "pipeline: ok ($checks checks)"
