"""UAESampler: adversarial examples as an imbalanced-learn sampler."""

import numpy as np
from imblearn.base import BaseSampler
from sklearn.utils.validation import check_array

from ._base import SHARED_DOCS
from ._generator import _BaseAugment
from .utils import seed_from_random_state
from .utils._docstring import fill_doc


@fill_doc(**SHARED_DOCS)
class UAESampler(_BaseAugment, BaseSampler):
    """Imbalanced-learn sampler that appends adversarial examples.

    ``fit_resample(X, y)`` fits ``estimator``, makes an adversarial example
    for a ``ratio`` of the rows with ``attack``, and returns the original
    rows followed by those examples, labels copied. Use it in an
    :class:`imblearn.pipeline.Pipeline` to augment only at fit time (the
    sampler is skipped at predict time). Like every imblearn sampler it has
    no ``transform``.

    Parameters
    ----------
    %(estimator)s
    %(attack)s
    %(ratio)s
    %(run)s
    %(memory)s

    Attributes
    ----------
    generator_ : UAEGenerator
        The fitted generator (its ``estimator_`` is the attacked model).
    augment_indices_ : ndarray of int
    uae_info_ : dict of ndarray
    sampling_strategy_ : str
        Always ``"bypass"``-style: classes are not rebalanced.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae import UAESampler
    >>> from sk_uae.attacks import MinMaxMINE
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(40, 8).astype("float32")
    >>> y = np.arange(40) % 2
    >>> Xr, yr = UAESampler(AutoencoderNet(max_epochs=1), MinMaxMINE(max_iter=2),
    ...                     ratio=0.5, random_state=0).fit_resample(X, y)
    >>> Xr.shape, yr.shape
    ((60, 8), (60,))
    """

    _sampling_type = "bypass"
    sampling_strategy = "auto"  # imblearn reads it; classes are never rebalanced

    def __init__(self, estimator=None, attack=None, *, ratio=1.0, batch_size=64, device="cpu",
                 random_state=None, verbose=0, n_jobs=None, precision="float32",
                 memory=None):
        super().__init__(estimator, attack, batch_size=batch_size, device=device,
                         random_state=random_state, verbose=verbose, n_jobs=n_jobs,
                         precision=precision, memory=memory)
        self.ratio = ratio

    def _check_X_y(self, X, y, accept_sparse=None):
        X, y, binarize_y = super()._check_X_y(X, y, accept_sparse=False)
        # imblearn has validated X (and recorded feature names); only fix the dtype
        X = check_array(X, dtype=(np.float32, np.float64))
        return X, y, binarize_y

    def _fit_resample(self, X, y):
        self._check_shared()
        gen, idx, X_adv, info = self._make_uaes(X, y, seed_from_random_state(self.random_state))
        self.generator_ = gen
        self.augment_indices_ = idx
        self.uae_info_ = info
        X_res = np.vstack([X, X_adv.astype(X.dtype, copy=False)])
        return X_res, np.concatenate([y, y[idx]])
