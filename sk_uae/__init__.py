"""sk_uae: adversarial examples as data augmentation, the scikit-learn way.

Public entry points: :class:`UAEGenerator` (a transformer that returns
adversarial examples of a fitted model), :class:`UAEAugmenter` (fit,
attack, retrain on the union) and :class:`UAESampler` (the same as an
imbalanced-learn sampler), :class:`FeatureConstraints` (columns the
examples must keep); the attacks in :mod:`sk_uae.attacks`, the
batched per-sample MINE in :mod:`sk_uae.mine`, the skorch models in
:mod:`sk_uae.models` and local loaders in :mod:`sk_uae.datasets`.
"""

from ._augmenter import UAEAugmenter
from ._generator import UAEGenerator
from ._sampler import UAESampler
from .constraints import FeatureConstraints
from .utils._versions import __version__

__all__ = ["FeatureConstraints", "UAEAugmenter", "UAEGenerator", "UAESampler", "__version__"]
