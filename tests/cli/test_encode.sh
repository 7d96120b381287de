#!/usr/bin/env bash
# lexico-encode and `lexico-eval recon` on synthetic data: the happy path, and
# every class of bad input with its message, exit code and no output left.
source "$(dirname "$0")/lib.sh"

lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 16 --tokens 300 -o dump.h5
lexico-fixture dict dict.h5 --head-dim 16 --atoms 64 --layers 2

# Happy path: codes written, summary printed, recon from codes equals recon on the fly.
lexico-encode dump.h5 -d dict.h5 -s 4 -o codes.h5 2>summary.txt
grep -q "2400 vectors, 33600 bytes, 14.00 bytes/vector, KV size 43.75% of FP16" summary.txt ||
  fail "unexpected summary: $(cat summary.txt)"
lexico-eval recon dump.h5 -d dict.h5 -c codes.h5 --json >from_codes.json
lexico-eval recon dump.h5 -d dict.h5 -s 4 --json >on_the_fly.json
cmp -s from_codes.json on_the_fly.json || fail "recon from codes differs from recon while encoding"
lexico-eval recon dump.h5 -d dict.h5 -s 4 >table.txt
grep -q '^  all ' table.txt || fail "table has no pooled row: $(cat table.txt)"
[ "$(grep -c '^ *[01] ' table.txt)" -eq 2 ] || fail "table should list layers 0 and 1: $(cat table.txt)"
# Tolerance mode uses fewer atoms than the cap on average.
lexico-eval recon dump.h5 -d dict.h5 -s 16 --delta 0.6 --json | grep -q '"layers"' || fail "delta mode"
# A single layer.
lexico-encode dump.h5 -d dict.h5 -s 4 -l 1 -o one.h5 -q
[ -s one.h5 ] || fail "no codes for --layers 1"
# An existing output is replaced only on success and kept on failure.
cp codes.h5 keep.h5
expect_error 2 "--sparsity" "" -- lexico-encode dump.h5 -d dict.h5 -s 0 -o keep.h5
cmp -s codes.h5 keep.h5 || fail "a failed run changed the existing output"

# Bad input: each gives one clear message naming the file, exit 3 (input) or 2 (usage), no output.
expect_error 3 "missing.h5: no such file" out.h5 -- lexico-encode missing.h5 -d dict.h5 -o out.h5
echo "plain text" >text.h5
expect_error 3 "text.h5: not an HDF5 file" out.h5 -- lexico-encode text.h5 -d dict.h5 -o out.h5
expect_error 3 "dict.h5: is a 'lexico-dictionary' file, expected 'lexico-kv-dump'" out.h5 -- \
  lexico-encode dict.h5 -d dict.h5 -o out.h5
expect_error 3 "dump.h5: is a 'lexico-kv-dump' file, expected 'lexico-dictionary'" out.h5 -- \
  lexico-encode dump.h5 -d dump.h5 -o out.h5
cp dump.h5 v2.h5 && lexico-fixture set-attr v2.h5 version 2
expect_error 3 "v2.h5: lexico-kv-dump version 2 is not supported" out.h5 -- lexico-encode v2.h5 -d dict.h5 -o out.h5
lexico-fixture dict wide.h5 --head-dim 32 --atoms 64
expect_error 3 "wide.h5: head_dim 32 does not match the 16 of dump.h5" out.h5 -- \
  lexico-encode dump.h5 -d wide.h5 -o out.h5
lexico-fixture dict huge.h5 --head-dim 2 --atoms 65537 --layers 1
expect_error 3 "huge.h5: has 65537 atoms; atom indices are 16-bit" out.h5 -- lexico-encode dump.h5 -d huge.h5 -o out.h5
expect_error 2 "--sparsity: 17 exceeds head_dim 16 of dump.h5" out.h5 -- lexico-encode dump.h5 -d dict.h5 -s 17 -o out.h5
expect_error 2 "--sparsity: must be at least 1" out.h5 -- lexico-encode dump.h5 -d dict.h5 -s 0 -o out.h5
expect_error 2 "--delta: must lie in [0, 1), not 1" out.h5 -- lexico-encode dump.h5 -d dict.h5 --delta 1 -o out.h5
expect_error 2 "--delta: must lie in [0, 1), not -0.1" out.h5 -- lexico-encode dump.h5 -d dict.h5 --delta -0.1 -o out.h5
cp dump.h5 nan.h5 && lexico-fixture poke nan.h5 /layers/1/values 37 nan
expect_error 3 "nan.h5: values of layer 1 has a non-finite value (nan) at token 1, head 0, channel 5" out.h5 -- \
  lexico-encode nan.h5 -d dict.h5 -o out.h5
cp dump.h5 inf.h5 && lexico-fixture poke inf.h5 /layers/0/keys 0 inf
expect_error 3 "inf.h5: keys of layer 0 has a non-finite value (inf) at token 0, head 0, channel 0" out.h5 -- \
  lexico-encode inf.h5 -d dict.h5 -o out.h5
lexico-fixture dict nandict.h5 --head-dim 16 --atoms 64 --nan
expect_error 3 "nandict.h5: keys dictionary of layer 0 has a non-finite value in atom 1" out.h5 -- \
  lexico-encode dump.h5 -d nandict.h5 -o out.h5
lexico-fixture empty-dump empty.h5 --head-dim 16
expect_error 3 "empty.h5: holds no tokens" out.h5 -- lexico-encode empty.h5 -d dict.h5 -o out.h5
head -c 20000 dump.h5 >cut.h5
expect_error 3 "cut.h5:" out.h5 -- lexico-encode cut.h5 -d dict.h5 -o out.h5
expect_error 2 "--layers: layer range '5' is outside 0..1" out.h5 -- lexico-encode dump.h5 -d dict.h5 -l 5 -o out.h5
expect_error 4 "out-dir/out.h5: output folder out-dir does not exist" "" -- \
  lexico-encode dump.h5 -d dict.h5 -o out-dir/out.h5
# Codes scored against another dictionary are refused.
lexico-fixture dict other.h5 --head-dim 16 --atoms 64 --seed 2
expect_error 3 "codes.h5: was made with another dictionary than other.h5" "" -- \
  lexico-eval recon dump.h5 -d other.h5 -c codes.h5
expect_error 3 "text.h5: not an HDF5 file" "" -- lexico-eval recon dump.h5 -d dict.h5 -c text.h5

# A malformed command line is a usage error (2), for every executable.
for exe in lexico-encode lexico-eval lexico-harvest lexico-train; do
  rc=0
  $exe --no-such-option >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "$exe --no-such-option exited $rc, expected 2"
done
# Every executable answers --help and --version.
for exe in lexico-encode lexico-eval lexico-harvest lexico-train; do
  $exe --help >/dev/null || fail "$exe --help"
  $exe --version | grep -q "^$exe " || fail "$exe --version"
done
finish
