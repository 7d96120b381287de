#!/usr/bin/env bash
# On the default model: with s = head_dim every key and value is a full-rank
# code, so the lexico cache's greedy output must equal the full cache's (FP8
# refit keeps the stored coefficients' rounding from adding up). With a
# 16-token buffer the prompt's older tokens are compressed at prefill and
# every decoding step evicts one more.
source "$(dirname "$0")/lib.sh"
MODEL="$LEXICO_SOURCE_DIR/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$MODEL" ]; then
  echo "skipped: $MODEL is not present (scripts/fetch-model fetches it)"
  exit 77
fi
G=(lexico-generate -m "$MODEL" "Write a short poem about the sea." -n 32)
lexico-fixture dict dict.h5 --head-dim 64 --atoms 256 --layers 30
"${G[@]}" -c full >full.txt 2>/dev/null
[ "$(wc -w <full.txt)" -gt 10 ] || fail "the full cache generated too little: $(cat full.txt)"
for spec in "lexico:s=64,buffer=16,refit"; do
  "${G[@]}" -c "$spec" -d dict.h5 >lexico.txt 2>summary.txt || fail "$spec: $(cat summary.txt)"
  cmp -s full.txt lexico.txt || fail "$spec: greedy output differs from the full cache's: $(cat lexico.txt)"
  # Compressed for real: 3·64 + 2 bytes a vector instead of 128 (FP16) → above 100 %, below FP32's 200 %.
  grep -Eq "KV [0-9]+ bytes = 1[0-9][0-9]\.[0-9]+% of FP16" summary.txt || fail "$spec summary: $(cat summary.txt)"
done
finish
