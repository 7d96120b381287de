#!/usr/bin/env bash
# Each writing executable killed with SIGKILL at random points: the previous
# output stays intact (same SHA-256) or is replaced by a complete new one, and
# nothing but the temporary file of the killed run is left beside it. Killed
# lexico-train and lexico-harvest runs resumed with --resume give the result of
# an uninterrupted run. Delays are reproducible (RANDOM is seeded).
source "$(dirname "$0")/lib.sh"
RANDOM=9
TRIALS=${LEXICO_KILL_TRIALS:-10}

sha() { sha256sum "$1" | cut -d' ' -f1; }
now_ms() { date +%s%3N; }
declare -A outcome

# kill_trials NAME OUT CHECK -- CMD...: TRIALS runs of CMD (which writes OUT,
# an existing file), each killed after a random delay up to 1.3 times an
# uninterrupted run. CHECK is the SHA-256 of the complete new output; OUT must
# hold the previous file or that.
kill_trials() {
  local name=$1 out=$2 check=$3
  shift 4
  local old t0 t1 span
  old=$(sha "$out")
  t0=$(now_ms)
  "$@" >/dev/null 2>&1 || fail "$name: an uninterrupted run failed"
  cp "$out.orig" "$out"
  t1=$(now_ms)
  span=$(((t1 - t0) * 13 / 10 + 1))
  local kept=0 replaced=0
  for i in $(seq "$TRIALS"); do
    "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "$(awk -v ms=$((RANDOM * span / 32768)) 'BEGIN { printf "%.3f", ms / 1000 }')"
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    local now
    now=$(sha "$out")
    if [ "$now" = "$old" ]; then
      kept=$((kept + 1))
    elif [ "$now" = "$check" ]; then
      replaced=$((replaced + 1))
      cp "$out.orig" "$out"  # the next trial starts from the previous output again
    else
      fail "$name trial $i: $out is neither the previous output nor a complete new one"
      cp "$out.orig" "$out"
    fi
    for f in "$out".*; do
      case "$f" in
        "$out".orig) ;;
        "$out".tmp.*|"$out".ckpt.tmp.*) ;;  # the killed runs' temporary files: the next writer removes them
        "$out".ckpt|"$out".partial) rm -rf "$f" ;;  # resumable state, tested below
        *) fail "$name trial $i left $f" ;;
      esac
    done
  done
  # A run that completes removes the temporary outputs the killed runs left.
  "$@" >/dev/null 2>&1 || fail "$name: a run after the killed ones failed"
  ! ls "$out".tmp.* >/dev/null 2>&1 || fail "$name: killed runs' temporary outputs outlived a complete run: $(ls "$out".tmp.*)"
  rm -f "$out".ckpt.tmp.*  # train: removed by its next checkpoint, which a complete run need not write
  outcome[$name]="$TRIALS trials: previous output kept $kept, complete new output $replaced"
  echo "$name: ${outcome[$name]}"
}

lexico-harvest --synthetic --n-layers 4 --n-kv-heads 2 --head-dim 32 --tokens 6000 -o dump.h5
lexico-fixture dict dict.h5 --head-dim 32 --atoms 128 --layers 4

# lexico-harvest --synthetic: a previous dump of another seed.
lexico-harvest --synthetic --n-layers 4 --n-kv-heads 2 --head-dim 32 --tokens 3000 --seed 2 -o out.h5
cp out.h5 out.h5.orig
lexico-harvest --synthetic --n-layers 4 --n-kv-heads 2 --head-dim 32 --tokens 3000 -o ref.h5
kill_trials harvest out.h5 "$(sha ref.h5)" -- \
  lexico-harvest --synthetic --n-layers 4 --n-kv-heads 2 --head-dim 32 --tokens 3000 -o out.h5
rm -f out.h5*

# lexico-encode: previous codes of another sparsity.
lexico-encode dump.h5 -d dict.h5 -s 2 -t 1 -o out.h5 -q
cp out.h5 out.h5.orig
lexico-encode dump.h5 -d dict.h5 -s 4 -t 1 -o ref.h5 -q
kill_trials encode out.h5 "$(sha ref.h5)" -- lexico-encode dump.h5 -d dict.h5 -s 4 -t 1 -o out.h5 -q
rm -f out.h5*

# lexico-train: previous dictionary of another seed; checkpoints are dropped between trials.
train=(lexico-train dump.h5 -N 64 -s 4 --epochs 6 --batch 256 -t 1 -q)
"${train[@]}" --seed 2 -o out.h5
cp out.h5 out.h5.orig
"${train[@]}" -o ref.h5
kill_trials train out.h5 "$(sha ref.h5)" -- "${train[@]}" -o out.h5

# Resume: a train run killed at random points, resumed until it completes,
# equals the uninterrupted run.
for trial in 1 2; do
  rm -rf res.h5 res.h5.*
  for attempt in $(seq 20); do
    "${train[@]}" -o res.h5 --resume >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 6 + 2))"
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    rm -f res.h5.tmp.* res.h5.ckpt.tmp.*
    [ -e res.h5 ] && break
  done
  [ -e res.h5 ] || "${train[@]}" -o res.h5 --resume >/dev/null 2>&1 || fail "train resume $trial failed"
  [ "$(sha res.h5)" = "$(sha ref.h5)" ] || fail "train resumed after $attempt kills differs from the uninterrupted run"
  [ ! -e res.h5.ckpt ] || fail "checkpoint left after the resumed train run completed"
  echo "train resume $trial: complete after $attempt killed runs, equal to the uninterrupted run"
done

# lexico-harvest with a model resumes from its segments (needs ../shared's stories260K).
S="${LEXICO_SHARED_DIR}/models/stories260K"
TEXT="${LEXICO_SHARED_DIR}/data/wikitext-2/wiki.test.raw"
if [ -f "$S/stories260K.bin" ] && [ -f "$TEXT" ]; then
  args=(-m "$S/stories260K.bin" --tokenizer "$S/tok512.bin" "$TEXT" --ctx 64 --max-tokens 20000 -t 1)
  lexico-harvest "${args[@]}" -o whole.h5 2>/dev/null
  for trial in 1 2; do
    rm -rf res.h5 res.h5.*
    attempts=0
    while [ ! -e res.h5 ] && [ $attempts -lt 6 ]; do
      attempts=$((attempts + 1))
      lexico-harvest "${args[@]}" -o res.h5 --resume >/dev/null 2>&1 &
      pid=$!
      sleep "0.$((RANDOM % 8 + 2))"
      kill -9 $pid 2>/dev/null || true
      wait $pid 2>/dev/null || true
    done
    [ -e res.h5 ] || lexico-harvest "${args[@]}" -o res.h5 --resume 2>/dev/null || fail "harvest resume $trial failed"
    [ "$(sha res.h5)" = "$(sha whole.h5)" ] || fail "harvest resumed after $attempts kills differs from the uninterrupted run"
    [ ! -e res.h5.partial ] || fail "partial folder left after the resumed harvest completed"
    echo "harvest resume $trial: $attempts runs killed at random points, then resumed: byte-identical to the uninterrupted run"
  done
else
  echo "note: ../shared's stories260K is not present; harvest resume not exercised"
fi
finish
