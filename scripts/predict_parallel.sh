#!/usr/bin/env bash
# Predicts one large CSV with several ebm-predict processes: GNU parallel cuts the input
# into blocks of whole rows (--pipe), repeats the header for each (--header :), and keeps
# the output in input order (--keep-order). The result is byte-identical to a single
# ebm-predict run with the same options and seed, because every row's random numbers
# come from its own feature values, not from its position in the file.
#
#   scripts/predict_parallel.sh [-j JOBS] [--block SIZE] -- ebm-predict OPTIONS... < in.csv > out.csv
#   e.g. scripts/predict_parallel.sh -j 8 -- ebm-predict -m model.json --interval 0.9 < big.csv > pred.csv
#
# The OPTIONS must not name an input file or -o (input is standard input, output standard
# output); --metrics, --plot and --report would describe one block each and are refused.
set -euo pipefail
jobs=$(nproc 2>/dev/null || echo 2)
block=1M
while [[ $# -gt 0 && "$1" != "--" ]]; do
  case "$1" in
    -j) jobs="$2"; shift 2 ;;
    --block) block="$2"; shift 2 ;;
    *) echo "predict_parallel: unknown option '$1' (usage: $0 [-j JOBS] [--block SIZE] -- ebm-predict OPTIONS...)" >&2; exit 2 ;;
  esac
done
[[ "${1:-}" == "--" && $# -ge 2 ]] || { echo "usage: $0 [-j JOBS] [--block SIZE] -- ebm-predict OPTIONS..." >&2; exit 2; }
shift
for arg in "$@"; do
  case "$arg" in
    --metrics|--plot|--report|-o|--output) echo "predict_parallel: $arg cannot be used (each block is a separate run)" >&2; exit 2 ;;
  esac
done
command -v parallel > /dev/null || { echo "predict_parallel: GNU parallel is not installed (apt-get install parallel)" >&2; exit 1; }
# Each block's output starts with the header; the first line of the first block is kept,
# the others drop theirs. Each process runs one thread: parallel provides the parallelism.
printf -v command '%q ' "$@"
PARALLEL_HOME="${PARALLEL_HOME:-${TMPDIR:-/tmp}/.parallel-$USER}" \
  parallel --will-cite --pipe --header : --keep-order --block "$block" -j "$jobs" --halt now,fail=1 \
  "$command -j 1 - | { if [ {#} -eq 1 ]; then cat; else tail -n +2; fi; }"
