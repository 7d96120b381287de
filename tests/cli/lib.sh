# Helpers shared by the CLI tests (sourced). Each test runs in its own scratch
# folder, removed at exit; the executables come from $LEXICO_BIN.
set -euo pipefail
: "${LEXICO_BIN:?set by ctest}"
export PATH="$LEXICO_BIN:$(dirname "${LEXICO_FIXTURE:?set by ctest}"):$PATH"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
FAILS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# expect_error CODE PATTERN OUTPUT -- CMD...: CMD must exit with CODE, print one
# line on stderr that contains PATTERN, and leave neither OUTPUT nor any
# temporary file beside it.
expect_error() {
  local code=$1 pattern=$2 output=$3
  shift 4
  local rc=0
  "$@" >stdout.txt 2>stderr.txt || rc=$?
  local lines
  lines=$(wc -l <stderr.txt)
  if [ "$rc" -ne "$code" ]; then fail "$* exited $rc, expected $code: $(cat stderr.txt)"; return; fi
  if [ "$lines" -ne 1 ]; then fail "$* printed $lines lines on stderr: $(cat stderr.txt)"; return; fi
  grep -qF -- "$pattern" stderr.txt || fail "$*: message '$(cat stderr.txt)' lacks '$pattern'"
  if [ -n "$output" ]; then
    [ ! -e "$output" ] || fail "$* left $output behind"
    ! ls "$output".tmp.* >/dev/null 2>&1 || fail "$* left a temporary file for $output"
  fi
}

finish() {
  if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}
