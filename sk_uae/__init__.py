"""sk_uae: adversarial examples as data augmentation, the scikit-learn way.

Public entry points: :class:`UAEGenerator` (a transformer that returns
adversarial examples of a fitted model), :class:`UAEAugmenter` (fit,
attack, retrain on the union) and :class:`UAESampler` (the same as an
imbalanced-learn sampler), :class:`FeatureConstraints` (columns the
examples must keep), :class:`AdversarialTraining` (a skorch callback that
trains on examples made against the net as it trains); the attacks in :mod:`sk_uae.attacks`, the
batched per-sample MINE in :mod:`sk_uae.mine`, the skorch models in
:mod:`sk_uae.models` and local loaders in :mod:`sk_uae.datasets`.
"""

from .utils._lazy import lazy_getattr

# imported on first use, so that ``sk-uae --help`` answers without loading torch
_PUBLIC = {"UAEAugmenter": "._augmenter", "UAEGenerator": "._generator",
           "UAESampler": "._sampler", "FeatureConstraints": ".constraints",
           "AdversarialTraining": ".callbacks", "__version__": ".utils._versions"}

__all__ = ["AdversarialTraining", "FeatureConstraints", "UAEAugmenter", "UAEGenerator",
           "UAESampler", "__version__"]


__getattr__ = lazy_getattr(__name__, _PUBLIC)


def __dir__():
    return sorted(set(globals()) | set(__all__))
