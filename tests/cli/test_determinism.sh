#!/usr/bin/env bash
# Same inputs, seed and thread count give identical output files, byte for
# byte: lexico-harvest (synthetic), lexico-encode and lexico-train (which keeps
# wall times out of its file for this).
source "$(dirname "$0")/lib.sh"

sha() { sha256sum "$1" | cut -d' ' -f1; }
for run in 1 2; do
  lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 16 --tokens 700 --seed 3 -o dump$run.h5
  [ "$run" = 1 ] && lexico-fixture dict dict.h5 --head-dim 16 --atoms 64
  lexico-encode dump1.h5 -d dict.h5 -s 4 -t 2 -o codes$run.h5 -q
  lexico-train dump1.h5 -N 32 -s 4 --epochs 3 --batch 64 --seed 9 -t 2 -q -o dict$run.h5
  sleep 1  # so that any recorded time would differ
done
[ "$(sha dump1.h5)" = "$(sha dump2.h5)" ] || fail "lexico-harvest --synthetic: two runs differ"
[ "$(sha codes1.h5)" = "$(sha codes2.h5)" ] || fail "lexico-encode: two runs differ"
h5dump dict1.h5 >dict1.txt
grep -q 'DATASET "keys"' dict1.txt || fail "h5dump of the dictionary shows no keys"
[ "$(sha dict1.h5)" = "$(sha dict2.h5)" ] ||
  fail "lexico-train: two runs differ: $(diff <(h5dump dict1.h5) <(h5dump dict2.h5) | head -5)"
# Another seed gives another dictionary (the comparison can fail).
lexico-train dump1.h5 -N 32 -s 4 --epochs 3 --batch 64 --seed 10 -t 2 -q -o dict3.h5
[ "$(sha dict1.h5)" != "$(sha dict3.h5)" ] || fail "lexico-train: seeds 9 and 10 gave the same file"
finish
