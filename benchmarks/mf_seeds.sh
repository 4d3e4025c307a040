#!/usr/bin/env bash
# MF Base on a prepared folder over seeds, with and without --refit: test HR@5 / NDCG@5 per run.
#   bash benchmarks/mf_seeds.sh out/ml-100k/data 5
set -euo pipefail
data=${1:-out/ml-100k/data}; seeds=${2:-5}; tmp=$(mktemp -d)
for refit in --no-refit --refit; do
  for s in $(seq 0 $((seeds - 1))); do
    python -m l4r backbone --model mf --data "$data" --out "$tmp/m" --seed "$s" $refit 2>/dev/null
    python -m l4r eval "$tmp/m/candidates.jsonl" --data "$data" --groups 0 --label "mf$refit" 2>/dev/null > "$tmp/metrics$refit$s.jsonl"
    printf '%s seed %s: ' "$refit" "$s"; grep -o '"metric":"[A-Z]*@5","value":[0-9.]*' "$tmp/metrics$refit$s.jsonl" | tr '\n' ' '; echo
  done
  python -m l4r eval --runs "$tmp"/metrics$refit*.jsonl 2>/dev/null | grep -E '"(HR|NDCG)@5"' || true
done
rm -rf "$tmp"
