#!/usr/bin/env bash
# A full disk, simulated by a file size limit (ulimit -f) with SIGXFSZ ignored
# so that writes fail with EFBIG as on a full file system: each writer reports
# an I/O error (exit 4) in one line, leaves nothing under the final name and
# keeps the previous output. With SIGXFSZ at its default the process is killed
# mid-write, and the previous output survives that too. (/dev/full cannot be
# used: an output is written beside its final name, in /dev.)
source "$(dirname "$0")/lib.sh"

lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 32 --tokens 4000 -o dump.h5
lexico-fixture dict dict.h5 --head-dim 32 --atoms 64
# limited KIB -- CMD...: CMD with files limited to KIB KiB and SIGXFSZ ignored.
limited() { local kib=$1; shift 2; (ulimit -f "$kib"; trap '' XFSZ; exec "$@"); }

writers=(
  "lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 32 --tokens 4000 -o out.h5"
  "lexico-encode dump.h5 -d dict.h5 -s 4 -o out.h5 -q"
  "lexico-train dump.h5 -N 64 -s 4 --epochs 1 --batch 256 -t 1 -q -o out.h5"
)
for cmd in "${writers[@]}"; do
  name=${cmd%% *}
  rm -rf out.h5*
  expect_error 4 "out.h5" out.h5 -- limited 16 -- $cmd
  grep -qiE "disk full|cannot write|cannot create|cannot flush|File too large" stderr.txt || fail "$name: unclear message: $(cat stderr.txt)"
  echo "$name: $(cat stderr.txt)"
  # An existing output is kept, under the limit and when the limit kills the writer.
  echo "previous" >out.h5
  rc=0
  limited 16 -- $cmd >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 4 ] || fail "$name over an existing output exited $rc"
  [ "$(cat out.h5)" = previous ] || fail "$name changed the existing output"
  rc=0
  (ulimit -f 16; exec $cmd) >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "$name succeeded beyond the file size limit"
  [ "$(cat out.h5)" = previous ] || fail "$name killed by SIGXFSZ changed the existing output"
  rm -f out.h5.tmp.* out.h5.ckpt*
done
# An output name that is a device or a pipe is refused, never replaced (as
# root, renaming over /dev/full would replace the device itself).
mkfifo pipe.h5
expect_error 4 "pipe.h5: exists and is not a regular file" "" -- lexico-encode dump.h5 -d dict.h5 -s 4 -o pipe.h5 -q
[ -p pipe.h5 ] || fail "the pipe was replaced"
echo "pipe: $(cat stderr.txt)"
finish
