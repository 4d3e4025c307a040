"""Conventional recommenders, one file each. `MODELS` maps a name to (module, class, family).

Top-k families share l4r.models.topk (sampling, training, early stopping, ranking);
rating models share l4r.models.rating.
"""
# early stopping, one rule for every model (docs/backbones.md): training stops after PATIENCE validation
# evaluations in a row without a new best (top-k: higher NDCG@10; rating: RMSE lower by more than 1e-5)
PATIENCE = 20  # 10 stopped SASRec, MF and LightGCN on plateaus (docs/backbones.md, "Patience")

MODELS = {
    "mf": ("l4r.models.mf", "MF", "direct"),
    "lightgcn": ("l4r.models.lightgcn", "LightGCN", "direct"),
    "mixgcf": ("l4r.models.mixgcf", "MixGCF", "direct"),
    "sgl": ("l4r.models.sgl", "SGL", "direct"),
    "sasrec": ("l4r.models.sasrec", "SASRec", "sequential"),
    "bert4rec": ("l4r.models.bert4rec", "BERT4Rec", "sequential"),
    "cl4srec": ("l4r.models.cl4srec", "CL4SRec", "sequential"),
    "deepfm": ("l4r.models.deepfm", "DeepFM", "rating"),
    "nfm": ("l4r.models.nfm", "NFM", "rating"),
    "dcn": ("l4r.models.dcn", "DCN", "rating"),
    "afm": ("l4r.models.afm", "AFM", "rating"),
    "xdeepfm": ("l4r.models.xdeepfm", "XDeepFM", "rating"),
    "autoint": ("l4r.models.autoint", "AutoInt", "rating"),
}


def load_class(name: str):
    import importlib

    from ..errors import UsageError

    if name not in MODELS:
        raise UsageError(f"unknown backbone {name!r}; known: {', '.join(sorted(MODELS))}")
    module, cls, _ = MODELS[name]
    return getattr(importlib.import_module(module), cls)


def family(name: str) -> str:
    from ..errors import UsageError

    if name not in MODELS:
        raise UsageError(f"unknown backbone {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name][2]
