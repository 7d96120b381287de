#!/usr/bin/env bash
# A short fuzz run of every reader (scripts/fuzz --seconds 15: builds the clang
# ASan+UBSan fuzz targets in build-fuzz/, replays data/fuzz/regressions/ and
# fuzzes each target), so a regression in a reader is caught by the test suite.
# Skips when clang is not installed. LEXICO_FUZZ_SECONDS changes the time per target.
source "$(dirname "$0")/lib.sh"
if ! command -v clang++ >/dev/null && ! command -v clang++-14 >/dev/null; then
  echo "skipped: clang is not installed (scripts/install-deps installs it)"
  exit 77
fi
"$LEXICO_SOURCE_DIR/scripts/fuzz" --seconds "${LEXICO_FUZZ_SECONDS:-15}" || fail "scripts/fuzz reported a finding"
finish
