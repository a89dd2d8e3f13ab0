#!/usr/bin/env bash
# The BMVC 2020 comparison of training methods ("How to Train Your Energy-Based Model for
# Regression", method reference A.1-A.7 and C.1): every method on the paper's 1D dataset 1
# (bimodal for x < 0, log-normal for x >= 0) and dataset 2 (heteroscedastic sine, generated
# here from D.2), scored by KL(ground truth || EBM) on the paper's 2048 x 2048 grid
# (bench/grid_kl.cpp), over several seeds, with the paper's settings and with ebm's defaults.
#
#   bash bench/methods1d.sh [--seeds N] [--jobs J] [--methods "m1 m2 ..."] [--datasets "1 2"]
#                           [--settings "paper defaults defaults-tanh defaults-relative"]
#                           [--build DIR] [--out FILE]
#                           [--paper-samples M] [--paper-epochs N]
#
# --paper-samples / --paper-epochs shrink the paper setting's M = 1024 and 75 epochs when
# the machine cannot afford them (ml-mcmc costs 16 forward and backward passes per step);
# every JSON line records the values used.
# Appends one JSON line per run to OUT (default bench/results/methods1d.jsonl); then
# bench/summarize_methods1d.py OUT prints the table. Runs J trainings at a time (default 2),
# each single-threaded and niced: the machine is shared.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$here/build"; out="$here/bench/results/methods1d.jsonl"; seeds=3; jobs=2
methods="ml-is kld-is ml-mcmc nce nce+ dsm sm"; datasets="1 2"; settings="paper defaults"
paper_samples=1024; paper_epochs=75
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --datasets) datasets="$2"; shift 2 ;;
    --settings) settings="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --paper-samples) paper_samples="$2"; shift 2 ;;
    --paper-epochs) paper_epochs="$2"; shift 2 ;;
    *) echo "methods1d.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
data="${PAPER1D_DIR:-$here/../shared/data/paper1d}"
train1="$data/ebms_regression_1dregression_1_train.csv"
[ -f "$train1" ] || { echo "methods1d.sh: $train1 not found (set PAPER1D_DIR)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

# Dataset 2 (method reference D.2): x ~ U(-3, 3), 2000 points, y ~ N(sin x, (0.15 / (1 + e^-x))^2),
# float32-rounded like the paper's; fixed seed (the paper's draw was never published).
python3 - "$work/dataset2.csv" <<'EOF'
import math, random, struct, sys
f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]
rng = random.Random(2)
with open(sys.argv[1], "w") as out:
    out.write("x,y\n")
    for _ in range(2000):
        x = f32(rng.uniform(-3, 3))
        y = f32(rng.gauss(math.sin(x), 0.15 / (1 + math.exp(-x))))
        out.write(f"{x!r},{y!r}\n")
EOF
cp "$train1" "$work/dataset1.csv"

# Population standard deviation of y: ebm standardises y by it, so the paper's scales
# (in units of y) divide by it to become ebm's standardised units.
y_sd() { python3 -c "
import csv, math, sys
ys = [float(r['y']) for r in csv.DictReader(open(sys.argv[1]))]
m = sum(ys) / len(ys); print(math.sqrt(sum((v - m) ** 2 for v in ys) / len(ys)))" "$1"; }
sd1=$(y_sd "$work/dataset1.csv"); sd2=$(y_sd "$work/dataset2.csv")
scaled() { python3 -c "import sys; sd=float(sys.argv[1]); print(','.join(repr(float(v)/sd) for v in sys.argv[2].split(',')))" "$1" "$2"; }

# The options of a run: paper settings (method reference A.0-A.7, B) or ebm's defaults.
options() {  # SETTING METHOD DATASET
  local setting="$1" method="$2" dataset="$3" sd
  sd=$([ "$dataset" = 1 ] && echo "$sd1" || echo "$sd2")
  # The defaults as they were when this comparison was first run: without the x-embedding
  # selection of --x-embedding auto (a choice about x, made the same way for every method,
  # which would double each run) and one model (--ensemble auto now trains two members on
  # these 1,800 training rows), so that all rows of a table compare like with like.
  if [ "$setting" = defaults-tanh ]; then
    echo "--activation tanh --x-embedding none --ensemble 1"  # the defaults with a smooth activation (for dsm, ml-mcmc)
    return 0
  fi
  if [ "$setting" = defaults-relative ]; then
    # The defaults with the energy relative to the proposal, f = log q + g (maths.md §3c);
    # a smooth activation for the methods that differentiate f in y.
    case "$method" in
      sm|dsm|ml-mcmc) echo "--energy-form relative --activation tanh --x-embedding none --ensemble 1" ;;
      *) echo "--energy-form relative --x-embedding none --ensemble 1" ;;
    esac
    return 0
  fi
  if [ "$setting" = defaults ]; then
    # sm needs a smooth activation (ReLU has no second derivative); everything else as shipped.
    [ "$method" = sm ] && echo "--activation tanh --x-embedding none --ensemble 1" || echo "--x-embedding none --ensemble 1"
    return 0
  fi
  # P2's 1D network: hidden 10, tanh y-branch (one layer) and joint network with two
  # residual blocks (ebm uses one activation throughout: tanh); Adam 1e-3 without weight
  # decay, batch 32, 75 epochs, M = 1024, no validation split, the last epoch kept.
  local common="--hidden 10 --x-layers 2 --y-layers 1 --residual-blocks 2 --activation tanh --samples $paper_samples
    --batch-size 32 --lr 1e-3 --weight-decay 0 --epochs $paper_epochs --valid-fraction 0 --early-stopping 0 --no-calibrate
    --noise gmm"
  case "$method" in
    ml-is) echo "$common --gmm-sigmas $(scaled "$sd" 0.2,1.6)" ;;
    kld-is) echo "$common --gmm-sigmas $(scaled "$sd" 0.2,1.6) --label-sigma $(scaled "$sd" 0.025)" ;;
    ml-mcmc)
      local step=$([ "$dataset" = 1 ] && echo 0.05 || echo 0.0125)
      echo "$common --mcmc-steps 16 --mcmc-step-size $(scaled "$sd" "$step")" ;;
    nce|nce+) echo "$common --gmm-sigmas $(scaled "$sd" 0.1,0.8) --nce-plus-beta 0.025" ;;
    dsm)
      local sigma=$([ "$dataset" = 1 ] && echo 0.2 || echo 0.075)
      echo "$common --dsm-sigma $(scaled "$sd" "$sigma")" ;;
    sm) echo "$common" ;;
  esac
}

run_one() {  # SETTING METHOD DATASET SEED
  local setting="$1" method="$2" dataset="$3" seed="$4" model start end
  model="$work/$setting-$method-$dataset-$seed.json"
  start=$(date +%s.%N)
  # shellcheck disable=SC2046
  nice -n 10 "$build/ebm-train" "$work/dataset$dataset.csv" --target y -m "$model" --method "$method" \
    --seed "$seed" -j 1 -q $(options "$setting" "$method" "$dataset")
  end=$(date +%s.%N)
  nice -n 10 "$build/grid-kl" "$model" --dataset "$dataset" |
    python3 -c "import json,sys; r=json.load(sys.stdin); t=json.load(open('$model'))['training']; r.update(dataset=$dataset, setting='$setting', seed=$seed, samples=t['samples'], epochs=t['epochs'], train_seconds=round($end-$start,2)); print(json.dumps(r))"
}
export -f run_one options scaled
export build work sd1 sd2 paper_samples paper_epochs

# Seed-major order (every method and dataset with seed 0 first), so that a run cut short
# still covers everything with fewer seeds; runs already in OUT are skipped (resumable).
touch "$out"
for ((s = 0; s < seeds; s++)); do
  for setting in $settings; do
    for dataset in $datasets; do
      for method in $methods; do
        python3 -c "
import json, sys
done = {(r['setting'], r['method'], r['dataset'], r['seed']) for r in map(json.loads, filter(str.strip, open(sys.argv[1])))}
sys.exit(0 if (sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])) in done else 1)" "$out" "$setting" "$method" "$dataset" "$s" ||
          echo "$setting $method $dataset $s"
      done
    done
  done
done | parallel -j "$jobs" --colsep ' ' --line-buffer run_one {1} {2} {3} {4} >> "$out"
python3 "$here/bench/summarize_methods1d.py" "$out"
