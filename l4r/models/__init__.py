"""Conventional recommenders, one file each. `MODELS` maps a name to (module, class, family).

Top-k families share l4r.models.topk (sampling, training, early stopping, ranking);
rating models share l4r.models.rating.
"""
PATIENCE = 20  # 10 stopped SASRec, MF and LightGCN on plateaus (docs/backbones.md, "Patience")
RMSE_MIN_GAIN = 1e-5  # a new best validation RMSE is lower by more than this


class EarlyStopping:
    """The one early-stopping rule of every model (docs/backbones.md), also replayed by
    benchmarks/patience.py: a new best is strictly better (higher; or lower by more than `min_gain`),
    so a tie keeps the earlier evaluation, and training stops after `patience` evaluations in a row
    without a new best."""

    def __init__(self, patience: int = PATIENCE, higher: bool = True, min_gain: float = 0.0):
        self.patience, self.higher, self.min_gain = patience, higher, min_gain
        self.best, self.best_epoch, self.bad = None, 0, 0

    def update(self, epoch: int, value: float) -> bool:
        """Record one evaluation; True when it is a new best."""
        if self.best is None or (value > self.best + self.min_gain if self.higher
                                 else value < self.best - self.min_gain):
            self.best, self.best_epoch, self.bad = value, epoch, 0
            return True
        self.bad += 1
        return False

    @property
    def stop(self) -> bool:
        return self.bad >= self.patience


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
