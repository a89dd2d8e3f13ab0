#!/usr/bin/env bash
# Ensembles: ebm-train --ensemble 2 writes one checkpoint with members 2..N under
# "ensemble"; members trained apart (--first-member) and combined with --merge predict and
# sample byte-identically; the mixture is wider than a member alone where they disagree;
# --merge refuses incompatible members with a message naming the difference and writes
# nothing; the x-embedding mix keeps the losing candidate as a weighted last member.
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
train="$build/ebm-train"; predict="$build/ebm-predict"; sample="$build/ebm-sample"
data="$src/data/bimodal_train.csv"; test_data="$src/data/bimodal_test.csv"
# Without calibration, so that the members trained apart are exactly those trained at once
# (an ensemble trained at once also fits a shared temperature: checked further down).
common=(--epochs 2 --hidden 16 --samples 16 --seed 4 -q --x-embedding none --no-calibrate)

"$train" "$data" -t y -m both.json --ensemble 2 "${common[@]}" || { fail "train --ensemble 2"; exit 1; }
"$train" "$data" -t y -m m0.json --ensemble 1 "${common[@]}" || fail "train member 0"
"$train" "$data" -t y -m m1.json --first-member 1 "${common[@]}" || fail "train member 1"
"$train" --merge m0.json m1.json -m merged.json -q || fail "--merge"
python3 - <<'PY' || fail "checkpoint layout (see above)"
import json
both, m0, merged = (json.load(open(f)) for f in ("both.json", "m0.json", "merged.json"))
assert "ensemble" not in m0, "a single model has no 'ensemble' key"
assert len(both["ensemble"]) == 1 and both["ensemble"][0]["results"]["member_seed"] == 5, both.get("ensemble")
assert both["parameters"] == m0["parameters"], "member 1 of the ensemble is the single model of the same seed"
assert merged["ensemble"][0]["parameters"] == both["ensemble"][0]["parameters"], "merged member 2 differs"
PY
for m in both merged m0; do
  "$predict" -m $m.json "$test_data" --samples 64 --interval 0.9 --mode --logpdf --ess -o $m.csv \
    --metrics $m.metrics.json || fail "predict $m"
  "$sample" -m $m.json "$test_data" -n 4 --langevin-steps 2 --seed 1 -o $m.samples.csv || fail "sample $m"
done
cmp -s both.csv merged.csv || fail "merged and --ensemble 2 predictions differ"
cmp -s both.samples.csv merged.samples.csv || fail "merged and --ensemble 2 samples differ"
cmp -s both.csv m0.csv && fail "the ensemble predicts exactly what its first member does"
python3 - <<'PY' || fail "mixture figures (see above)"
import csv, json
def col(f, name): return [float(r[name]) for r in csv.DictReader(open(f))]
both, m0 = json.load(open("both.metrics.json")), json.load(open("m0.metrics.json"))
# Two members' candidates: about twice the effective sample size of one.
assert both["mean_ess"] > 1.5 * m0["mean_ess"], (both["mean_ess"], m0["mean_ess"])
assert all(abs(v) < 1e6 for v in col("both.csv", "log_density"))
rows = list(csv.DictReader(open("both.samples.csv")))
assert len(rows) == 4 * 500 and {r["sample"] for r in rows} == {"0", "1", "2", "3"}, len(rows)
PY

# Calibrated (the default): each member's own temperature, then one shared temperature
# fitted on the mixture's validation NLL, said on stderr and recorded.
"$train" "$data" -t y -m cal.json --ensemble 2 --epochs 2 --hidden 16 --samples 16 --seed 4 --x-embedding none \
  --no-progress 2> cal.err || fail "train calibrated --ensemble 2: $(cat cal.err)"
grep -Eq "^ensemble of 2: temperature [0-9.]+, validation NLL -?[0-9.]+ -> -?[0-9.]+$" cal.err ||
  fail "shared temperature not said: $(cat cal.err)"
python3 - <<'PY' || fail "shared temperature record (see above)"
import json
r = json.load(open("cal.json"))["results"]
assert 0.6 <= r["ensemble_temperature"] <= 4, r
assert r["ensemble_valid_nll_calibrated"] <= r["ensemble_valid_nll"], r
PY
# --ensemble auto (the default): two members below 100,000 training rows (500 and 1800
# here), never a third.
head -n 501 "$data" > small.csv
"$train" small.csv -t y -m small.json --epochs 2 --hidden 8 --samples 8 --seed 4 --x-embedding none --no-progress \
  2> small.err || fail "train auto ensemble: $(cat small.err)"
grep -qx "ensemble member 2 (2 of 2), seed 5" small.err || fail "auto ensemble: no second member: $(cat small.err)"
grep -q "ensemble member 3" small.err && fail "auto ensemble on 500 rows: a third member: $(cat small.err)"
python3 -c 'import json,sys; c=json.load(open("small.json")); sys.exit(len(c["ensemble"]) != 1 or "ensemble_temperature" not in c["results"])' ||
  fail "auto ensemble: not 2 members with a shared temperature"
"$train" "$data" -t y -m mid.json --epochs 2 --hidden 8 --samples 8 --seed 4 --x-embedding none --no-progress \
  2> mid.err || fail "train auto ensemble on 1800 rows: $(cat mid.err)"
grep -qx "ensemble member 2 (2 of 2), seed 5" mid.err || fail "auto ensemble on 1800 rows: no second member: $(cat mid.err)"
grep -q "ensemble member 3" mid.err && fail "auto ensemble on 1800 rows: a third member: $(cat mid.err)"
python3 -c 'import json,sys; c=json.load(open("mid.json")); sys.exit(len(c["ensemble"]) != 1 or "ensemble_temperature" not in c["results"])' ||
  fail "auto ensemble on 1800 rows: not 2 members with a shared temperature"
# With --x-embedding auto (the default) below 1000 rows, the probe's other candidate
# trains on as a third member with a fitted weight: the run is --x-embedding mix
# --ensemble 3, bit for bit. Without calibration nothing fits the weight: 2 members.
"$train" small.csv -t y -m small_auto.json --epochs 2 --hidden 8 --samples 8 --seed 4 --no-progress 2> small_auto.err ||
  fail "train auto ensemble, auto x-embedding: $(cat small_auto.err)"
grep -q "trains on as the ensemble's other member" small_auto.err || fail "auto: no other member: $(cat small_auto.err)"
grep -Eq "^ensemble of 3: temperature [0-9.]+, weight of x-embedding (none|periodic) [0-9.e-]+, " small_auto.err ||
  fail "auto: not an ensemble of 3 with a weight: $(cat small_auto.err)"
"$train" small.csv -t y -m small_mix3.json --epochs 2 --hidden 8 --samples 8 --seed 4 -q --x-embedding mix --ensemble 3 ||
  fail "train mix of 3"
python3 - <<'PY' || fail "auto on small data is not the x-embedding mix of 3 (see above)"
import json
a, b = json.load(open("small_auto.json")), json.load(open("small_mix3.json"))
assert a["format_version"] == 4 and len(a["ensemble"]) == 2, (a["format_version"], len(a["ensemble"]))
assert "architecture" in a["ensemble"][1] and "architecture" not in a["ensemble"][0]
assert a["ensemble"][1]["architecture"].get("x_embedding", "none") != a["architecture"].get("x_embedding", "none")
w = a["ensemble_weights"]
assert len(w) == 3 and abs(sum(w) - 1) < 1e-9 and w[0] == w[1], w
assert a["parameters"] == b["parameters"] and a["ensemble"] == b["ensemble"] and w == b["ensemble_weights"]
PY
"$train" small.csv -t y -m small_nocal.json --epochs 2 --hidden 8 --samples 8 --seed 4 --no-calibrate -q ||
  fail "train auto without calibration"
python3 -c 'import json,sys; c=json.load(open("small_nocal.json")); sys.exit(len(c["ensemble"]) != 1 or "ensemble_weights" in c)' ||
  fail "auto without calibration: not 2 members of one candidate"
# --samples auto and --lr auto (the defaults): 64 noise samples per example and a learning
# rate of 0.001, but 32 samples and 0.002 with NCE from 1000 rows.
"$train" "$data" -t y -m mid_samples.json --epochs 1 --hidden 8 --ensemble 1 --x-embedding none --no-progress \
  2> mid_samples.err || fail "train with --samples auto: $(cat mid_samples.err)"
grep -q "method nce, noise learned, 32 samples per example" mid_samples.err || fail "--samples auto on 1800 rows: $(cat mid_samples.err)"
grep -q "32 samples per example, learning rate 0.002$" mid_samples.err || fail "--lr auto on 1800 rows: $(cat mid_samples.err)"
"$train" small.csv -t y -m small_samples.json --epochs 1 --hidden 8 --ensemble 1 --x-embedding none --method nce+ -q ||
  fail "train nce+ with --samples auto"
"$train" "$data" -t y -m mid_nceplus.json --epochs 1 --hidden 8 --ensemble 1 --x-embedding none --method nce+ -q ||
  fail "train nce+ on 1800 rows with --samples auto"
python3 - <<'PY' || fail "--samples auto in the checkpoints (see above)"
import json
for path, samples, lr in (("mid_samples.json", 32, 0.002), ("small_samples.json", 64, 0.001),
                          ("mid_nceplus.json", 64, 0.001), ("mid.json", 8, 0.002)):
    training = json.load(open(path))["training"]
    assert (training["samples"], training["learning_rate"]) == (samples, lr), (path, training["samples"],
                                                                             training["learning_rate"], samples, lr)
PY

# Incompatible members: another seed is another validation split, so other statistics.
"$train" "$data" -t y -m other.json --epochs 2 --hidden 16 --samples 16 --seed 9 -q --x-embedding none || fail "train other seed"
"$train" "$data" -t y -m wider.json --epochs 2 --hidden 20 --samples 16 --seed 4 -q --x-embedding none || fail "train wider"
out=$("$train" --merge m0.json other.json -m bad.json 2>&1); rc=$?
[ $rc -eq 1 ] || fail "--merge of another split: exit $rc"
grep -q "other.json: cannot be merged with m0.json: normalization (x_mean) differs" <<< "$out" || fail "message: $out"
[ -e bad.json ] && fail "a refused merge left bad.json"
# Another architecture on the same rows merges: the member keeps its own (format 4).
"$train" --merge m0.json wider.json -m wide_mix.json 2> /dev/null || fail "--merge of another architecture"
python3 - <<'PY' || fail "merged architectures (see above)"
import json
c = json.load(open("wide_mix.json"))
assert c["format_version"] == 4 and c["architecture"]["hidden"] == 16, c["format_version"]
assert c["ensemble"][0]["architecture"]["hidden"] == 20, c["ensemble"][0].keys()
assert "ensemble_weights" not in c  # two single models: equal weights
PY
"$predict" -m wide_mix.json "$test_data" -o wide_mix.csv --logpdf || fail "predict with merged architectures"
out=$("$train" --merge m0.json -m bad.json 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--merge of one file: exit $rc ($out)"
out=$("$train" "$data" -t y --merge m0.json m1.json -m bad.json 2>&1); rc=$?
{ [ $rc -eq 2 ] && grep -q "takes no DATA" <<< "$out"; } || fail "--merge with DATA: exit $rc ($out)"
out=$("$train" "$data" -t y -m bad.json --ensemble 2 --checkpoint-every 1 -q 2>&1); rc=$?
{ [ $rc -eq 2 ] && grep -q -- "--first-member" <<< "$out"; } || fail "--ensemble with --checkpoint-every: exit $rc ($out)"
out=$("$train" "$data" -t y -m bad.json --refit --checkpoint-every 1 -q 2>&1); rc=$?
{ [ $rc -eq 2 ] && grep -q "^ebm-train: error: --refit cannot be used with --checkpoint-every" <<< "$out"; } ||
  fail "--refit with --checkpoint-every: exit $rc ($out)"
[ -e bad.json ] && fail "a refused --refit left bad.json"

# --x-embedding auto (the default): member 1 is trained without an embedding and with the
# periodic one for a quarter of the epochs (8 -> 2), each exactly as its explicit option
# would train it; the one with the lower calibrated validation NLL then (with the per-row
# difference and its standard error recorded) trains on, and ends exactly as its explicit
# run of all the epochs; members trained apart need an explicit choice.
# One member each, so that the kept candidate's parameters are those of its explicit run
# (a shared temperature rescales every member's energy).
quick=(--hidden 16 --samples 16 --seed 4 --no-progress --ensemble 1 --early-stopping 0)
"$train" "$data" -t y -m auto.json --epochs 8 "${quick[@]}" 2> auto.err || fail "train auto: $(cat auto.err)"
"$train" "$data" -t y -m none.json --epochs 2 "${quick[@]}" -q --x-embedding none || fail "train none"
"$train" "$data" -t y -m periodic.json --epochs 2 "${quick[@]}" -q --x-embedding periodic || fail "train periodic"
chosen=$(python3 -c 'import json; print(json.load(open("auto.json"))["architecture"].get("x_embedding", "none"))')
"$train" "$data" -t y -m chosen.json --epochs 8 "${quick[@]}" -q --x-embedding "$chosen" || fail "train $chosen"
grep -qx "x-embedding none (candidate 1 of 2), 2 epoch(s) to compare" auto.err || fail "candidate 1 not said: $(cat auto.err)"
grep -qx "x-embedding periodic (candidate 2 of 2), 2 epoch(s) to compare" auto.err || fail "candidate 2 not said: $(cat auto.err)"
grep -Eq "^x-embedding: kept (none|periodic) \(lowest validation NLL after 2 epoch\(s\), -?[0-9.]+; periodic - none -?[0-9.e-]+ \+- [0-9.e-]+ per row\)$" auto.err ||
  fail "choice not said: $(cat auto.err)"
grep -q "^trained 8 epochs in" auto.err || fail "the kept candidate did not train on to epoch 8: $(cat auto.err)"
python3 - <<'PY' || fail "auto selection (see above)"
import json
auto, none, periodic, chosen = (json.load(open(f)) for f in ("auto.json", "none.json", "periodic.json", "chosen.json"))
selection = auto["results"]["x_embedding_selection"]
assert selection["probe_epochs"] == 2, selection
probes = {"none": none, "periodic": periodic}
for name, model in probes.items():  # each candidate's NLL is its explicit 2-epoch run's
    assert selection[name] == model["results"]["valid_nll_calibrated"], (name, selection, model["results"])
kept = auto["architecture"].get("x_embedding", "none")
# The paired per-row difference estimates the same quantity as the two validation NLLs.
assert abs(selection["difference"] - (selection["periodic"] - selection["none"])) < 1e-3, selection
assert selection["standard_error"] > 0, selection
assert selection[kept] == min(selection["none"], selection["periodic"]), (kept, selection)
# Stopped after the probe and continued: bit for bit the run that was never stopped.
assert auto["parameters"] == chosen["parameters"], "the kept candidate differs from its explicit 8-epoch run"
assert auto["architecture"] == chosen["architecture"]
assert auto["results"]["epochs_run"] == 8 and len(auto["results"]["history"]) == 8, auto["results"]["epochs_run"]
for a, b in zip(auto["results"]["history"], chosen["results"]["history"]):  # all but the seconds
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}, (a, b)
assert 'x-embedding="auto"' in auto["training"]["config"], auto["training"]["config"]
assert "ensemble" not in auto, "--ensemble 1 trains one model"
PY
# ebm-inspect states the choice with the figures it was made on.
inspect="$build/ebm-inspect"
"$inspect" auto.json > inspect.txt || fail "inspect auto.json"
grep -Eq "^x-embedding: kept (none|periodic) \(lower validation NLL after 2 epoch\(s\) and calibration\): none -?[0-9.]+, periodic -?[0-9.]+; periodic - none -?[0-9.e-]+ \+- [0-9.e-]+ per row$" inspect.txt ||
  fail "inspect's x-embedding line: $(grep x-embedding inspect.txt)"
out=$("$train" "$data" -t y -m bad.json --first-member 1 -q 2>&1); rc=$?
{ [ $rc -eq 2 ] && grep -q -- "--first-member needs --x-embedding none or periodic" <<< "$out"; } ||
  fail "--first-member with auto: exit $rc ($out)"

# The x-embedding mix (--x-embedding mix): the candidate that lost the probe
# trains on to the end as the last member (its history exactly its explicit run's), and
# its mixture weight is fitted on the validation rows with the shared temperature; the
# checkpoint (format 4) keeps each member's architecture and weight; predictions use them.
mixed=(--hidden 16 --samples 16 --seed 4 --no-progress --early-stopping 0)
"$train" small.csv -t y -m mix.json --epochs 8 "${mixed[@]}" --ensemble 3 --x-embedding mix 2> mix.err ||
  fail "train the x-embedding mix: $(cat mix.err)"
grep -Eq "^x-embedding (none|periodic) trains on as the ensemble's other member$" mix.err ||
  fail "the other candidate's training not said: $(cat mix.err)"
grep -Eq "^ensemble of 3: temperature [0-9.]+, weight of x-embedding (none|periodic) [0-9.e-]+, validation NLL -?[0-9.]+ -> -?[0-9.]+$" mix.err ||
  fail "the mix's weight not said: $(cat mix.err)"
other=$(python3 -c 'import json; print(json.load(open("mix.json"))["ensemble"][1]["architecture"]["x_embedding"])')
"$train" small.csv -t y -m mix_other.json --epochs 8 "${mixed[@]}" --ensemble 1 -q --x-embedding "$other" ||
  fail "train $other"
"$predict" -m mix.json "$test_data" -o mix.csv --logpdf --metrics mix.metrics.json || fail "predict with the mix"
"$inspect" mix.json > mix.inspect.txt || fail "inspect mix.json"
python3 - <<'PY' || fail "x-embedding mix (see above)"
import csv, json, math
mix, alone = json.load(open("mix.json")), json.load(open("mix_other.json"))
assert mix["format_version"] == 4, mix["format_version"]
kept = mix["architecture"].get("x_embedding", "none")
members = mix["ensemble"]
assert "architecture" not in members[0], members[0].keys()  # member 2: the kept candidate
assert members[1]["architecture"]["x_embedding"] != kept, (kept, members[1]["architecture"])
w = mix["ensemble_weights"]
assert len(w) == 3 and abs(sum(w) - 1) < 1e-12 and min(w) >= 0, w
assert w[0] == w[1] and abs(w[2] - mix["results"]["ensemble_other_weight"]) < 1e-15, (w, mix["results"])
# Continued from its probe: exactly its explicit 8-epoch run, epoch by epoch.
h, g = members[1]["results"]["history"], alone["results"]["history"]
assert len(h) == len(g) == 8, (len(h), len(g))
for a, b in zip(h, g):
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}, (a, b)
m = json.load(open("mix.metrics.json"))
assert math.isfinite(m["nll"]) and 0 < m["coverage"] <= 1, m
assert all(math.isfinite(float(r["log_density"])) for r in csv.DictReader(open("mix.csv")))
PY
grep -Eq "^members \(mixture weights\): 1: x-embedding (none|periodic), [0-9]+ parameters, weight [0-9.e-]+; 2: .*; 3: x-embedding $other, [0-9]+ parameters, weight [0-9.e-]+$" mix.inspect.txt ||
  fail "inspect's member line: $(cat mix.inspect.txt)"
grep -q "weight of the other x-embedding" mix.inspect.txt || fail "inspect's ensemble calibration: $(cat mix.inspect.txt)"
# auto (the default) keeps one candidate only; mix needs two members.
"$train" small.csv -t y -m auto3.json --epochs 2 --hidden 8 --samples 8 --seed 4 --ensemble 3 --no-progress 2> auto3.err ||
  fail "train auto with 3 members: $(cat auto3.err)"
grep -q "other member" auto3.err && fail "auto trained the other candidate: $(cat auto3.err)"
python3 -c 'import json,sys; c=json.load(open("auto3.json")); sys.exit(c["format_version"] != 2 or "ensemble_weights" in c or any("architecture" in m for m in c["ensemble"]))' ||
  fail "auto with 3 members: not one architecture with equal weights"
out=$("$train" small.csv -t y -m bad.json --x-embedding mix --ensemble 1 -q 2>&1); rc=$?
{ [ $rc -eq 2 ] && grep -q -- "--x-embedding mix needs --ensemble 2 or more" <<< "$out"; } ||
  fail "--x-embedding mix --ensemble 1: exit $rc ($out)"
[ -e bad.json ] && fail "a refused mix left bad.json"

[ $failures -eq 0 ] && echo "ensemble: all checks passed"
exit $((failures > 0))
