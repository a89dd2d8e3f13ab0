#!/usr/bin/env bash
# The example outputs of README.md and docs/usage.md are what the tools print. Every
# ```console block there ("$ command" lines, each followed by the output it shows) is run,
# in order, in a scratch directory holding a shortened copy of data/ (ebm-train with tiny
# settings: --epochs 2 --hidden 8 --samples 8), and compared line by line once numbers are
# replaced by N and runs of spaces by one: every line shown must be printed, and every line
# printed (stdout and stderr) must be shown, unless the block has a "..." line (omitted
# lines). So a block cannot show per-epoch lines the default run no longer prints, nor
# leave out a line it does print.
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir "$work/data"
# 1201 rows: 1080 training rows after the validation split, above the 1000 below which
# ebm-train trains an ensemble by default, as with the full files.
for f in "$src"/data/*.csv; do head -n 1201 "$f" > "$work/data/$(basename "$f")"; done
head -n 21 "$src/data/bimodal_test.csv" > "$work/data/bimodal_test.csv"
# The shortened training data keeps the full file's extreme x, so that the test rows lie
# inside the training range as they do with the full data (no extrapolation warning).
sort -t, -k1,1g <(tail -n +2 "$src/data/bimodal_train.csv") | sed -n '1p;$p' >> "$work/data/bimodal_train.csv"

python3 - "$build" "$work" "$src/README.md" "$src/docs/usage.md" <<'PY'
import re, subprocess, sys
build, work, docs = sys.argv[1], sys.argv[2], sys.argv[3:]
number = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')

def shape(line):
    return ' '.join(number.sub('N', line).split())

def blocks(path):
    """(command, shown output lines, block has '...') for each command of each console block."""
    inside, out = False, []
    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        if line.startswith('```console'):
            inside, block = True, []
        elif inside and line.startswith('```'):
            inside = False
            elided = any(l.strip() == '...' for l in block)
            current = None
            for l in block:
                if l.startswith('$ '):
                    current = [l[2:], []]
                    out.append((current, elided))
                elif current is not None and l.strip() != '...':
                    current[1].append(l)
        elif inside:
            block.append(line)
    return out

def runnable(command):
    command = re.sub(r'(^|\| *|; *)(?:build/)?ebm-', lambda m: m.group(1) + build + '/ebm-', command)
    if '/ebm-train ' in command:
        command = re.sub(r' --epochs \S+', '', command) + ' --epochs 2 --hidden 8 --samples 8'
    return command

failures = 0
for doc in docs:
    for (command, shown), elided in blocks(doc):
        result = subprocess.run(runnable(command), shell=True, cwd=work, capture_output=True, text=True, timeout=120)
        printed = (result.stdout + result.stderr).splitlines()
        want, got = [shape(l) for l in shown], [shape(l) for l in printed]
        problems = [f'shown but not printed: {l!r}' for l, s in zip(shown, want) if s not in got]
        if not elided:
            problems += [f'printed but not shown: {l!r}' for l, s in zip(printed, got) if s not in want]
        if problems:
            failures += 1
            print(f'FAIL: {doc}: $ {command}', file=sys.stderr)
            for p in problems:
                print('    ' + p, file=sys.stderr)
sys.exit(1 if failures else 0)
PY
status=$?
[ "$status" = 0 ] && echo "doc_examples: ok"
exit "$status"
