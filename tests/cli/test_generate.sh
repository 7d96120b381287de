#!/usr/bin/env bash
# lexico-generate on the real stories260K model: the full cache reproduces
# llama2.c's reference output byte for byte; every cache type generates;
# bad input is refused with one clear message.
source "$(dirname "$0")/lib.sh"
S="${LEXICO_SHARED_DIR}/models/stories260K"
if [ ! -f "$S/stories260K.bin" ]; then
  echo "skipped: ../shared/models/stories260K is not present"
  exit 77
fi
G=(lexico-generate -m "$S/stories260K.bin" --tokenizer "$S/tok512.bin" --raw -t 1)

# Greedy from BOS, 200 tokens: llama2.c's `run -t 0.0 -n 200` output.
"${G[@]}" "" -n 200 >out.txt 2>summary.txt
printf '%s\n' "$(cat "$S/golden-t0-n200.txt")" >golden.txt
cmp -s out.txt golden.txt || fail "full cache differs from llama2.c: $(cmp out.txt golden.txt)"
grep -q "cache full: prefill 1 tokens" summary.txt || fail "summary: $(cat summary.txt)"

# A dictionary for this model, then every cache type.
lexico-harvest -m "$S/stories260K.bin" --tokenizer "$S/tok512.bin" "${LEXICO_SHARED_DIR}/data/wikitext-2/valid.txt" \
  --ctx 256 --max-tokens 8000 -t 1 -o kv.h5 2>/dev/null
lexico-train kv.h5 -N 128 -s 4 --epochs 2 --lr 1e-2 -t 1 -q -o dict.h5
for spec in full16 "lexico:s=4" "lexico:s=8,delta=0.05" "lexico:s=4,buffer=0" kivi2 kivi4 int8 int4 window:64,sink=4; do
  "${G[@]}" "Once upon a time" -n 150 -c "$spec" -d dict.h5 >out.txt 2>summary.txt || fail "$spec: $(cat summary.txt)"
  [ "$(wc -w <out.txt)" -gt 20 ] || fail "$spec generated too little: $(cat out.txt)"
  grep -q "cache ${spec%%:*}" summary.txt || fail "$spec summary: $(cat summary.txt)"
done
# Sampling is repeatable for a seed and differs between seeds.
"${G[@]}" "Once upon a time" -n 60 --temperature 1 --top-k 40 --top-p 0.9 --seed 7 >a.txt 2>/dev/null
"${G[@]}" "Once upon a time" -n 60 --temperature 1 --top-k 40 --top-p 0.9 --seed 7 >b.txt 2>/dev/null
"${G[@]}" "Once upon a time" -n 60 --temperature 1 --top-k 40 --top-p 0.9 --seed 8 >c.txt 2>/dev/null
cmp -s a.txt b.txt || fail "same seed, different samples"
cmp -s a.txt c.txt && fail "different seeds, same samples"
# --stop ends generation at the text; prompts from stdin and JSONL.
"${G[@]}" "" -n 200 --stop "Lily" >stop.txt 2>/dev/null
[ "$(cat stop.txt)" = "Once upon a time, there was a little girl named Lily" ] || fail "--stop: $(cat stop.txt)"
echo "Once upon a time" | "${G[@]}" -n 5 >stdin.txt 2>/dev/null || fail "prompt from stdin"
printf '{"prompt": "Tom had a dog"}\n{"prompt": "The sun"}\n' >p.jsonl
"${G[@]}" --jsonl p.jsonl -n 10 >jsonl.txt 2>/dev/null
[ "$(wc -l <jsonl.txt)" -eq 2 ] || fail "two JSONL prompts should give two lines: $(cat jsonl.txt)"
# --kv-budget picks the sparsity.
"${G[@]}" "Once upon a time" -n 300 -c lexico -d dict.h5 --kv-budget 100 2>summary.txt >/dev/null
grep -q "cache lexico:.*s=" summary.txt || fail "--kv-budget did not pick s: $(cat summary.txt)"

# lexico-eval perplexity and kl on the same model.
E=(-m "$S/stories260K.bin" --tokenizer "$S/tok512.bin" "${LEXICO_SHARED_DIR}/data/wikitext-2/wiki.test.raw" --ctx 128
   --max-tokens 512 -t 1 --json)
lexico-eval kl "${E[@]}" -c full >full.json
grep -q '"mean_kl": 0, "top1_agreement": 1' full.json || fail "full against full: $(cat full.json)"
grep -q '"tokens": 508' full.json || fail "4 windows of 128 tokens predict 508: $(cat full.json)"
lexico-eval kl "${E[@]}" -c lexico:s=2 -d dict.h5 >lexico.json
lexico-eval perplexity "${E[@]}" -c lexico:s=2 -d dict.h5 >ppl.json
ppl_full=$(sed -E 's/.*"perplexity": ([0-9.e+-]+).*/\1/' full.json)
ppl_lex=$(sed -E 's/.*"perplexity": ([0-9.e+-]+).*/\1/' ppl.json)
kl_lex=$(sed -E 's/.*"mean_kl": ([0-9.e+-]+).*/\1/' lexico.json)
awk -v a="$ppl_full" -v b="$ppl_lex" -v k="$kl_lex" 'BEGIN { exit !(a > 20 && a < 1000 && b != a && k > 0) }' ||
  fail "perplexity full $ppl_full, lexico $ppl_lex, KL $kl_lex"
grep -q "\"perplexity\": $ppl_lex" lexico.json || fail "kl and perplexity modes disagree on perplexity"
# A --ctx below the default prefill (128) needs no --prefill, and a short last
# window (5 tokens after 7 of 64) does not raise the cache's KV %.
W=(-m "$S/stories260K.bin" --tokenizer "$S/tok512.bin" "${LEXICO_SHARED_DIR}/data/wikitext-2/wiki.test.raw" --ctx 64
   --prefill 8 -t 1 --json -c window:16)
lexico-eval perplexity "${W[@]}" --max-tokens 448 >w448.json
lexico-eval perplexity "${W[@]}" --max-tokens 453 >w453.json
grep -q '"kv_percent_of_fp16": 25}' w448.json || fail "window:16 over windows of 64: $(cat w448.json)"
grep -q '"kv_percent_of_fp16": 25}' w453.json || fail "a 5-token last window changed KV %: $(cat w453.json)"
lexico-eval perplexity -m "$S/stories260K.bin" --tokenizer "$S/tok512.bin" "${LEXICO_SHARED_DIR}/data/wikitext-2/wiki.test.raw" \
  --ctx 64 --max-tokens 128 -t 1 >/dev/null 2>err.txt || fail "--ctx 64 without --prefill: $(cat err.txt)"

# Bad input.
expect_error 2 "unknown cache 'zip'" "" -- "${G[@]}" "hi" -c zip
# Names and options are checked before any work, on any device (the GPU path
# once took anything starting with "full").
expect_error 2 "unknown cache 'fullbogus'" "" -- "${G[@]}" "hi" -c fullbogus --device cuda
expect_error 2 "full16:residual=4" "" -- "${G[@]}" "hi" -c full16:residual=4 --device cuda
expect_error 2 "lexico:s=4,bogus=1" "" -- "${G[@]}" "hi" -c lexico:s=4,bogus=1 -d dict.h5 --device cuda
expect_error 2 "--dictionary: cache 'lexico:s=4' needs a dictionary" "" -- "${G[@]}" "hi" -c lexico:s=4
lexico-fixture dict wide.h5 --head-dim 16 --atoms 64 --layers 5
expect_error 3 "wide.h5" "" -- "${G[@]}" "hi" -c lexico:s=4 -d wide.h5
expect_error 2 "budget 1% is below what any s can reach" "" -- "${G[@]}" "hi" -n 300 -c lexico -d dict.h5 --kv-budget 1
expect_error 3 "exceed the model's context of 512" "" -- "${G[@]}" "hi" -n 600
: >empty.txt
expect_error 3 "empty.txt: the input holds no text" "" -- lexico-generate -m "$S/stories260K.bin" --tokenizer "$S/tok512.bin" -f empty.txt
expect_error 2 "--top-p: must lie in (0, 1]" "" -- "${G[@]}" "hi" --temperature 1 --top-p 0
finish
