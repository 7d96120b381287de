#!/usr/bin/env bash
# lexico-harvest on the real stories260K model: the dump's shape, shards whose
# union is the single run, a killed run resumed to the same result, bad input.
source "$(dirname "$0")/lib.sh"
S="${LEXICO_SHARED_DIR}/models/stories260K"
TEXT="${LEXICO_SHARED_DIR}/data/wikitext-2/wiki.test.raw"
if [ ! -f "$S/stories260K.bin" ] || [ ! -f "$TEXT" ]; then
  echo "skipped: ../shared (stories260K, WikiText) is not present"
  exit 77
fi
M=(-m "$S/stories260K.bin" --tokenizer "$S/tok512.bin")

lexico-harvest "${M[@]}" "$TEXT" --ctx 100 --max-tokens 1000 -t 1 -o single.h5 2>log.txt
grep -q "10 windows, 1000 tokens run, 1000 written" log.txt || fail "summary: $(cat log.txt)"
h5ls single.h5/layers/4/keys | grep -q '{1000/Inf, 4, 8}' || fail "keys shape: $(h5ls single.h5/layers/4/keys)"
[ ! -e single.h5.partial ] || fail "partial file left after success"

# Shards 0/3, 1/3, 2/3 interleave to the single run, window for window.
for i in 0 1 2; do
  lexico-harvest "${M[@]}" "$TEXT" --ctx 100 --max-tokens 1000 -t 1 --shard $i/3 -o shard$i.h5 2>/dev/null
done
lexico-fixture shard-union single.h5 shard0.h5 shard1.h5 shard2.h5 || fail "shards do not add up to the single run"
lexico-fixture shard-union single.h5 shard1.h5 shard0.h5 shard2.h5 2>/dev/null && fail "shard-union accepts shards out of order"

# Layers subset, fp32 storage, pre-RoPE keys, sampling.
lexico-harvest "${M[@]}" "$TEXT" --ctx 100 --max-tokens 300 -l 1,3 --dtype fp32 --prerope --sample 0.5 -o sub.h5 2>/dev/null
[ "$(h5ls sub.h5/layers | wc -l)" -eq 2 ] || fail "expected layers 1 and 3 only"
h5ls sub.h5/layers/3/keys_prerope >/dev/null || fail "no pre-RoPE keys"
n=$(h5ls sub.h5/tokens | sed -E 's/.*\{([0-9]+)\/.*/\1/')
{ [ "$n" -gt 100 ] && [ "$n" -lt 200 ]; } || fail "sampling 0.5 of 300 tokens kept $n"

# Killed mid-run, then resumed: same arrays as an uninterrupted run.
killed_run() {  # OUT ARGS...: starts a harvest to OUT and kills it once it has written a segment
  local out=$1
  shift
  lexico-harvest "$@" -o "$out" 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do
    [ -e "$out.partial" ] && break
    sleep 0.05
  done
  sleep 0.5
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  rm -f "$out".tmp.*  # the killed process's own temporary output (SIGKILL leaves it; docs/reliability.md)
}
args=("${M[@]}" "$TEXT" --ctx 64 --max-tokens 8000 -t 1)
lexico-harvest "${args[@]}" -o whole.h5 2>/dev/null
killed_run resumed.h5 "${args[@]}"
if [ -e resumed.h5 ]; then
  echo "note: the run finished before it could be killed; resume not exercised"
else
  [ -e resumed.h5.partial ] || fail "no partial file after the kill"
  lexico-harvest "${args[@]}" -o resumed.h5 --resume 2>/dev/null || fail "resume failed"
fi
for d in /tokens /positions /layers/0/keys /layers/4/values; do
  h5diff -q whole.h5 resumed.h5 $d $d || fail "resumed run differs in $d"
done
# A partial file from other settings is refused.
mkdir mismatch.h5.partial && echo "ctx=1" >mismatch.h5.partial/settings.txt
expect_error 3 "mismatch.h5.partial: cannot resume: it was made with other settings" mismatch.h5 -- \
  lexico-harvest "${M[@]}" "$TEXT" --ctx 32 --max-tokens 200 -o mismatch.h5 --resume
# So is one of other layers or another text (the settings name them), and the
# partial results stay for the right command.
killed_run layers.h5 "${args[@]}" -l 0
if [ -e layers.h5.partial ]; then
  expect_error 3 "layers.h5.partial: cannot resume: it was made with other settings" layers.h5 -- \
    lexico-harvest "${args[@]}" -l 0,1 -o layers.h5 --resume
  head -c 200000 "$TEXT" | tail -c 100000 >other.txt
  expect_error 3 "layers.h5.partial: cannot resume: it was made with other settings" layers.h5 -- \
    lexico-harvest "${M[@]}" other.txt --ctx 64 --max-tokens 8000 -t 1 -l 0 -o layers.h5 --resume
  lexico-harvest "${args[@]}" -l 0 -o layers.h5 --resume 2>/dev/null || fail "resume with the same settings failed"
  h5diff -q whole.h5 layers.h5 /layers/0/keys /layers/0/keys || fail "resumed layer 0 differs"
fi

# Bad input.
: >empty.txt
expect_error 3 "empty.txt: the input holds no text" out.h5 -- lexico-harvest "${M[@]}" empty.txt -o out.h5
expect_error 3 "missing.txt: no such file or folder" out.h5 -- lexico-harvest "${M[@]}" missing.txt -o out.h5
expect_error 2 "--ctx: 100000 exceeds the model's context of 512 tokens" out.h5 -- \
  lexico-harvest "${M[@]}" "$TEXT" --ctx 100000 --max-tokens 10 -o out.h5
expect_error 2 "--shard: 3/3 is not a shard i/n" out.h5 -- lexico-harvest "${M[@]}" "$TEXT" --shard 3/3 -o out.h5
echo '{"text": 5}' >bad.jsonl
expect_error 3 "bad.jsonl:1: has no string field 'text'" out.h5 -- lexico-harvest "${M[@]}" bad.jsonl -o out.h5
expect_error 3 "has 32000 tokens but the model's vocabulary has 512" out.h5 -- \
  lexico-harvest -m "$S/stories260K.bin" --tokenizer "${LEXICO_SHARED_DIR}/tokenizers/llama2/tokenizer.bin" "$TEXT" -o out.h5
head -c 1000 "$S/stories260K.bin" >cut.bin
expect_error 3 "cut.bin:" out.h5 -- lexico-harvest -m cut.bin --tokenizer "$S/tok512.bin" "$TEXT" -o out.h5
finish
