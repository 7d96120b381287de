#!/usr/bin/env bash
# lexico-train's bad inputs: each gives one message naming the file or option,
# its exit code, and no output; an existing output and checkpoint survive.
source "$(dirname "$0")/lib.sh"

synth() { lexico-harvest --synthetic --tokens 256 --hidden-atoms 48 "$@"; }
synth --head-dim 16 -o dump.h5
common=(--epochs 2 --batch 64 -t 1 -q)
opts=("${common[@]}" -N 32 -s 4 --lr 1e-2)

synth --head-dim 8 --n-layers 2 -o narrow.h5
expect_error 3 "narrow.h5: has head_dim 8 but dump.h5 has 16" out.h5 -- lexico-train dump.h5 narrow.h5 "${opts[@]}" -o out.h5
synth --head-dim 16 --n-kv-heads 1 --n-layers 2 -o heads.h5
expect_error 3 "heads.h5: has 1 KV heads but dump.h5 has 2" out.h5 -- lexico-train dump.h5 heads.h5 "${opts[@]}" -o out.h5
synth --head-dim 16 --n-layers 3 -o deeper.h5
expect_error 3 "deeper.h5: is of a 3-layer model" out.h5 -- lexico-train dump.h5 deeper.h5 "${opts[@]}" -o out.h5
expect_error 3 "dump.h5: has 512 vectors per layer and kind, 486 for training" out.h5 -- \
  lexico-train dump.h5 "${common[@]}" -s 4 --lr 1e-2 -N 1024 -o out.h5
expect_error 3 "dump.h5: has head_dim 16, more than the 8 atoms" out.h5 -- lexico-train dump.h5 "${common[@]}" -s 4 --lr 1e-2 -N 8 -o out.h5
cp dump.h5 nan.h5 && lexico-fixture poke nan.h5 /layers/0/keys 7 nan
expect_error 3 "nan.h5: keys of layer 0 has a non-finite value (nan) at token 0, head 0, channel 7" out.h5 -- \
  lexico-train nan.h5 "${opts[@]}" -o out.h5
expect_error 4 "out-dir/out.h5: output folder out-dir does not exist" "" -- lexico-train dump.h5 "${opts[@]}" -o out-dir/out.h5
expect_error 3 "missing.h5: no such file" out.h5 -- lexico-train dump.h5 missing.h5 "${opts[@]}" -o out.h5
lexico-fixture dict wide.h5 --head-dim 32 --atoms 64
expect_error 3 "wide.h5: head_dim 32 does not match the 16 of dump.h5" out.h5 -- \
  lexico-train dump.h5 "${opts[@]}" --init wide.h5 -o out.h5
expect_error 2 "--layers: layer range '2' is outside 0..1" out.h5 -- lexico-train dump.h5 "${opts[@]}" -l 2 -o out.h5
expect_error 2 "--val-fraction: must lie in (0, 0.5], not 0.9" out.h5 -- \
  lexico-train dump.h5 "${opts[@]}" --val-fraction 0.9 -o out.h5
expect_error 2 "--sparsity: 17 exceeds head_dim 16" out.h5 -- lexico-train dump.h5 "${common[@]}" -N 32 --lr 1e-2 -s 17 -o out.h5
expect_error 2 "--lr: must be a positive number" out.h5 -- lexico-train dump.h5 "${common[@]}" -N 32 -s 4 --lr 0 -o out.h5

# A failure keeps an existing output; a checkpoint of other settings is refused and kept.
lexico-train dump.h5 "${opts[@]}" -o keep.h5
cp keep.h5 keep.orig
cp dump.h5 late.h5 && lexico-fixture poke late.h5 /layers/1/keys 3 nan
rc=0
lexico-train late.h5 "${opts[@]}" -o keep.h5 2>/dev/null || rc=$?
[ "$rc" -eq 3 ] || fail "NaN in layer 1: exit $rc"
cmp -s keep.h5 keep.orig || fail "a failed run changed the existing output"
[ -s keep.h5.ckpt ] || fail "no checkpoint of layer 0 after the failure"
cp keep.h5.ckpt ckpt.orig
expect_error 3 "keep.h5.ckpt: was made with other settings: --lr was 0.01, this run has 0.02" "" -- \
  lexico-train late.h5 "${common[@]}" -N 32 -s 4 --lr 2e-2 --resume -o keep.h5
cmp -s keep.h5.ckpt ckpt.orig || fail "a refused resume changed the checkpoint"
cmp -s keep.h5 keep.orig || fail "a refused resume changed the output"

# merge: overlapping layers, different shapes, different settings.
lexico-train dump.h5 "${opts[@]}" -l 0 -o l0.h5
lexico-train dump.h5 "${opts[@]}" -l 0-1 -o both.h5
expect_error 3 "both.h5: holds trained keys of layer 0, and so does l0.h5" merged.h5 -- \
  lexico-train merge l0.h5 both.h5 -o merged.h5
lexico-fixture dict other.h5 --head-dim 16 --atoms 64
expect_error 3 "other.h5: is a dictionary for model" merged.h5 -- lexico-train merge l0.h5 other.h5 -o merged.h5
lexico-train dump.h5 "${common[@]}" -N 32 -s 4 -l 1 --lr 5e-3 -o l1.h5
expect_error 3 "l1.h5: was trained with train.lr = 0.005, but l0.h5 with 0.01" merged.h5 -- \
  lexico-train merge l0.h5 l1.h5 -o merged.h5

lexico-train --help >/dev/null || fail "--help"
lexico-train --version | grep -q "^lexico-train " || fail "--version"
finish
