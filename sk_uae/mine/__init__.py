"""Batched per-sample mutual-information neural estimation (MINE).

The UAE attack estimates, for every sample ``x`` separately, the mutual
information between ``x`` and its perturbed copy ``x'``. One sample gives one
set of ``K`` *pairs* (``K`` views of ``x`` beside the same ``K`` views of
``x'``); a small *statistics network* ``T`` is trained on those pairs to
maximise the Donsker-Varadhan lower bound

.. math:: I(x; x') \\ge \\frac1K\\sum_k T(a_k, b_k) - \\log\\frac1K\\sum_k e^{T(a_k, b_{\\pi(k)})}

where ``pi`` shuffles the pair index to form the marginal samples.

This module holds the pure-torch pieces, batched over samples: ``B``
independent statistics networks live in one flat parameter tensor of shape
``(B, P)`` and are trained together with one hand-written Adam update, so
there is no Python loop over samples. Nothing here knows about
scikit-learn.

Pair builders turn a batch ``(B, d)`` into pairs ``(B, K, p)``:

* :class:`RandomProjectionPairs` -- ``K`` Gaussian projections to ``p``
  dimensions, each projected vector standardised; works for any input.
* :class:`FeaturePairs` -- the channels (or units) of the attacked model's
  first layer, as in the reference code's ``conv`` mode.

The networks come in three engines with one interface
(:class:`~sk_uae.mine._base.MINENetworks`): :class:`StatisticsNetworks`
(autograd, the reference), :class:`FusedStatisticsNetworks` (written-out
gradients in torch) and the same networks' compiled step; ``mine_backend``
names one, and :mod:`sk_uae.mine._engines` resolves the name and builds the
networks from a ``MINEOptions``.
"""

from ._estimate import estimate_mi
from ._fused import FusedStatisticsNetworks
from ._networks import StatisticsNetworks, dv_lower_bound
from ._pairs import FeaturePairs, RandomProjectionPairs

__all__ = [
    "dv_lower_bound",
    "StatisticsNetworks",
    "FusedStatisticsNetworks",
    "RandomProjectionPairs",
    "FeaturePairs",
    "estimate_mi",
]
