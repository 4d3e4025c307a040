#!/usr/bin/env bash
# l4r's GPU paths on one GPU (issue 15): `l4r llm` (hf, bf16, sdpa) on ML-100K prompts with a randomly
# initialised LLaMA-2-7B, and `l4r finetune` (DeepSpeed ZeRO-3, bf16) on the largest Llama that fits.
# Every part prints its exact command, appends a JSON line to OUT/gpu_check.jsonl and rewrites
# OUT/gpu_check.md; OUT/gpu_check.log has the tail of each part's stderr.
#
#   MODE=gpu OUT=$OUT bash benchmarks/gpu_check.sh       on the device: ~8 min, one `run` call
#   MODE=cpu OUT=/tmp/gc bash benchmarks/gpu_check.sh    here: the same parts on a tiny Llama (under flock)
#   MODE=wheels bash benchmarks/gpu_check.sh             here, with PyPI: the wheels the device lacks,
#                                                        into out/gpu-wheels (ignored by git; carry it)
# Knobs (env): N prompts per part (0: all), BUDGET_S hard limit of the whole script (parts are cut to
# fit it, and one cut off still reports what it did), FT_LAYERS layer counts tried in order until one
# trains (a smaller one only after an out-of-memory), FT_STEPS, WORK (model files; not under OUT),
# T_MODEL T_LABELS T_POINT T_TITLES T_FT (seconds each part may take at most), GC_ARCH and GC_DEVICE
# (a mode's flow with another model or device: MODE=gpu GC_ARCH=tiny GC_DEVICE=cpu tries the GPU flow here).
# Inputs are committed in benchmarks/gpu_inputs (benchmarks/gpu_prompts.py made them from ML-100K).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=${MODE:-gpu}
PY=${PY:-python3}
WHEELS=${WHEELS:-out/gpu-wheels}
IN=benchmarks/gpu_inputs
HELP=benchmarks/gpu_check.py

if [ "$MODE" = wheels ]; then  # the device's python is 3.12 and has torch, transformers, typer, numpy
  mkdir -p "$WHEELS"
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$WHEELS" orjson==3.13.0 pydantic-core==2.46.4
  $PY -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" pydantic==2.13.4 annotated-types==0.7.0 \
    typing-inspection==0.4.2 hjson==3.1.0
  $PY -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" deepspeed==0.19.8  # pure Python; ops JIT-build
  du -sh "$WHEELS"
  exit 0
fi

OUT=${OUT:?set OUT to the results folder}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=${WORK:-/tmp/l4r-gpu-check}
mkdir -p "$WORK"
rm -f "$OUT/gpu_check.jsonl" "$OUT/gpu_check.md" "$OUT/gpu_check.log"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
case "$MODE" in
  gpu) ARCH=${GC_ARCH:-llama2-7b} DEVICE=${GC_DEVICE:-cuda}
       : "${N:=0}" "${BUDGET_S:=510}" "${FT_LAYERS:=32 16}" "${FT_STEPS:=4}" "${FT_MICRO:=1}" "${FT_BATCH:=16}"
       : "${FT_MAXLEN:=2048}" "${BATCH:=32}" "${GEN_BATCH:=64}" "${MAX_NEW:=0}"
       : "${T_MODEL:=150}" "${T_LABELS:=120}" "${T_POINT:=100}" "${T_TITLES:=150}" "${T_FT:=400}" ;;
  cpu) ARCH=${GC_ARCH:-tiny} DEVICE=${GC_DEVICE:-cpu}
       : "${N:=8}" "${BUDGET_S:=300}" "${FT_LAYERS:=2}" "${FT_STEPS:=2}" "${FT_MICRO:=2}" "${FT_BATCH:=4}"
       : "${FT_MAXLEN:=512}" "${BATCH:=8}" "${GEN_BATCH:=8}" "${MAX_NEW:=16}"
       : "${T_MODEL:=60}" "${T_LABELS:=60}" "${T_POINT:=60}" "${T_TITLES:=60}" "${T_FT:=180}" ;;
  *) echo "MODE must be gpu, cpu or wheels" >&2; exit 2 ;;
esac
deadline=$((SECONDS + BUDGET_S))

if [ "$MODE" = gpu ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
    "$WHEELS"/*.whl && export PYTHONPATH="$WORK/site:$PYTHONPATH" || echo "wheels from $WHEELS did not install" >&2
fi

note() { $PY $HELP note --out "$OUT" --part "$1" --note "$2" ${3:+--cmd "$3"}; $PY $HELP report --out "$OUT"; }
limit_for() { local left=$((deadline - SECONDS - 20)); echo $(($1 < left ? $1 : left)); }
MEMPID=
mem_start() {
  MEMPID=
  if [ "$MODE" = gpu ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 >"$1" 2>/dev/null &
    MEMPID=$!
  fi
}
mem_stop() { if [ -n "$MEMPID" ]; then kill "$MEMPID" 2>/dev/null || true; wait "$MEMPID" 2>/dev/null || true; fi; }

# run_part NAME LIMIT CMD...: runs CMD under `timeout`; sets CMD (as text), RC, WALL. RC -1: no time was left.
run_part() {
  local name=$1 lim t0
  lim=$(limit_for "$2")
  shift 2
  CMD=$(printf '%q ' "$@")
  CMD=${CMD% }
  echo "== $name (limit ${lim}s): $CMD" | tee -a "$OUT/gpu_check.log"
  RC=-1 WALL=0
  [ "$lim" -ge 15 ] || return 0
  mem_start "$WORK/$name.mem"
  t0=$SECONDS
  set +e
  timeout -k 10 "$lim" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  RC=$?
  set -e
  WALL=$((SECONDS - t0))
  mem_stop
  tail -n 25 "$WORK/$name.err" >>"$OUT/gpu_check.log"
}

$PY $HELP env --device "$DEVICE" --mode "$MODE" --out "$OUT" || echo "env: failed (see above)" >&2
MISSING=$($PY -c "import importlib.util as u; print(' '.join(m for m in ('orjson', 'typer', 'deepspeed') if not u.find_spec(m)))")
L4R_OK=1
case " $MISSING " in *" orjson "*|*" typer "*) L4R_OK=0 ;; esac
WHY="missing on this machine: $MISSING; make them here with MODE=wheels and carry $WHEELS"

MODEL=$WORK/$ARCH
run_part model "$T_MODEL" $PY $HELP model --arch "$ARCH" --device "$DEVICE" --out "$MODEL" --record "$OUT"
if [ "$RC" != 0 ]; then
  note model "$( [ "$RC" = -1 ] && echo 'no time left' || tail -n 1 "$WORK/model.err")" "$CMD"
  L4R_OK=0 WHY="no model"
fi
$PY $HELP report --out "$OUT"

# llm_part NAME PROMPTS LIMIT BATCH [llm flags...]
llm_part() {
  local name=$1 prompts=$2 want=$3 batch=$4
  shift 4
  if [ "$L4R_OK" = 0 ]; then note "$name" "$WHY"; return; fi
  if [ "$N" -gt 0 ]; then
    { gzip -dc "$prompts" || true; } | head -n "$N" >"$WORK/$name-prompts.jsonl"
    prompts=$WORK/$name-prompts.jsonl
  fi
  rm -f "$WORK/$name.jsonl" "$WORK/$name.jsonl.partial" "$WORK/$name.jsonl.stats.json"
  run_part "$name" "$want" $PY -m l4r llm "$prompts" --model "$MODEL" --backend hf --device "$DEVICE" \
    --batch-size "$batch" -o "$WORK/$name.jsonl" "$@"
  if [ "$RC" = -1 ]; then note "$name" "no time left" "$CMD"; return; fi
  $PY $HELP llm --out "$OUT" --part "$name" --cmd "$CMD" --model "$MODEL" --log "$WORK/$name.err" \
    --mem "$WORK/$name.mem" --rc "$RC" --wall "$WALL" --result "$WORK/$name.jsonl" --prompts "$prompts"
  $PY $HELP report --out "$OUT"
}
llm_part labels "$IN/listwise-labels.jsonl.gz" "$T_LABELS" "$BATCH"
llm_part pointwise "$IN/pointwise.jsonl.gz" "$T_POINT" "$BATCH"
llm_part titles "$IN/listwise-titles.jsonl.gz" "$T_TITLES" "$GEN_BATCH" --max-new-tokens "$MAX_NEW"

# finetune: ZeRO-3 (l4r/configs/zero3.json, asked for: one CPU process would default to ZeRO-0), bf16 on GPU,
# torchrun with one process; the paper's global
# batch 16 as micro-batch FT_MICRO x accumulation, so one GPU does what each of the paper's 16 does per step
for L in $FT_LAYERS; do
  if [ "$L4R_OK" = 0 ] || [[ " $MISSING " == *" deepspeed "* ]]; then
    note finetune "$WHY"
    break
  fi
  FTM=$MODEL
  if [ "$L" != "$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['num_hidden_layers'])" "$MODEL/config.json")" ]; then
    FTM=$WORK/$ARCH-L$L
    rm -rf "$MODEL"  # disk: the 7B and its fine-tuned copies are ~14 GB each
    run_part "model-L$L" "$T_MODEL" $PY $HELP model --arch "$ARCH" --layers "$L" --device "$DEVICE" --out "$FTM" --record "$OUT"
    [ "$RC" = 0 ] || { note finetune "the $L-layer model was not made" "$CMD"; break; }
  fi
  rm -rf "$WORK/ft"
  run_part "finetune-L$L" "$T_FT" $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m l4r finetune \
    "$IN/instructions.jsonl.gz" --model "$FTM" --out "$WORK/ft" --zero-stage 3 --max-steps "$FT_STEPS" --batch-size "$FT_BATCH" \
    --micro-batch "$FT_MICRO" --max-len "$FT_MAXLEN" --warmup 1
  if [ "$RC" = -1 ]; then note finetune "no time left for $L layers" "$CMD"; break; fi
  $PY $HELP finetune --out "$OUT" --cmd "$CMD" --model "$FTM" --log "$WORK/finetune-L$L.err" \
    --mem "$WORK/finetune-L$L.mem" --rc "$RC" --wall "$WALL" --ft-out "$WORK/ft"
  $PY $HELP report --out "$OUT"
  rm -rf "$WORK/ft"
  [ "$RC" != 0 ] || break
  grep -qiE "out of memory|OutOfMemory" "$WORK/finetune-L$L.err" || break  # step down only when it did not fit
done
$PY $HELP report --out "$OUT"
echo "== done in $((SECONDS - deadline + BUDGET_S))s: $OUT/gpu_check.md" | tee -a "$OUT/gpu_check.log"
cat "$OUT/gpu_check.md"
