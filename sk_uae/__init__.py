"""sk_uae: adversarial examples as data augmentation, the scikit-learn way.

Public entry points: :class:`UAEGenerator` (a transformer that returns
adversarial examples of a fitted model), :class:`UAEAugmenter` (fit,
attack, retrain on the union) and :class:`UAESampler` (the same as an
imbalanced-learn sampler), :class:`FeatureConstraints` (columns the
examples must keep); the attacks in :mod:`sk_uae.attacks`, the
batched per-sample MINE in :mod:`sk_uae.mine`, the skorch models in
:mod:`sk_uae.models` and local loaders in :mod:`sk_uae.datasets`.
"""

import importlib

# imported on first use, so that ``sk-uae --help`` answers without loading torch
_PUBLIC = {"UAEAugmenter": "._augmenter", "UAEGenerator": "._generator",
           "UAESampler": "._sampler", "FeatureConstraints": ".constraints",
           "__version__": ".utils._versions"}

__all__ = ["FeatureConstraints", "UAEAugmenter", "UAEGenerator", "UAESampler", "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sk_uae' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
