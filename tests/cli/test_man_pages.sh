#!/usr/bin/env bash
# Every executable has a man page, and every long option its --help lists
# (for each subcommand too) appears in that page.
source "$(dirname "$0")/lib.sh"
man_dir="$LEXICO_SOURCE_DIR/man"
[ -f "$man_dir/lexico-formats.5" ] || fail "no lexico-formats.5"

options_of() {  # long options listed by --help, without --help/--version
  "$@" --help | grep -oE '(^|[ ,])--[a-z0-9][a-z0-9-]*' | sed 's/^[ ,]//' | grep -vxE -- '--(help|version)' | sort -u
}
subcommands_of() {
  "$@" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}'
}

for exe in "$LEXICO_BIN"/lexico-*; do
  name=$(basename "$exe")
  page="$man_dir/$name.1"
  if [ ! -f "$page" ]; then fail "$name has no man page"; continue; fi
  for cmd in "" $(subcommands_of "$exe"); do
    for opt in $(options_of "$exe" $cmd); do
      grep -qF -- "$(echo "$opt" | sed 's/-/\\-/g')" "$page" || fail "$name${cmd:+ $cmd}: $opt is missing from $name.1"
    done
    [ -z "$cmd" ] || grep -qE "^\.B(R)? $name $cmd|^\.B $cmd\$|^\.B $cmd" "$page" || fail "$name.1 does not describe '$cmd'"
  done
done
finish
