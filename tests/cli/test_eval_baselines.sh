#!/usr/bin/env bash
# `lexico-eval baselines` on synthetic data: the table, TSV and JSON forms,
# and bad input with its message and exit code.
source "$(dirname "$0")/lib.sh"

lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 16 --tokens 512 --hidden-atoms 64 \
  --hidden-sparsity 3 -o train.h5
lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 16 --tokens 100 --hidden-atoms 64 \
  --hidden-sparsity 3 --seed 7 -o eval.h5
lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 16 --tokens 512 --hidden-atoms 64 \
  --hidden-sparsity 3 --seed 3 -o train2.h5
lexico-fixture dict dict.h5 --head-dim 16 --atoms 64 --layers 2

lexico-eval baselines --help | grep -q -- "--train-dump" || fail "--help lacks --train-dump"
lexico-eval --help | grep -q "baselines" || fail "lexico-eval --help does not list baselines"

# TSV: per s lexico, random and PCA at 3s + 2 bytes; KIVI once (keys: 16·(8 + 4)/32 bytes at 2 bits,
# 16·(16 + 4)/32 at 4); 96 tokens (whole groups of 32) × 2 heads × 2 layers.
lexico-eval baselines eval.h5 -d dict.h5 --train-dump train.h5 -s 2,4 --tsv >rows.tsv
[ "$(head -n 1 rows.tsv | cut -f 1-3)" = "$(printf 'method\tsparsity\trank')" ] || fail "TSV header: $(head -n 1 rows.tsv)"
[ "$(tail -n +2 rows.tsv | cut -f 1-4 | tr '\t' ' ' | tr '\n' ';')" = \
  "lexico 2 0 8;random 2 0 8;pca 2 4 8;lexico 4 0 14;random 4 0 14;pca 4 7 14;kivi2 0 0 6;kivi4 0 0 10;" ] ||
  fail "unexpected rows: $(cat rows.tsv)"
awk -F'\t' 'NR > 1 && $11 != 384 {bad = 1} END {exit bad}' rows.tsv || fail "each row should score 384 vectors"
awk -F'\t' 'NR > 1 && !($7 > 0 && $7 < 1.5 && $9 > 0 && $9 < 1.5) {bad = 1} END {exit bad}' rows.tsv ||
  fail "errors out of range: $(cat rows.tsv)"

# The table and JSON carry the same numbers; one layer alone scores as within all.
lexico-eval baselines eval.h5 -d dict.h5 --train-dump train.h5 -s 4 >table.txt
grep -q "kivi4" table.txt && grep -q "±" table.txt || fail "table: $(cat table.txt)"
lexico-eval baselines eval.h5 -d dict.h5 --train-dump train.h5,train2.h5 -s 4 -l 1 --max-tokens 64 --json >one.json
grep -q '"tokens": 64' one.json || fail "--max-tokens 64 not honoured: $(head -n 8 one.json)"
grep -q '"train_vectors": 2048' one.json || fail "two training dumps should give 2048 vectors per layer"
grep -q '"layers": \[{"layer": 1,' one.json || fail "--layers 1 not honoured"

# Bad input and options: one line naming the file or option.
lexico-fixture dict wide.h5 --head-dim 32 --atoms 64 --layers 2
expect_error 3 "wide.h5: head_dim 32 does not match the 16 of eval.h5" "" -- \
  lexico-eval baselines eval.h5 -d wide.h5 --train-dump train.h5 -s 4
lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 32 --tokens 64 -o train32.h5
expect_error 3 "train32.h5: head_dim 32 does not match the 16 of eval.h5" "" -- \
  lexico-eval baselines eval.h5 -d dict.h5 --train-dump train32.h5 -s 4
expect_error 2 "--sparsity: must lie in 1..16 (head_dim of eval.h5), not 17" "" -- \
  lexico-eval baselines eval.h5 -d dict.h5 --train-dump train.h5 -s 4,17
expect_error 2 "--sparsity: must lie in 1..16 (head_dim of eval.h5), not 0" "" -- \
  lexico-eval baselines eval.h5 -d dict.h5 --train-dump train.h5 -s 0
expect_error 3 "missing.h5: no such file" "" -- lexico-eval baselines eval.h5 -d dict.h5 --train-dump missing.h5 -s 4
lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 16 --tokens 20 -o short.h5
expect_error 3 "short.h5: holds 20 tokens; the KIVI baselines need at least one group of 32" "" -- \
  lexico-eval baselines short.h5 -d dict.h5 --train-dump train.h5 -s 4
expect_error 2 "--json: cannot be combined with --tsv" "" -- \
  lexico-eval baselines eval.h5 -d dict.h5 --train-dump train.h5 --json --tsv
finish
