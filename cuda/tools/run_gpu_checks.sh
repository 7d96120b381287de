#!/usr/bin/env bash
# Runs the GPU correctness tests and the five benchmarks from one folder of built
# binaries (default: build/cuda), logging to $OUT (default: ./gpu-logs).
#   cuda/tools/run_gpu_checks.sh [BIN_DIR] [--quick]
set -u
BIN=${1:-build/cuda}
QUICK=${2:-}
OUT=${OUT:-gpu-logs}
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  grep -m1 "model name" /proc/cpuinfo; nproc
} | tee "$OUT/machine.txt"
status=0
run() {  # name, limit (s), command...
  local name=$1 limit=$2; shift 2
  echo "== $name"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "   exit $rc"
  [ $rc -ne 0 ] && status=1
  return 0
}
run tests 200 "$BIN/lexico-cuda-tests" --duration=true
run bench_omp 150 "$BIN/bench_cuda_omp" $QUICK
run bench_attention 200 "$BIN/bench_cuda_attention" $QUICK
run bench_train 300 "$BIN/bench_cuda_train" $QUICK
run bench_model 300 "$BIN/bench_cuda_model" $QUICK
run bench_gemv 120 "$BIN/bench_cuda_gemv" $QUICK
echo "---- tests"; grep -E "MESSAGE|ERROR|FAILED|test cases|assertions|skipped" "$OUT/tests.log" | cut -c1-220 | tail -60
echo "---- omp";  cat "$OUT/bench_omp.log" | tail -40
echo "---- attention"; cat "$OUT/bench_attention.log" | tail -70
echo "---- training"; cat "$OUT/bench_train.log" | tail -20
echo "---- model"; cat "$OUT/bench_model.log" | tail -30
echo "---- gemv"; cat "$OUT/bench_gemv.log" | tail -10
exit $status
