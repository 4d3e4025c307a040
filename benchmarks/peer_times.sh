#!/usr/bin/env bash
# Time to the best validation epoch, l4r beside RecBole 1.2.1, one model pair at a time, back to back,
# one torch thread each, on one prepared folder (each run holds the CPU lock, so nothing else runs beside it).
# Appends one JSON line per run to OUT (l4r: benchmarks/backbones.py; RecBole: benchmarks/recbole_peer.py).
#   RECBOLE_PY=../recbole-venv/bin/python bash benchmarks/peer_times.sh out/ml-100k/data results/ml-100k/backbones/times.jsonl
# PAIRS lists l4r:RecBole[:RecBole epoch cap]; a cap bounds RecBole's run (its sequential models take minutes
# per epoch here): its best epoch is then at least the best one seen, and its time to best at least that one's.
set -euo pipefail
data=${1:?prepared folder}; out=${2:?output JSONL}; seed=${SEED:-0}
py=${PY:-python3}; rb=${RECBOLE_PY:?path of the python in RecBole\'s venv}
pairs=${PAIRS:-"mf:BPR lightgcn:LightGCN sgl:SGL sasrec:SASRec:3 bert4rec:BERT4Rec:3"}
export OMP_NUM_THREADS=1 TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
lock=${LOCK:-/tmp/l4r-cpu.lock}
for pair in $pairs; do
  IFS=: read -r ours theirs cap <<< "$pair"
  echo "peer_times: $ours (l4r) ..." >&2
  tmp=$(mktemp)
  flock "$lock" "$py" benchmarks/backbones.py "$data" --models "$ours" --seed "$seed" --threads 1 --json "$tmp" \
    > /dev/null 2>&1
  "$py" -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; print(json.dumps({"side": "l4r", **r}))' "$tmp" >> "$out"
  rm -f "$tmp"
  echo "peer_times: $theirs (RecBole${cap:+, at most $cap epochs}) ..." >&2
  flock "$lock" "$rb" benchmarks/recbole_peer.py "$data" --model "$theirs" --seeds "$seed" ${cap:+--epochs "$cap"} \
    2>/dev/null | sed 's/^{/{"side": "recbole", "epoch_cap": '"${cap:-null}"', /' >> "$out"
done
