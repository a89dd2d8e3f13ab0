#!/usr/bin/env bash
# Checks that make-datasets reproduces the committed example datasets byte for byte.
# Called by ctest as: bash tests/cli/datasets.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build_dir=$1
source_dir=$2
generator="$build_dir/make-datasets"
committed="$source_dir/data"

if [[ ! -x "$generator" ]]; then
  echo "FAIL: $generator not found or not executable (build the make-datasets target)" >&2
  exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ebm-datasets.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
generated="$scratch/out"

if ! "$generator" "$generated" 2>"$scratch/stderr"; then
  echo "FAIL: $generator $generated exited with an error:" >&2
  cat "$scratch/stderr" >&2
  exit 1
fi

shopt -s nullglob
generated_files=("$generated"/*.csv)
if [[ ${#generated_files[@]} -eq 0 ]]; then
  echo "FAIL: make-datasets wrote no CSV files into $generated" >&2
  exit 1
fi

failures=0
for file in "${generated_files[@]}"; do
  name=$(basename "$file")
  if [[ ! -f "$committed/$name" ]]; then
    echo "FAIL: make-datasets writes $name, which is not in $committed" >&2
    failures=$((failures + 1))
  elif ! cmp "$committed/$name" "$file" >&2; then
    echo "FAIL: $committed/$name differs from the freshly generated file" \
         "(regenerate with: $generator $committed)" >&2
    failures=$((failures + 1))
  fi
done
for file in "$committed"/*.csv; do
  name=$(basename "$file")
  if [[ ! -f "$generated/$name" ]]; then
    echo "FAIL: $committed/$name is no longer produced by make-datasets" >&2
    failures=$((failures + 1))
  fi
done

if [[ $failures -gt 0 ]]; then
  echo "FAIL: $failures dataset file(s) do not match" >&2
  exit 1
fi
echo "ok: ${#generated_files[@]} dataset files are byte-identical to $committed"
