#!/usr/bin/env bash
# lexico-train on synthetic data: a run writes a dictionary the other tools
# read, clearly better than the random baseline; per-layer and per-kind files
# merged equal one run over all layers; an interrupted run resumed equals an
# uninterrupted one.
source "$(dirname "$0")/lib.sh"

lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 32 --tokens 1024 --hidden-atoms 64 \
  --hidden-sparsity 3 -o dump.h5
common=(-N 64 -s 4 --batch 64 --lr 3e-2 --seed 5)
opts=("${common[@]}" --epochs 4 -t 1)
sha_of() { sed -n 's/.*content sha256 \([0-9a-f]*\)$/\1/p' "$1"; }
rre_of() { sed -n "s/.*\"$2_rre_mean\": \([0-9.e-]*\),/\1/p" "$1"; }

# Happy path: progress lines (epochs 0..4 for 2 layers), layer summaries, the file, no checkpoint left.
lexico-train dump.h5 "${opts[@]}" -o dict.h5 2>log.txt
[ -s dict.h5 ] || fail "no dictionary written"
[ ! -e dict.h5.ckpt ] || fail "checkpoint left after success"
[ "$(grep -c '^lexico-train: layer [01] epoch [0-4]/4 | keys ' log.txt)" -eq 10 ] || fail "progress lines: $(cat log.txt)"
[ "$(grep -c '^lexico-train: layer [01] done in' log.txt)" -eq 2 ] || fail "layer summaries: $(cat log.txt)"
grep -q '^lexico-train: wrote dict.h5 (2 layers, N=64, m=32, s=4)' log.txt || fail "summary: $(tail -1 log.txt)"

# Readable by the other tools, and clearly better than the random baseline at the same s.
lexico-encode dump.h5 -d dict.h5 -s 4 -o codes.h5 -q
lexico-train dump.h5 "${common[@]}" --epochs 0 -t 1 -o random.h5 2>random.txt
grep -q 'layer 0 epoch 0/0' random.txt || fail "epochs 0: $(cat random.txt)"
lexico-eval recon dump.h5 -d dict.h5 -s 4 --json >trained.json
lexico-eval recon dump.h5 -d random.h5 -s 4 --json >random.json
for kind in keys values; do
  t=$(rre_of trained.json $kind) r=$(rre_of random.json $kind)
  awk -v t="$t" -v r="$r" 'BEGIN { exit !(t < 0.6 * r) }' || fail "$kind: trained RRE $t not clearly below random $r"
done

# Job-array style: layer 0, and layer 1 as two halves, merged = one run over both layers.
lexico-train dump.h5 "${opts[@]}" -l 0 -o l0.h5 -q
lexico-train dump.h5 "${opts[@]}" -l 1 --kind keys -o l1k.h5 -q
lexico-train dump.h5 "${opts[@]}" -l 1 --kind values -o l1v.h5 -q
lexico-train merge l1v.h5 l0.h5 l1k.h5 -o merged.h5 2>merge.txt
grep -q 'merged 3 files into merged.h5 (layers 0,1)' merge.txt || fail "merge summary: $(cat merge.txt)"
[ -n "$(sha_of log.txt)" ] && [ "$(sha_of merge.txt)" = "$(sha_of log.txt)" ] ||
  fail "merged dictionary differs from training both layers at once"
lexico-eval recon dump.h5 -d merged.h5 -s 4 --json >merged.json
cmp -s merged.json trained.json || fail "recon with the merged dictionary differs"

# Resume: a run stopped by bad data in layer 1 keeps layer 0 in its checkpoint;
# with the data repaired, --resume finishes it with the uninterrupted result.
cp dump.h5 data.h5 && lexico-fixture poke data.h5 /layers/1/values 5 nan
rc=0
lexico-train data.h5 "${opts[@]}" -o resumed.h5 -q 2>stopped.txt || rc=$?
[ "$rc" -eq 3 ] || fail "a NaN in layer 1 exited $rc: $(cat stopped.txt)"
[ -s resumed.h5.ckpt ] && [ ! -e resumed.h5 ] || fail "expected a checkpoint and no output after the failure"
cp dump.h5 data.h5
lexico-train data.h5 "${common[@]}" --epochs 4 -t 2 -o resumed.h5 --resume 2>resume.txt
grep -q '^lexico-train: layer 0 ' resume.txt && fail "layer 0 was trained again: $(cat resume.txt)"
[ "$(sha_of resume.txt)" = "$(sha_of log.txt)" ] || fail "resumed run differs from the uninterrupted one"
[ ! -e resumed.h5.ckpt ] || fail "checkpoint left after the resumed run"
finish
