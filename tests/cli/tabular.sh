#!/usr/bin/env bash
# Tabular data as it comes (data/mixed_*.csv): missing feature cells (empty, NA, other
# --na-values tokens) in training and prediction, rows with a missing target, and a
# categorical column, through ebm-train, ebm-predict and ebm-sample: what stderr says,
# what the checkpoint records, which cells are empty, which rows the metrics count.
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
data="$src/data/mixed_train.csv"; test_data="$src/data/mixed_test.csv"
tiny=(--epochs 3 --hidden 16 --samples 16 --seed 2 --no-progress)

# 1. NA in x's first cell no longer drops x as "text"; group is text and not declared.
"$train" "$data" -t y -m plain.json "${tiny[@]}" 2> plain.err || fail "train without --categorical: $(cat plain.err)"
grep -q "; features: x; targets: y$" plain.err || fail "x is not a feature: $(cat plain.err)"
grep -qx "ignoring text columns: group" plain.err || fail "no note about group: $(cat plain.err)"
grep -qx "ebm-train: skipped 8 row(s) with a missing target value" plain.err || fail "skipped rows: $(cat plain.err)"
grep -qx "missing values in 57 training row(s); imputed by the mean, with an indicator input, for: x" plain.err ||
  fail "missing-value note: $(cat plain.err)"

# 2. With --categorical: one-hot over the 4 levels, recorded in the checkpoint.
"$train" "$data" -t y --categorical group -m cat.json "${tiny[@]}" 2> cat.err || fail "train --categorical: $(cat cat.err)"
grep -q "; features: x, group; targets: y$" cat.err || fail "features: $(cat cat.err)"
grep -qx "categorical (one-hot): group (4 levels)" cat.err || fail "categorical note: $(cat cat.err)"
grep -q "ignoring" cat.err && fail "a declared categorical column was ignored"
"$train" "$data" -t y --categorical group -m quiet.json "${tiny[@]}" -q 2> quiet.err || fail "train -q"
[ -s quiet.err ] && fail "-q training wrote to stderr: $(cat quiet.err)"
python3 - <<'PY' || fail "checkpoint fields (see above)"
import json
plain, cat = json.load(open("plain.json")), json.load(open("cat.json"))
assert plain["features"] == ["x"] and plain["architecture"]["x_dim"] == 2, plain["architecture"]
assert plain["feature_encoding"] == [{"kind": "numeric", "missing_in_training": True}], plain["feature_encoding"]
assert cat["features"] == ["x", "group"] and cat["architecture"]["x_dim"] == 6
assert cat["feature_encoding"][1] == {"kind": "categorical", "missing_in_training": False,
                                      "levels": ["a", "b", "c", "d"]}, cat["feature_encoding"]
assert len(cat["normalization"]["x_mean"]) == 2 and cat["normalization"]["x_mean"][1] == 0
assert cat["training"]["rows"] == 392 - 64, cat["training"]["rows"]  # 400 rows, 8 without target, 64 held out
PY

# 3. Predict the bundled test file (missing x, complete targets): every row scored.
"$predict" -m cat.json "$test_data" --logpdf --metrics m.json -o pred.csv 2> pred.err || fail "predict: $(cat pred.err)"
[ -s pred.err ] && fail "predict warned on the bundled test file: $(cat pred.err)"
[ "$(wc -l < pred.csv)" = 201 ] || fail "expected 200 prediction rows"
grep -q ',,\|,$' pred.csv && fail "empty cells in the predictions of complete targets"
python3 -c "import json; m = json.load(open('m.json')); assert m['rows'] == 200 and 'rows_without_target' not in m, m" ||
  fail "metrics rows"

# 4. Unseen levels, missing targets and a missing x in the rows to predict.
printf 'x,group,y\n1.5,a,0.3\nNA,e,\n,b,1\n2,zz,NA\n0.5,c,2\n' > odd.csv
"$predict" -m cat.json odd.csv --logpdf --keep group --metrics odd.json -o odd.csv.out 2> odd.err ||
  fail "predict odd rows: $(cat odd.err)"
grep -qx "ebm-predict: warning: 2 value(s) of categorical features not seen in training, treated as unknown (group: 2 (e.g. 'e'))" odd.err ||
  fail "unknown-level warning: $(cat odd.err)"
grep -qx "ebm-predict: warning: 2 row(s) without a target value: predicted, but without log_density and left out of the metrics" odd.err ||
  fail "missing-target warning: $(cat odd.err)"
[ "$(grep -c warning odd.err)" = 2 ] || fail "expected two warning lines: $(cat odd.err)"
awk -F, 'NR == 3 || NR == 5 { if ($NF != "") exit 1 } NR == 2 || NR == 4 || NR == 6 { if ($NF == "") exit 1 }' odd.csv.out ||
  fail "log_density must be empty exactly for the rows without target: $(cat odd.csv.out)"
python3 -c "import json; m = json.load(open('odd.json')); assert m['rows'] == 3 and m['rows_without_target'] == 2, m" ||
  fail "metrics of odd rows: $(cat odd.json)"
"$predict" -m cat.json odd.csv -q -o /dev/null 2> q.err; [ -s q.err ] && fail "-q predict warned: $(cat q.err)"
"$sample" -m cat.json odd.csv -n 3 -o s.csv 2> s.err || fail "sample: $(cat s.err)"
[ "$(wc -l < s.csv)" = 16 ] || fail "expected 15 sample rows"
grep -q "ebm-sample: warning: 2 value(s) of categorical features not seen in training" s.err || fail "sample warning: $(cat s.err)"

# A model trained on complete x: a missing x at prediction is imputed and counted.
printf 'x,y\n1,2\n2,3.5\n3,3\n4,5.5\n5,5\n6,7.5\n' > complete.csv
"$train" complete.csv -t y -m complete.json "${tiny[@]}" --valid-fraction 0 -q || fail "train complete"
grep -q feature_encoding complete.json && fail "a complete numeric model has a feature_encoding"
printf 'x\nNA\n2\n\n' > holes.csv  # the blank line is skipped, not a missing value
"$predict" -m complete.json holes.csv -o h.csv 2> h.err || fail "predict holes"
grep -qx "ebm-predict: warning: 1 missing value(s) in features that had none in training, imputed with the training mean (x: 1)" h.err ||
  fail "imputation warning: $(cat h.err)"

# 5. --na-values replaces the tokens; integer codes as levels ("2.0" is level 2).
printf 'x,code,y\n?,1,0\n1,2,1\n2,3,2\n3,1,0.5\n4,2,1.5\n5,3,2.5\n6,1,1\n7,2,2\n' > codes.csv
"$train" codes.csv -t y -m codes.json "${tiny[@]}" --valid-fraction 0 2> e.err || fail "train codes.csv"
grep -qx "ignoring text columns: x" e.err || fail "'?' is not a missing value by default: $(cat e.err)"
"$train" codes.csv -t y -m codes.json "${tiny[@]}" -q --valid-fraction 0 --na-values '?' --categorical code ||
  fail "train --na-values '?' --categorical code"
python3 -c "import json; e = json.load(open('codes.json'))['feature_encoding']; assert e[1]['levels'] == ['1', '2', '3'] and e[0]['missing_in_training'], e" ||
  fail "integer-coded levels"
printf 'x,code\n1,2.0\n?,3\n' > codes_test.csv
"$predict" -m codes.json codes_test.csv --na-values '?' -o c.csv 2> c.err || fail "predict codes: $(cat c.err)"
[ -s c.err ] && fail "2.0 is not level 2 / ? is not missing: $(cat c.err)"

# 6. Plots, ensembles.
"$predict" -m cat.json "$test_data" --plot p.svg -o /dev/null 2> plot.err && fail "--plot accepted two features"
grep -qx "ebm-predict: error: --plot needs a model with one feature and one target; cat.json has 2 feature(s) and 1 target(s)" plot.err ||
  fail "plot refusal: $(cat plot.err)"
"$predict" -m plain.json "$test_data" --plot p.svg -o /dev/null || fail "--plot of x with an indicator"
grep -q "<svg" p.svg || fail "no picture"
# Member 2 apart: with the x-embedding member 1 chose (--x-embedding auto keeps one).
chosen=$(python3 -c 'import json; print(json.load(open("cat.json"))["architecture"].get("x_embedding", "none"))')
"$train" "$data" -t y --categorical group -m cat1.json "${tiny[@]}" -q --first-member 1 --x-embedding "$chosen" ||
  fail "member 1"
"$train" --merge cat.json cat1.json -m ens.json -q || fail "merge categorical members"
"$train" --merge cat.json plain.json -m bad.json -q 2> merge.err && fail "merged different encodings"
grep -q "features (x, group vs x) differs" merge.err || fail "merge refusal: $(cat merge.err)"
"$predict" -m ens.json odd.csv -q -o ens.csv || fail "predict with the ensemble"

# 7. The periodic embedding reads the encoded inputs; a --valid file is encoded like the
#    training rows (its unseen levels and missing cells included).
"$train" "$data" -t y --categorical group -m emb.json "${tiny[@]}" -q --x-embedding periodic --embedding-dim 4 \
  --valid odd.csv 2> emb.err || fail "train --x-embedding periodic --valid: $(cat emb.err)"
python3 -c "
import json; c = json.load(open('emb.json'))
assert c['parameters']['x_embedding.frequencies']['shape'] == [16, 6], c['parameters']['x_embedding.frequencies']['shape']
assert c['training']['valid_rows'] == 3, c['training']" || fail "embedding of 6 inputs / 3 validation rows"
"$predict" -m emb.json odd.csv -q -o emb.csv || fail "predict with the embedding"

[ "$failures" -eq 0 ] || exit 1
echo "tabular: ok"
