#!/usr/bin/env bash
# docs/usage.md cannot drift from the tools: every long option a tool's --help lists is
# documented in that tool's section of docs/usage.md (options shared by all tools may be
# documented once, in the ebm-train section or under "Configuration files"), every
# `--option` a section mentions exists in that tool's --help, and every example at the
# end of --help is accepted by the tool (checked with --print-config, which parses and
# validates all options without reading data).
set -uo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
doc="$src/docs/usage.md"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

section() {  # the text of "## NAME" up to the next "## " heading
  awk -v name="## $1" '$0 == name { on = 1; next } /^## / { on = 0 } on' "$doc"
}
long_options() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }

shared="$(section ebm-train; section "Configuration files")"
for tool in train predict sample inspect; do
  help="$("$build/ebm-$tool" --help)" || { fail "ebm-$tool --help failed"; continue; }
  text="$(section "ebm-$tool")"
  [ -n "$text" ] || { fail "docs/usage.md has no '## ebm-$tool' section"; continue; }
  # Options of the help, without the examples and notes after "Examples:".
  options="$(printf '%s\n' "$help" | sed '/^Examples:/,$d' | long_options)"
  for option in $options; do
    case "$option" in --help|--version) continue ;; esac
    # (Here-strings, not pipes: grep -q closing a pipe early fails the pipeline under pipefail.)
    if ! grep -qE -- "\`$option[\` ,=]|\`-[a-zA-Z], $option[\` ]" <<< "$text"; then
      grep -qE -- "\`$option[\` ,=]|\`-[a-zA-Z], $option[\` ]" <<< "$shared" ||
        fail "ebm-$tool $option is in --help but not documented in docs/usage.md"
    fi
  done
  # Options the section mentions (in code spans naming this tool's options) must exist.
  for option in $(printf '%s\n' "$text" | grep -oE -- '`(-[a-zA-Z], )?--[a-z][a-z0-9-]*' | long_options); do
    grep -qx -- "$option" <<< "$options" ||
      fail "docs/usage.md's ebm-$tool section mentions $option, which ebm-$tool --help does not list"
  done
  # The examples: "  ebm-TOOL ..." lines, with "cat FILE |" and "> FILE" removed.
  while IFS= read -r example; do
    command="$(printf '%s\n' "$example" | sed -E 's/^ *(cat [^|]*\| *)?//; s/ *>[^>]*$//')"
    (cd "$work" && PATH="$build:$PATH" bash -c "$command --print-config" > /dev/null 2> err.txt) ||
      fail "ebm-$tool --help example is not accepted: $example ($(cat "$work/err.txt"))"
  done < <(printf '%s\n' "$help" | sed -n '/^Examples:/,/^[A-Z]/p' | grep -E '^ +(cat [^|]*\| *)?ebm-')
done

if [ "$failures" -gt 0 ]; then echo "usage_doc: $failures checks failed" >&2; exit 1; fi
echo "usage_doc: ok"
