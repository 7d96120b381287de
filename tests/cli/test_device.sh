#!/usr/bin/env bash
# --device of lexico-encode, lexico-train and lexico-eval recon: cpu, auto and cuda give the same
# codes and dictionaries where no GPU is usable (cuda then says why it runs on
# the CPU); on a GPU, the GPU's codes reconstruct as well as the CPU's. A bad
# device name is a usage error. lexico-generate and lexico-eval perplexity/kl
# --device: on a GPU the model and its cache (full16, lexico) run there, the
# full cache's greedy text is the CPU's and the mean NLL is within 0.5% of the
# CPU's; elsewhere every device gives the CPU's output.
source "$(dirname "$0")/lib.sh"

lexico-harvest --synthetic --n-layers 2 --n-kv-heads 2 --head-dim 32 --tokens 600 -o dump.h5
lexico-fixture dict dict.h5 --head-dim 32 --atoms 256 --layers 2

expect_error 2 "--device: 'tpu' is not a device" out.h5 -- lexico-encode dump.h5 -d dict.h5 -o out.h5 --device tpu
expect_error 2 "--device: 'tpu' is not a device" out.h5 -- lexico-train dump.h5 -N 256 -o out.h5 --device tpu

# on_gpu LOG: the log's notice names a GPU (its summary carries "(sm_XY").
on_gpu() { grep -Eq "runs? on .*\(sm_" "$1"; }
rre() { sed -n 's/.*mean RRE keys \([0-9.]*\) values \([0-9.]*\).*/\1 \2/p' "$1"; }
# close A B [TOL]: every number of A within TOL (default 2%, relative) of B's.
close() { paste <(tr ' ' '\n' <<<"$1") <(tr ' ' '\n' <<<"$2") |
  awk -v tol="${3:-0.02}" '{ d = $1 - $2; if (d < 0) d = -d; if (d > tol * $2) bad = 1 } END { exit bad }'; }

lexico-encode dump.h5 -d dict.h5 -s 8 -o cpu.h5 --device cpu 2>cpu.txt
grep -q "OMP runs" cpu.txt && fail "--device cpu talked about devices: $(cat cpu.txt)"
for device in auto cuda; do
  lexico-encode dump.h5 -d dict.h5 -s 8 -o "$device.h5" --device "$device" 2>"$device.txt"
  if on_gpu "$device.txt"; then
    echo "--device $device: $(grep 'OMP runs' "$device.txt")"
    close "$(rre "$device.txt")" "$(rre cpu.txt)" ||
      fail "--device $device: RRE $(rre "$device.txt") is not within 2% of the CPU's $(rre cpu.txt)"
  else
    cmp -s cpu.h5 "$device.h5" || fail "--device $device without a GPU wrote other codes than --device cpu"
    if [ "$device" = cuda ]; then
      grep -q "OMP runs on the CPU" cuda.txt || fail "--device cuda without a GPU did not say why: $(cat cuda.txt)"
      echo "--device cuda: $(grep 'OMP runs' cuda.txt)"
    fi
  fi
done

# lexico-eval recon encodes now on the chosen device too.
lexico-eval recon dump.h5 -d dict.h5 -s 8 --json --device cpu >recon-cpu.json
lexico-eval recon dump.h5 -d dict.h5 -s 8 --json --device cuda >recon-cuda.json 2>recon-cuda.txt
if ! on_gpu recon-cuda.txt; then
  cmp -s recon-cpu.json recon-cuda.json || fail "lexico-eval recon --device cuda without a GPU differs from --device cpu"
fi
expect_error 2 "--device: 'tpu' is not a device" "" -- lexico-eval recon dump.h5 -d dict.h5 --device tpu

train() { lexico-train dump.h5 -N 256 -s 4 --epochs 2 --batch 256 --lr 1e-2 -t 1 --device "$1" -o "train-$1.h5" 2>"train-$1.txt"; }
train cpu
train cuda
if on_gpu train-cuda.txt; then
  # The dictionaries differ in float rounding; they must code as well.
  lexico-encode dump.h5 -d train-cpu.h5 -s 4 -o a.h5 2>a.txt --device cpu
  lexico-encode dump.h5 -d train-cuda.h5 -s 4 -o b.h5 2>b.txt --device cpu
  close "$(rre b.txt)" "$(rre a.txt)" || fail "GPU-trained dictionary codes worse: $(rre b.txt) vs $(rre a.txt)"
  train cuda && mv train-cuda.h5 again.h5 && train cuda
  cmp -s again.h5 train-cuda.h5 || fail "two GPU trainings with the same seed differ"
else
  cmp -s train-cpu.h5 train-cuda.h5 || fail "--device cuda without a GPU trained another dictionary than --device cpu"
fi
# lexico-generate: a random model with GPU-sized heads (64), the tokenizer of stories260K.
TOK="${LEXICO_SHARED_DIR:-}/models/stories260K/tok512.bin"
if [ -f "$TOK" ]; then
  lexico-fixture model model.bin --head-dim 64 --layers 2
  lexico-fixture dict dict64.h5 --head-dim 64 --atoms 512 --layers 2
  G=(lexico-generate -m model.bin --tokenizer "$TOK" --raw -t 1 "Once upon a time" -n 40 -d dict64.h5)
  expect_error 2 "--device: 'tpu' is not a device" "" -- "${G[@]}" --device tpu
  for spec in full16 "lexico:s=8,buffer=16"; do
    "${G[@]}" -c "$spec" --device cpu >gen-cpu.txt 2>gen-cpu.err || fail "$spec on the CPU: $(cat gen-cpu.err)"
    for device in auto cuda; do
      "${G[@]}" -c "$spec" --device "$device" >"gen-$device.txt" 2>"gen-$device.err" ||
        fail "$spec --device $device: $(cat "gen-$device.err")"
      if grep -q "model and cache on .*(sm_" "gen-$device.err"; then
        echo "generate $spec --device $device: $(grep 'model and cache' "gen-$device.err")"
        grep -q "cache .*(GPU)" "gen-$device.err" || fail "$spec: the summary does not name the GPU cache: $(cat "gen-$device.err")"
        [ "$(wc -w <"gen-$device.txt")" -gt 20 ] || fail "$spec on the GPU generated too little: $(cat "gen-$device.txt")"
        if [ "$spec" = full16 ]; then
          cmp -s gen-cpu.txt "gen-$device.txt" || fail "full16 greedy text on the GPU differs from the CPU's"
        fi
      else
        cmp -s gen-cpu.txt "gen-$device.txt" || fail "$spec --device $device without a GPU differs from --device cpu"
        if [ "$device" = cuda ]; then
          grep -q "runs on the CPU" gen-cuda.err || fail "--device cuda without a GPU did not say why: $(cat gen-cuda.err)"
        fi
      fi
    done
  done
  # lexico-eval perplexity and kl: the GPU's scores are the CPU's up to rounding
  # (its lexico cache codes serially, as the CPU's does).
  for i in 1 2 3 4 5 6; do echo "Once upon a time there was a little girl named Lily. She loved to play in the park."; done >text.txt
  value() { sed -n "s/.*\"$1\": \([-0-9.e+]*\).*/\1/p" "$2"; }
  for spec in full16 "lexico:s=8,buffer=16"; do
    E=(lexico-eval perplexity -m model.bin --tokenizer "$TOK" text.txt -c "$spec" -d dict64.h5 --ctx 96 --prefill 24 -t 1 --json)
    "${E[@]}" --device cpu >ppl-cpu.json || fail "perplexity $spec on the CPU"
    "${E[@]}" --device cuda >ppl-cuda.json 2>ppl-cuda.err || fail "perplexity $spec --device cuda: $(cat ppl-cuda.err)"
    if grep -q "model and cache on .*(sm_" ppl-cuda.err; then
      # The mean NLL: a random model's perplexity is exp(~50), which magnifies any rounding.
      echo "perplexity $spec: mean NLL on the CPU $(value nll ppl-cpu.json), on the GPU $(value nll ppl-cuda.json)"
      close "$(value nll ppl-cuda.json)" "$(value nll ppl-cpu.json)" 0.005 ||
        fail "perplexity $spec: the GPU's mean NLL is not within 0.5% of the CPU's: $(cat ppl-cuda.json) vs $(cat ppl-cpu.json)"
    else
      cmp -s ppl-cpu.json ppl-cuda.json || fail "perplexity $spec --device cuda without a GPU differs from --device cpu"
    fi
  done
  lexico-eval kl -m model.bin --tokenizer "$TOK" text.txt -c "lexico:s=8,buffer=16" -d dict64.h5 --ctx 96 \
    --prefill 24 -t 1 --json --device cuda >kl.json 2>kl.err || fail "kl --device cuda: $(cat kl.err)"
  awk -v k="$(value mean_kl kl.json)" 'BEGIN { exit !(k >= 0 && k < 100) }' || fail "kl: $(cat kl.json)"
  # lexico-eval niah on either device: the same grid without a GPU; on one, a grid all the same.
  mkdir -p hay && for i in 1 2 3; do cp text.txt "hay/$i.txt"; done
  N=(lexico-eval niah -m model.bin --tokenizer "$TOK" --haystack hay --lengths 300 --depths 2 -n 6 --raw -t 1 --json
    -c "lexico:s=8,buffer=16" -d dict64.h5)
  "${N[@]}" --device cpu >niah-cpu.json 2>/dev/null || fail "niah on the CPU"
  "${N[@]}" --device cuda >niah-cuda.json 2>niah-cuda.err || fail "niah --device cuda: $(cat niah-cuda.err)"
  if grep -q "model and cache on .*(sm_" niah-cuda.err; then
    grep -q '"niah"' niah-cuda.json || fail "niah on the GPU: $(cat niah-cuda.json)"
  else
    cmp -s niah-cpu.json niah-cuda.json || fail "niah --device cuda without a GPU differs from --device cpu"
  fi
  # lexico-harvest on either device: the same dump without a GPU; on one, vectors
  # that code as the CPU's do (FP32 on the GPU too).
  H=(lexico-harvest -m model.bin --tokenizer "$TOK" text.txt --ctx 64 -t 1 --prerope)
  "${H[@]}" --device cpu -o kv-cpu.h5 2>/dev/null || fail "harvest on the CPU"
  "${H[@]}" --device cuda -o kv-cuda.h5 2>harvest-cuda.err || fail "harvest --device cuda: $(cat harvest-cuda.err)"
  if grep -q "model on .*(sm_" harvest-cuda.err; then
    lexico-encode kv-cpu.h5 -d dict64.h5 -s 8 -o c1.h5 --device cpu 2>e1.txt
    lexico-encode kv-cuda.h5 -d dict64.h5 -s 8 -o c2.h5 --device cpu 2>e2.txt
    echo "harvest: RRE of the CPU's dump $(rre e1.txt), of the GPU's $(rre e2.txt)"
    close "$(rre e2.txt)" "$(rre e1.txt)" 0.005 || fail "the GPU's dump codes differently: $(rre e2.txt) vs $(rre e1.txt)"
  else
    cmp -s kv-cpu.h5 kv-cuda.h5 || fail "harvest --device cuda without a GPU wrote another dump than --device cpu"
  fi
  # A cache without a GPU twin runs on the CPU, saying so when a GPU was asked for.
  "${G[@]}" -c int4 --device cuda >/dev/null 2>int4.err || fail "int4 --device cuda: $(cat int4.err)"
  grep -q "runs on the CPU" int4.err || fail "int4 --device cuda did not say where it runs: $(cat int4.err)"
else
  echo "lexico-generate part skipped: ../shared/models/stories260K/tok512.bin is not present"
fi
finish
