#!/usr/bin/env bash
# lexico-eval's task modes: longbench-score on predictions scored by hand from
# LongBench's definitions; longbench-tasks made from ../shared's essays and
# GSM8K (deterministic for a seed); longbench and niah end to end on the real
# stories260K model with several caches; bad input refused with one message.
source "$(dirname "$0")/lib.sh"

# Scoring needs no model: count = share of digit runs equal to the answer
# (1 and 1/2 → 75.00); qa_f1 of "The answer is 18" against "18": the article
# goes, P = 1/3, R = 1, F1 = 0.5. LongBench-E buckets by length.
cat >p.jsonl <<'JSONL'
{"pred": "There are 3 paragraphs, 3", "answers": ["3"], "all_classes": null, "length": 100, "dataset": "passage_count"}
{"pred": "4 or 5", "answers": ["5"], "all_classes": null, "length": 5000, "dataset": "passage_count"}
{"pred": "The answer is 18", "answers": ["18"], "all_classes": null, "length": 9000}
JSONL
lexico-eval longbench-score p.jsonl --dataset gsm8k_qa >table.txt
grep -Eq '^passage_count +count +2 +75.00 +100.00 +50.00 +-$' table.txt || fail "count row: $(cat table.txt)"
grep -Eq '^gsm8k_qa +qa_f1 +1 +50.00 +- +- +50.00$' table.txt || fail "qa_f1 row: $(cat table.txt)"
grep -Eq '^average +62.50$' table.txt || fail "average: $(cat table.txt)"
lexico-eval longbench-score p.jsonl --dataset gsm8k_qa --json >scores.json
grep -q '"average": 62.5' scores.json || fail "JSON: $(cat scores.json)"
expect_error 3 'p.jsonl:3: the field "dataset" is missing' "" -- lexico-eval longbench-score p.jsonl
echo '{"pred": "x", "answers": ["y"], "dataset": "no_such_task"}' >u.jsonl
expect_error 3 "no_such_task" "" -- lexico-eval longbench-score u.jsonl

D="${LEXICO_SHARED_DIR}/data"
S="${LEXICO_SHARED_DIR}/models/stories260K"
if [ ! -f "$S/stories260K.bin" ] || [ ! -d "$D/paul-graham-essays" ]; then
  echo "skipped the model parts: ../shared is not present"
  finish
  exit 0
fi
T=(--tokenizer "$S/tok512.bin")

# Tasks from local texts: same seed, same file; another seed, other records.
lexico-eval longbench-tasks --essays "$D/paul-graham-essays" --gsm8k "$D/gsm8k/test.jsonl" -n 2 --context-length 300 \
  "${T[@]}" --seed 3 -o tasks.jsonl
lexico-eval longbench-tasks --essays "$D/paul-graham-essays" --gsm8k "$D/gsm8k/test.jsonl" -n 2 --context-length 300 \
  "${T[@]}" --seed 3 >again.jsonl
lexico-eval longbench-tasks --essays "$D/paul-graham-essays" -n 2 --context-length 300 "${T[@]}" --seed 4 -o other.jsonl
cmp -s tasks.jsonl again.jsonl || fail "longbench-tasks is not deterministic for a seed"
[ "$(wc -l <tasks.jsonl)" -eq 6 ] || fail "3 tasks × 2 samples should give 6 lines, got $(wc -l <tasks.jsonl)"
[ "$(wc -l <other.jsonl)" -eq 4 ] || fail "essays only: 2 tasks × 2 samples, got $(wc -l <other.jsonl)"
for ds in passage_retrieval_essays passage_count_essays gsm8k_qa; do
  [ "$(grep -c "\"dataset\": \"$ds\"" tasks.jsonl)" -eq 2 ] || fail "two records of $ds expected"
done
cmp -s <(head -1 tasks.jsonl) <(head -1 other.jsonl) && fail "different seeds gave the same first record"

# The model answers them through several caches; the predictions file
# rescored without the model gives the same table.
lexico-harvest -m "$S/stories260K.bin" "${T[@]}" "$D/wikitext-2/valid.txt" --ctx 256 --max-tokens 6000 -t 1 -o kv.h5 \
  2>/dev/null
lexico-train kv.h5 -N 128 -s 4 --epochs 2 --lr 1e-2 -t 1 -q -o dict.h5
M=(-m "$S/stories260K.bin" "${T[@]}" --raw -t 1)
for spec in full16 lexico:s=4,buffer=16 kivi2; do
  lexico-eval longbench tasks.jsonl "${M[@]}" -c "$spec" -d dict.h5 --max-length 400 -p pred.jsonl >run.txt 2>err.txt ||
    fail "longbench $spec: $(cat err.txt)"
  grep -q "cache ${spec}: 6 samples, KV" run.txt || fail "longbench $spec summary: $(head -1 run.txt)"
  [ "$(wc -l <pred.jsonl)" -eq 6 ] || fail "longbench $spec: 6 predictions expected"
  lexico-eval longbench-score pred.jsonl >rescored.txt
  cmp -s <(tail -n +2 run.txt) rescored.txt || fail "longbench $spec: rescoring the predictions differs"
done
lexico-eval longbench tasks.jsonl "${M[@]}" -c kivi2 --max-length 400 --limit 1 --json >one.json
grep -q '"samples": 3, "kv_percent_of_fp16"' one.json || fail "--limit 1 keeps one sample per dataset: $(cat one.json)"

# Needle in a haystack: a 2 × 2 grid, a heat map's data and script beside it.
lexico-eval niah --haystack "$D/paul-graham-essays" "${M[@]}" -c lexico:s=4,buffer=16 -d dict.h5 --lengths 200,400 \
  --depths 2 --needle number -n 12 --heatmap niah.png --json >niah.json 2>err.txt || fail "niah: $(cat err.txt)"
grep -q '"lengths": \[200, 400\]' niah.json || fail "niah lengths: $(cat niah.json)"
grep -q '"depths": \[0, 100\]' niah.json || fail "niah depths: $(cat niah.json)"
grep -Eq '"cache": "lexico:s=4,buffer=16", "kv_percent_of_fp16": [0-9.]+' niah.json || fail "niah cache: $(head -1 niah.json)"
[ -s niah.dat ] && [ -s niah.gp ] || fail "niah: heat map data or script missing"
[ "$(grep -c '^[0-9]' niah.dat)" -eq 4 ] || fail "niah.dat should hold 4 cells: $(cat niah.dat)"
if command -v gnuplot >/dev/null; then [ -s niah.png ] || fail "gnuplot is here but niah.png was not drawn"; fi

# Bad input.
expect_error 2 "--max-length: must be at least 2" "" -- lexico-eval longbench tasks.jsonl "${M[@]}" --max-length 1
echo '{"input": "q", "context": "c", "answers": ["a"], "length": 3, "dataset": "no_such_task"}' >r.jsonl
expect_error 3 "no_such_task" "" -- lexico-eval longbench r.jsonl "${M[@]}"
expect_error 3 "exceed the model's context of 512" "" -- lexico-eval longbench tasks.jsonl "${M[@]}" --max-length 600
expect_error 3 "missing" "" -- lexico-eval niah --haystack missing "${M[@]}"
expect_error 2 "--needle: must be sandwich or number" "" -- lexico-eval niah --haystack "$D/paul-graham-essays" "${M[@]}" \
  --needle fish
expect_error 2 "--essays: give --essays DIR, --gsm8k FILE or both" "" -- lexico-eval longbench-tasks -o t.jsonl
expect_error 2 "--tasks: unknown task 'nope'" "t.jsonl" -- lexico-eval longbench-tasks --essays "$D/paul-graham-essays" \
  --tasks nope -o t.jsonl
finish
