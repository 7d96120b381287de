#!/usr/bin/env bash
# scripts/slurm on a real single-node Slurm cluster that this test starts from
# Debian's slurm-wlm and munge (config, keys, state and logs in the scratch
# folder, on free ports): the whole chain on stories260K equals a single-process
# run (shards interleave to one harvest, the merged dictionary equals one
# lexico-train run but for timings, codes and reports are equal); a resubmitted
# run keeps finished work and redoes what is missing; a failed task cancels the
# stages after it; bad submit options are refused. Skips (77) when not root,
# when Slurm or munge is not installed (scripts/install-deps installs them), or
# when the daemons do not come up.
source "$(dirname "$0")/lib.sh"
SUBMIT="$LEXICO_SOURCE_DIR/scripts/slurm/submit"
S="${LEXICO_SHARED_DIR}/models/stories260K"
TEXT="${LEXICO_SHARED_DIR}/data/wikitext-2/wiki.test.raw"

# Bad options are refused before anything is submitted; no Slurm needed.
touch model.bin text.txt
expect_error 2 "--layers: required" "" -- "$SUBMIT" -m model.bin text.txt
expect_error 2 "--layers: '3-1' is not a list" "" -- "$SUBMIT" -m model.bin --layers 3-1 text.txt
expect_error 2 "--shards: '0' is not a positive integer" "" -- "$SUBMIT" -m model.bin --layers 0 --shards 0 text.txt
expect_error 2 "inputs: standard input" "" -- "$SUBMIT" -m model.bin --layers 0 -
expect_error 3 "--model: 'missing.bin' does not exist" "" -- "$SUBMIT" -m missing.bin --layers 0 text.txt
expect_error 3 "inputs: 'missing.txt' does not exist" "" -- "$SUBMIT" -m model.bin --layers 0 missing.txt
expect_error 3 "LEXICO_BIN: 'nowhere' does not exist" "" -- env LEXICO_BIN=nowhere "$SUBMIT" -m model.bin --layers 0 text.txt
mkdir taken && touch taken/run.env
expect_error 2 "already holds a run" "" -- "$SUBMIT" -m model.bin --layers 0 -o taken text.txt
expect_error 3 "not a run folder" "" -- "$SUBMIT" --resume .
expect_error 2 "--shards: with --resume" "" -- "$SUBMIT" --resume taken --shards 2

skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "starting a Slurm cluster needs root"
for tool in munged slurmctld slurmd sbatch scontrol squeue sinfo scancel; do
  command -v "$tool" >/dev/null || skip "$tool is missing (Debian packages slurm-wlm and munge; see scripts/install-deps)"
done
[ -f "$S/stories260K.bin" ] && [ -f "$TEXT" ] || skip "../shared (stories260K, WikiText) is not present"

# The cluster: munged (root, --force: its socket lives in this root-only folder),
# slurmctld and slurmd in the foreground, so their ids are ours to stop; and
# should this shell be killed outright, --pdeathsig stops them too.
C="$WORK/cluster"
mkdir -p "$C/state" "$C/spool"
export SLURM_CONF="$C/slurm.conf"
daemons=()
stop_cluster() {
  if [ ${#daemons[@]} -gt 1 ]; then
    scancel --quiet --user=root 2>/dev/null || true
    for _ in $(seq 40); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  local pid
  for pid in "${daemons[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${daemons[@]}"; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap stop_cluster EXIT
trap 'exit 1' INT TERM
show_logs() { tail -n 5 "$C"/*.log "$C"/*.out 2>/dev/null || true; }

dd if=/dev/urandom of="$C/munge.key" bs=1024 count=1 status=none
chmod 400 "$C/munge.key"
setpriv --pdeathsig TERM munged --foreground --force --socket="$C/munge.socket" --key-file="$C/munge.key" \
  --pid-file="$C/munged.pid" --log-file="$C/munged.log" --seed-file="$C/munged.seed" 2>/dev/null &
daemons+=($!)

# Two free TCP ports in 20000..59999 (a refused connection means nobody listens).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 40000))
  port_free "$port" && port_free "$((port + 1))" && break
done
node=$(hostname -s)
cat >"$SLURM_CONF" <<EOF
ClusterName=lexicotest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$C/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool
SlurmctldPidFile=$C/slurmctld.pid
SlurmdPidFile=$C/slurmd.pid
SlurmctldLogFile=$C/slurmctld.log
SlurmdLogFile=$C/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
for _ in $(seq 20); do [ -S "$C/munge.socket" ] && break; sleep 0.25; done
setpriv --pdeathsig TERM slurmctld -D -f "$SLURM_CONF" >"$C/slurmctld.out" 2>&1 &
daemons+=($!)
setpriv --pdeathsig TERM slurmd -D -f "$SLURM_CONF" -N "$node" >"$C/slurmd.out" 2>&1 &
daemons+=($!)
up=0
for _ in $(seq 60); do
  [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && { up=1; break; }
  sleep 0.5
done
[ "$up" -eq 1 ] || { show_logs; skip "the Slurm daemons did not come up within 30 s (logs above)"; }

# wait_all: until the queue is empty (at most 5 minutes).
wait_all() {
  for _ in $(seq 600); do [ -z "$(squeue -h)" ] && return 0; sleep 0.5; done
  fail "jobs still queued after 5 minutes: $(squeue)"
  return 1
}
# states ID: the distinct states of job ID's tasks, e.g. "COMPLETED" or "CANCELLED".
states() { scontrol show job "$1" -o | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort -u | tr '\n' ' ' | sed 's/ $//'; }
job() { awk -v s="$1" '$1 == s { print $2 }' "$2"; }

# The chain: 24 windows (the last one short) in 3 shards of unequal size, 5 layers, tiny dictionaries.
harvest_opts=(--ctx 64 --max-tokens 1500)
train_opts=(-s 4 -N 32 --epochs 3 --batch 256 --lr 1e-2 --seed 3)
M=(-m "$S/stories260K.bin" --tokenizer "$S/tok512.bin")
start=$SECONDS
"$SUBMIT" "${M[@]}" --layers 0-4 --shards 3 -o run -N 32 -s 4 --cpus 1 --harvest-opts "${harvest_opts[*]}" \
  --train-opts "--epochs 3 --batch 256 --lr 1e-2 --seed 3" "$TEXT" >jobs.txt
[ "$(cut -d' ' -f1 jobs.txt | tr '\n' ' ')" = "harvest train merge encode eval " ] || fail "submit printed: $(cat jobs.txt)"
wait_all || exit 1
echo "chain finished in $((SECONDS - start)) s"
for stage in harvest train merge encode eval; do
  s=$(states "$(job $stage jobs.txt)")
  [ "$s" = COMPLETED ] || { fail "$stage ended $s"; cat run/logs/"$stage"-* >&2; }
done
[ "$FAILS" -eq 0 ] || finish
run=$(cd run && pwd)
shards=("$run"/harvest/shard-0.kv.h5 "$run"/harvest/shard-1.kv.h5 "$run"/harvest/shard-2.kv.h5)

# Harvest: the shards interleave to one unsharded run.
lexico-harvest "${M[@]}" "$TEXT" "${harvest_opts[@]}" -t 1 -o single.h5 2>/dev/null
lexico-fixture shard-union single.h5 "${shards[@]}" || fail "harvest shards do not add up to a single run"

# Dictionary: one lexico-train run over all layers has the same atoms (content
# checksum) and the same metadata (h5dump, less its first line: the file name).
lexico-train "${shards[@]}" "${train_opts[@]}" -t 1 -o ref.dict.h5 2>ref-train.txt
sha_of() { sed -n 's/.*content sha256 \([0-9a-f]*\)$/\1/p' "$@"; }
ref_sha=$(sha_of ref-train.txt)
[ -n "$ref_sha" ] && [ "$(sha_of run/logs/merge-*.out)" = "$ref_sha" ] || fail "merged dictionary's atoms differ"
h5dump ref.dict.h5 | tail -n +2 >ref.dict.txt
h5dump run/dictionary.h5 | tail -n +2 >run.dict.txt
grep -q 'ATTRIBUTE "meta.train.dumps"' ref.dict.txt || fail "h5dump of the dictionary: unexpected form"
diff ref.dict.txt run.dict.txt >dict.diff || fail "merged dictionary file differs: $(head -5 dict.diff)"

# Codes and reports: the same as encoding and scoring each shard in this process.
for i in 0 1 2; do
  lexico-encode "${shards[i]}" -d ref.dict.h5 -s 4 -t 1 -q -o ref$i.codes.h5
  h5diff -q ref$i.codes.h5 run/codes/shard-$i.codes.h5 || fail "codes of shard $i differ"
  lexico-eval recon "${shards[i]}" -d ref.dict.h5 -c ref$i.codes.h5 --json >ref$i.json
  cmp -s ref$i.json run/eval/shard-$i.json || fail "report of shard $i differs"
done
# The summary's last row agrees with scoring the single unsharded dump: totals
# exactly, RRE means to 3e-5 (both sides are rounded to 6 digits).
field() { sed -n "s/^  \"$1\": \([0-9.e+-]*\),*$/\1/p" "$2"; }
lexico-eval recon single.h5 -d ref.dict.h5 -s 4 --json >single.json
read -r name vectors csr fp16 _ keys values < <(tail -1 run/eval/summary.tsv)
[ "$name $vectors $csr $fp16" = "all $(field vectors single.json) $(field csr_bytes single.json) $(field fp16_bytes single.json)" ] ||
  fail "summary totals: $(tail -1 run/eval/summary.tsv)"
for pair in "$keys $(field keys_rre_mean single.json)" "$values $(field values_rre_mean single.json)"; do
  awk -v p="$pair" 'BEGIN { split(p, x, " "); d = x[1] - x[2]; exit !(x[2] > 0 && d * d < 9e-10 * x[2] * x[2]) }' ||
    fail "summary RRE $pair: sharded and single differ"
done

# Resubmitting keeps finished work and redoes what is missing, to the same result.
rm run/codes/shard-1.codes.h5 run/eval/summary.tsv
"$SUBMIT" --resume run --cpus 1 >jobs2.txt
wait_all || exit 1
[ "$(states "$(job eval jobs2.txt)")" = COMPLETED ] || fail "resubmitted chain: eval ended $(states "$(job eval jobs2.txt)")"
[ "$(grep -l 'is done, kept' run/logs/harvest-"$(job harvest jobs2.txt)"_*.out | wc -l)" -eq 3 ] ||
  fail "resubmitted harvest did not keep the finished shards"
grep -q 'is done, kept' run/logs/encode-"$(job encode jobs2.txt)"_1.out && fail "encode shard 1 was not redone"
h5diff -q ref1.codes.h5 run/codes/shard-1.codes.h5 || fail "redone codes of shard 1 differ"
[ -s run/eval/summary.tsv ] || fail "resubmitted eval wrote no summary"

# A failed task cancels the stages after it: 2 windows leave shard 2 of 3 empty.
"$SUBMIT" "${M[@]}" --layers 0 --shards 3 -o bad -N 32 -s 4 --cpus 1 --harvest-opts "--ctx 64 --max-tokens 128" \
  "$TEXT" >jobs3.txt
wait_all || exit 1
[ "$(states "$(job harvest jobs3.txt)")" = "COMPLETED FAILED" ] || fail "harvest of bad: $(states "$(job harvest jobs3.txt)")"
grep -q "no windows" bad/logs/harvest-*_2.out || fail "the failed task's log lacks the reason"
for stage in train merge encode eval; do
  [ "$(states "$(job $stage jobs3.txt)")" = CANCELLED ] || fail "$stage after a failed harvest: $(states "$(job $stage jobs3.txt)")"
done
echo "whole test in $((SECONDS - start)) s after the cluster came up"
finish
