# `make experiment`: the paper's study (Tables 2-5, Figures 3-5) as file targets, written to
# out/$(DATASET)/report.md. Each cell (scenario x backbone x seed) is one run of the pipeline in
# its own folder under out/$(DATASET)/exp/, so an interrupted experiment resumes where it stopped
# and a finished cell is never recomputed. Included by the Makefile.
#   make experiment DATASET=ml-100k SEEDS=5
#   make experiment TASKS=direct DIRECT_BACKBONES=lightgcn SEEDS=1 SCALE_INSTRUCTIONS="20 40" ROUNDS=2
# Differences from the paper, on purpose: alpha1, alpha2 and listwise-vs-pointwise are chosen on the
# validation split (the paper takes the best test result; the report shows both).

SEEDS                ?= 5
TASKS                ?= direct sequential rating
DIRECT_BACKBONES     ?= mf lightgcn mixgcf sgl
SEQUENTIAL_BACKBONES ?= sasrec bert4rec cl4srec
RATING_BACKBONES     ?= deepfm nfm dcn afm xdeepfm autoint
ABLATE               ?= lightgcn deepfm sasrec
EXP_MODES            ?= listwise,pointwise
SCALE_LLMS           ?=
SCALE_INSTRUCTIONS   ?=
SCALE_TASK           ?= direct
SCALE_BACKBONE       ?= $(firstword $(DIRECT_BACKBONES))
ROUNDS               ?= 1
KIND                 ?= main
# the data's name in results/ and docs/: the dataset, or e.g. ml-1m-half where RAW is a partial copy
# (../shared/data/raw/ml-1m-partial holds ML-1M's first half), so partial and full data never mix
DATA_NAME            ?= $(DATASET)$(if $(findstring -partial,$(notdir $(RAW))),-half)
# finished cells' small result files (l4r/keep.py) are kept in KEEP and restored from it instead of rerun,
# so the study moves between machines through git; on by default for the default OUT only
KEEP                 ?= $(if $(filter out/$(DATASET),$(OUT)),results/$(DATA_NAME)/exp)
# the report, its figures (PNG, linked relative to the report) and an optional hand-written reading
# (markdown placed after the headline)
REPORT               ?= $(O)/report.md
FIGURES              ?= $(E)/figures
NOTES                ?=

E         := $(O)/exp
SUBMAKE   := $(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST))
SEED_LIST := $(shell seq 0 $$(($(SEEDS) - 1)))
BACKBONES_direct     := $(DIRECT_BACKBONES)
BACKBONES_sequential := $(SEQUENTIAL_BACKBONES)
BACKBONES_rating     := $(RATING_BACKBONES)
MAIN_CELLS  := $(foreach t,$(TASKS),$(foreach b,$(BACKBONES_$(t)),$(foreach s,$(SEED_LIST),$(t)/$(b)/s$(s))))
SCALE_CELLS := $(foreach m,$(SCALE_LLMS),scale-llm/$(subst /,--,$(m))) \
               $(foreach n,$(SCALE_INSTRUCTIONS),scale-ins/n$(n))
CELL_ARGS    = RUN=exp/$(1) TIMINGS=$(E)/$(1)/timings.jsonl SELECT=1 SPLITS=valid,test MODES=$(EXP_MODES)
word_of      = $(word $(1),$(subst /, ,$(2)))
# what a kept cell must have run with to be restored: the top-level settings (scale cells vary theirs by
# name) and whether the cell has the ablation (its backbone in ABLATE), so cells kept by partial runs of
# the study (fewer TASKS, backbones or SEEDS) are restored by the whole one
export L4R_CELL_SETTINGS = LLM=$(LLM) INSTRUCTIONS=$(INSTRUCTIONS) FT_ARGS=$(FT_ARGS) BACKBONE_ARGS=$(BACKBONE_ARGS) \
  AUG_USERS=$(AUG_USERS) AUG_ITEMS=$(AUG_ITEMS) K=$(K) ANSWER=$(ANSWER) PERMUTATIONS=$(PERMUTATIONS) \
  EXP_MODES=$(EXP_MODES) ROUNDS=$(ROUNDS) SCALE_TASK=$(SCALE_TASK) SCALE_BACKBONE=$(SCALE_BACKBONE)
ablated      = $(if $(filter $(call word_of,2,$(1)),$(ABLATE)),1,0)
keep_cell    = $(if $(KEEP),L4R_CELL_ABLATION=$(call ablated,$(1)) $(PY) -m l4r.keep save $(E)/$(1) $(KEEP)/$(1))
KEPT        := $(if $(KEEP),$(patsubst $(KEEP)/%/cell.done,%,$(shell find $(KEEP) -name cell.done 2>/dev/null)))

# the CPU-sized study kept in results/DATA_NAME/exp, its report in docs/report-DATA_NAME.md (figures in
# docs/figures/DATA_NAME, reading from docs/notes-DATA_NAME.md). ML-100K: four backbones, three seeds, each
# backbone's ablations, instruction counts 20 / 40 (the main cells) / 80; BookCrossing and ML-1M: one seed
STUDY_ml-100k      := TASKS="direct sequential rating" DIRECT_BACKBONES="mf lightgcn" SEQUENTIAL_BACKBONES=sasrec \
                      RATING_BACKBONES=deepfm ABLATE="mf lightgcn sasrec deepfm" SEEDS=3 SCALE_INSTRUCTIONS="20 80"
STUDY_bookcrossing := TASKS="direct rating" DIRECT_BACKBONES=mf RATING_BACKBONES=deepfm ABLATE= SEEDS=1
STUDY_ml-1m        := TASKS=direct DIRECT_BACKBONES=mf ABLATE= SEEDS=1
STUDY_DOCS          = $(if $(KEEP),REPORT=docs/report-$(DATA_NAME).md FIGURES=docs/figures/$(DATA_NAME) \
                      NOTES=$(wildcard docs/notes-$(DATA_NAME).md))
.PHONY: study
study:  ## the CPU-sized study (make experiment, STUDY_DATASET settings): restores the cells kept in results/
	$(if $(STUDY_$(DATASET)),,$(error no CPU-sized study for DATASET=$(DATASET); use make experiment))
	+$(MAKE) --no-print-directory experiment DATASET=$(DATASET) $(STUDY_$(DATASET)) $(STUDY_DOCS)

.PHONY: experiment cell
experiment: $(REPORT)  ## the paper's study: every TASKS x backbone x SEEDS cell, ablations, scaling -> report.md
	@echo "wrote $(REPORT)" >&2

# remade on every run (it takes seconds): the Makefile's .SECONDARY makes a missing cell.done an intermediate
# file, which make would not build while an existing report looks newer than the data (`always` prevents that)
.PHONY: always
always:  ## (internal) a prerequisite that is always remade
$(REPORT): $(foreach c,$(MAIN_CELLS) $(SCALE_CELLS),$(E)/$(c)/cell.done) $(NOTES) always
	$(L4R) report --study --dir $(E) --dataset $(DATASET) --figures $(FIGURES) --report-dir $(dir $@) \
	  $(if $(NOTES),--notes $(NOTES)) > $@.tmp
	mv $@.tmp $@

# one main cell: scenario/backbone/s<seed>
define MAIN_RULE
$(E)/$(1)/%/cell.done: $(O)/data/stats.json
	+$$(SUBMAKE) cell $$(call CELL_ARGS,$(1)/$$*) TASK=$(1) BACKBONE=$$(call word_of,1,$$*) \
	  SEED=$$(patsubst s%,%,$$(call word_of,2,$$*)) \
	  ABLATION=$$(call ablated,$(1)/$$*)
	$$(call keep_cell,$(1)/$$*)
	touch $$@
endef
$(foreach t,direct sequential rating,$(eval $(call MAIN_RULE,$(t))))

# scaling cells (Figures 4 and 5): one LLM or one instruction count, the scale backbone, seed 0
$(E)/scale-llm/%/cell.done: $(O)/data/stats.json
	+$(SUBMAKE) cell $(call CELL_ARGS,scale-llm/$*) TASK=$(SCALE_TASK) BACKBONE=$(SCALE_BACKBONE) SEED=0 \
	  LLM=$(subst --,/,$*) KIND=scale-llm ABLATION=0 ROUNDS=1
	$(call keep_cell,scale-llm/$*)
	touch $@
$(E)/scale-ins/n%/cell.done: $(O)/data/stats.json
	+$(SUBMAKE) cell $(call CELL_ARGS,scale-ins/n$*) TASK=$(SCALE_TASK) BACKBONE=$(SCALE_BACKBONE) SEED=0 \
	  INSTRUCTIONS=$* KIND=scale-ins ABLATION=0 ROUNDS=1
	$(call keep_cell,scale-ins/n$*)
	touch $@

# a cell kept in KEEP is restored, not rerun (no data needed)
ifneq ($(KEPT),)
$(KEPT:%=$(E)/%/cell.done): $(E)/%/cell.done: $(KEEP)/%/cell.done
	L4R_CELL_ABLATION=$(call ablated,$*) $(PY) -m l4r.keep restore $(KEEP)/$* $(E)/$*
	touch $@
endif

# ---- inside one cell (B = its folder) ----
ABLATION ?= 0
CELL_METRICS := base ift l4r aug $(if $(filter rating,$(TASK)),ift-greedy l4r-greedy) \
                $(if $(filter 1,$(ABLATION)),noda nopa uniform)
cell: $(B)/cell.json $(foreach m,$(CELL_METRICS),$(B)/metrics-$(m).jsonl)  ## one cell (RUN=exp/...; run by experiment)
ifneq ($(ROUNDS),1)
ifneq ($(TASK),rating)
	+@for r in $$(seq 2 $(ROUNDS)); do \
	  prev=$(RUN); if [ $$r -gt 2 ]; then prev=$(RUN)/round$$((r - 1)); fi; \
	  $(SUBMAKE) round RUN=$(RUN)/round$$r PREV=$$prev TIMINGS=$(TIMINGS) TASK=$(TASK) BACKBONE=$(BACKBONE) \
	    SEED=$(SEED) SELECT=1 SPLITS=$(SPLITS) MODES=$(MODES) ROUNDS=1 || exit 1; \
	done
endif
endif

# what the cell is, for the report (seed, instructions and rounds are numbers)
CELL_JSON = {"kind": "$(KIND)", "task": "$(TASK)", "backbone": "$(BACKBONE)", "seed": $(SEED), "llm": "$(LLM)", \
             "instructions": $(INSTRUCTIONS), "dataset": "$(DATASET)", "rounds": $(ROUNDS)}
$(B)/cell.json:
	@mkdir -p $(B)
	echo '$(CELL_JSON)' > $@

# the augmented backbone alone (what data augmentation buys before the LLM re-ranks): as Base in the
# Makefile, `aggregate ''` reads no completions and --scheme rec writes the backbone's own ranking
$(B)/pred-aug.jsonl: $(AUG_OUT)
	$(L4R) aggregate '' --data $(O)/data $(AGG_AUG) -o $@

# ablations (Table 5), test split, with the setting validation chose for the full model
ifeq ($(TASK),rating)
  PROMPT_NODA := --tasks rating --rating-predictions $(B)/base/predictions.jsonl --embeddings $(B)/base/embeddings.jsonl
  PROMPT_NOPA := --tasks rating --rating-predictions $(B)/aug/predictions.jsonl --no-augment
  AGG_NODA    := --task rating --predictions $(B)/base/predictions.jsonl
else
  PROMPT_NODA := --candidates $(B)/base/candidates.jsonl --embeddings $(B)/base/embeddings.jsonl \
                 --tasks $(MODES) --reachable-only
  PROMPT_NOPA := --candidates $(B)/aug/candidates.jsonl --tasks $(MODES) --reachable-only --no-augment
  AGG_NODA    := --candidates $(B)/base/candidates.jsonl
endif
$(B)/prompts-noda.jsonl: $(BASE_OUT)
	$(T) prompt-noda -- $(L4R) prompt --data $(O)/data $(PROMPT_NODA) --split test --answer $(ANSWER) --seed $(SEED) -o $@
$(B)/prompts-nopa.jsonl: $(AUG_OUT)
	$(T) prompt-nopa -- $(L4R) prompt --data $(O)/data $(PROMPT_NOPA) --split test --answer $(ANSWER) --seed $(SEED) -o $@
$(B)/completions-noda.jsonl: $(B)/prompts-noda.jsonl $(B)/llm-l4r/train_meta.json
	$(T) llm-noda -- $(L4R) llm $< --model $(B)/llm-l4r --backend $(BACKEND) --batch-size $(LLM_BATCH) \
	  --permutations $(PERMUTATIONS) -o $@
$(B)/completions-nopa.jsonl: $(B)/prompts-nopa.jsonl $(B)/llm-ift/train_meta.json
	$(T) llm-nopa -- $(L4R) llm $< --model $(B)/llm-ift --backend $(BACKEND) --batch-size $(LLM_BATCH) \
	  --permutations $(PERMUTATIONS) -o $@
$(B)/pred-noda.jsonl: $(B)/completions-noda.jsonl $(DEP_L4R)
	$(L4R) aggregate $< --data $(O)/data $(AGG_NODA) $(ARGS_L4R) -o $@
$(B)/pred-nopa.jsonl: $(B)/completions-nopa.jsonl $(DEP_L4R)
	$(L4R) aggregate $< --data $(O)/data $(AGG_L4R) $(ARGS_L4R) -o $@
$(B)/pred-uniform.jsonl: $(B)/completions-l4r.jsonl $(DEP_L4R)
	$(L4R) aggregate $< --data $(O)/data $(AGG_L4R) $(ARGS_L4R) --scheme uniform -o $@

# rating: the LLM's answer read as its greedy digit instead of the expected rating
$(B)/pred-ift-greedy.jsonl: $(B)/completions-ift.jsonl
	$(L4R) aggregate $< --data $(O)/data $(AGG_IFT) --use rating -o $@
$(B)/pred-l4r-greedy.jsonl: $(B)/completions-l4r.jsonl $(DEP_L4R)
	$(L4R) aggregate $< --data $(O)/data $(AGG_L4R) $(ARGS_L4R) --use rating -o $@

# ---- one round of iterative mutual augmentation (ROUNDS > 1; beyond the paper) ----
# `make cell` runs rounds 2..ROUNDS after the cell itself: each a sub-make `round` with RUN=<cell>/round<r> and
# PREV=the run before it (the cell, or round r-1). Round r's "base" is round r-1's augmented backbone: its
# candidates and embeddings feed round r's instructions and prompts; the new LLM's triples join the earlier
# rounds' (direct) or its sequences replace them (sequential); the backbone is retrained on them. The rules
# below are explicit, so they take the place of the Makefile's pattern rules for Base and the augmentation.
ifdef PREV
.PHONY: round
round: $(B)/metrics-l4r.jsonl $(B)/metrics-aug.jsonl $(B)/metrics-base.jsonl  ## one later round (run by cell)

$(B)/base/candidates.jsonl:
	mkdir -p $(B) && ln -sfn $(abspath $(O)/$(PREV)/aug) $(B)/base
 ifeq ($(TASK),direct)
$(AUG_FILE): $(B)/new-triples.jsonl
	cat $(O)/$(PREV)/triples.jsonl $< > $@.tmp && mv $@.tmp $@
$(B)/new-triples.jsonl: $(AUG_DEP)
	$(AUGMENT)
 endif
endif
