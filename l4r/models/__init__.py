"""Conventional recommenders, one file each. `MODELS` maps a name to (module, class, family).

Top-k families share l4r.models.topk (sampling, training, early stopping, ranking);
rating models share l4r.models.rating.
"""
MODELS = {
    "mf": ("l4r.models.mf", "MF", "direct"),
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
