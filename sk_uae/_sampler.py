"""UAESampler: adversarial examples as an imbalanced-learn sampler."""

from numbers import Integral, Real

import numpy as np
from imblearn.base import BaseSampler
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array

from ._augmenter import make_uaes
from .attacks import BaseAttack
from .utils import seed_from_random_state
from .utils._torch import PRECISIONS


class UAESampler(BaseSampler):
    """Imbalanced-learn sampler that appends adversarial examples.

    ``fit_resample(X, y)`` fits ``estimator``, makes an adversarial example
    for a ``ratio`` of the rows with ``attack``, and returns the original
    rows followed by those examples, labels copied. Use it in an
    :class:`imblearn.pipeline.Pipeline` to augment only at fit time (the
    sampler is skipped at predict time). Like every imblearn sampler it has
    no ``transform``.

    Parameters
    ----------
    estimator : skorch-style net, default=None
        The model that is fitted (a clone) and attacked; it must expose its
        torch module as ``module_`` once fitted. ``None`` means
        ``AutoencoderNet()``.
    attack : BaseAttack, default=None
        The attack that makes the adversarial examples; ``None`` means
        ``MinMaxMINE()``. Its parameters are reachable as ``attack__<name>``.
    ratio : float in [0, 1], default=1.0
        Fraction of the rows that get an adversarial example (chosen at
        random); 1.0 doubles the data, 0 returns them unchanged.
    batch_size : int, default=64
        Rows attacked together (results do not depend on it).
    device : str or torch.device, default="cpu"
        Where the attack runs: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or
        ``"auto"`` (CUDA when available).
    random_state : int, RandomState or None, default=None
        Seeds the model's training, the choice of attacked rows and every draw
        of the attack; an int makes ``fit_resample`` repeatable.
    verbose : int, default=0
        Verbosity of the attack (see :class:`~sk_uae.UAEGenerator`): ``>= 1``
        shows a progress bar over the attacked batches (sequential runs
        only), ``>= 2`` also logs every MinMax iteration to the ``"sk_uae"``
        logger.
    n_jobs : int or None, default=None
        Parallel workers of the attack (see :class:`~sk_uae.UAEGenerator`);
        results do not depend on it.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Precision of the model's forward and backward passes during the
        attack (see :class:`~sk_uae.UAEGenerator`); training is unaffected.

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

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "attack": [BaseAttack, None],
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, object],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
        "precision": [StrOptions(set(PRECISIONS))],
    }

    def __init__(self, estimator=None, attack=None, *, ratio=1.0, batch_size=64, device="cpu",
                 random_state=None, verbose=0, n_jobs=None,
                 precision="float32"):
        super().__init__()
        self.estimator = estimator
        self.attack = attack
        self.ratio = ratio
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.precision = precision

    def _check_X_y(self, X, y, accept_sparse=None):
        X, y, binarize_y = super()._check_X_y(X, y, accept_sparse=False)
        # imblearn has validated X (and recorded feature names); only fix the dtype
        X = check_array(X, dtype=(np.float32, np.float64))
        return X, y, binarize_y

    def _fit_resample(self, X, y):
        seed = seed_from_random_state(self.random_state)
        gen, idx, X_adv, info = make_uaes(
            self.estimator, self.attack, X, y, ratio=self.ratio, batch_size=self.batch_size,
            device=self.device, seed=seed, verbose=self.verbose, n_jobs=self.n_jobs,
            precision=self.precision)
        self.generator_ = gen
        self.augment_indices_ = idx
        self.uae_info_ = info
        X_res = np.vstack([X, X_adv.astype(X.dtype, copy=False)])
        return X_res, np.concatenate([y, y[idx]])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = not isinstance(self.random_state, (int, np.integer))
        return tags
