"""UAESampler: adversarial examples as an imbalanced-learn sampler."""

from collections.abc import Mapping
from numbers import Real

import numpy as np
from imblearn.base import BaseSampler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array

from ._base import SHARED_DOCS
from ._generator import _BaseAugment
from .utils import seed_from_random_state
from .utils._docstring import fill_doc


@fill_doc(**SHARED_DOCS)
class UAESampler(_BaseAugment, BaseSampler):
    """Imbalanced-learn sampler that appends adversarial examples.

    ``fit_resample(X, y)`` fits ``estimator``, makes adversarial examples of
    some of the rows with ``attack``, and returns the original rows followed
    by those examples, labels copied. Which rows are attacked depends on
    ``sampling_strategy``:

    * ``None`` (the default, "ratio mode"): one example for a ``ratio`` of
      all the rows, drawn at random; every class grows by about ``ratio``
      (1.0 doubles the data, as in the paper), the class balance is kept.
    * anything else: imbalanced-learn's over-sampling meaning, as in
      :class:`imblearn.over_sampling.RandomOverSampler`: the classes are
      brought to the counts ``sampling_strategy`` asks for, with
      adversarial examples of rows of the same class in place of copies.

    Use it in an :class:`imblearn.pipeline.Pipeline` to augment only at fit
    time (the sampler is skipped at predict time). Like every imblearn
    sampler it has no ``transform``.

    Parameters
    ----------
    %(estimator)s
    %(attack)s
    sampling_strategy : float, str, dict, callable or None, default=None
        ``None`` appends examples of a ``ratio`` of the rows, whatever their
        class. Otherwise the number of examples per class, with the meaning
        of imbalanced-learn's over-samplers (resolved by
        :func:`imblearn.utils.check_sampling_strategy` into
        ``sampling_strategy_``):

        - ``"auto"`` or ``"not majority"``: every class but the majority
          up to the majority's count; ``"minority"``: the minority class
          only; ``"not minority"``: every class but the minority;
          ``"all"``: every class;
        - a float in (0, 1], binary problems only: the minority class up to
          that fraction of the majority's count;
        - a dict ``{class: count}``: the count each class must reach;
        - a callable ``f(y)`` returning such a dict.

        The default differs from imbalanced-learn's ``"auto"``: the
        sampler's first use is the paper's augmentation of every class;
        pass ``"auto"`` to rebalance. The rows of a class are attacked in
        turn, each ``q`` or ``q + 1`` times when ``n_new = q * n_class +
        r`` (the ``r`` rows attacked once more drawn at random); a row's
        ``k``-th example uses a seed derived from ``random_state`` and
        ``k``, so that repeats give different examples (and the results do
        not depend on ``batch_size`` or ``n_jobs``).
    ratio : float in [0, 1], default=1.0
        Ratio mode only (``sampling_strategy=None``; ignored otherwise):
        fraction of the rows that get an adversarial example (chosen at
        random); 1.0 doubles the data, as in the paper, and 0 adds none.
    %(run)s
    %(constraints)s
    %(memory)s

    Attributes
    ----------
    generator_ : UAEGenerator
        The fitted generator (its ``estimator_`` is the attacked model).
    augment_indices_ : ndarray of int
        The training row of every appended example, in the order of the
        output; a row attacked several times appears as often. In ratio
        mode sorted; otherwise class by class (in the order of
        ``sampling_strategy_``), each class repeat by repeat, each repeat
        sorted.
    uae_info_ : dict of ndarray
        Per-example statistics of the attack (``success``, ``mi``, ``loss``,
        ``distortion_linf``, ``distortion_l2``), aligned with
        ``augment_indices_``.
    sampling_strategy_ : dict
        Number of examples appended per class (``{class: n_new}``), as
        imbalanced-learn's over-samplers have it; in ratio mode it counts
        the classes of the attacked rows.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names (e.g. a pandas DataFrame).

    See Also
    --------
    imblearn.over_sampling.RandomOverSampler : the same class counts, with copies.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae import UAESampler
    >>> from sk_uae.attacks import MinMaxMINE
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(40, 8).astype("float32")
    >>> y = (np.arange(40) % 4 == 0).astype(int)
    >>> Xr, yr = UAESampler(AutoencoderNet(max_epochs=1), MinMaxMINE(max_iter=2),
    ...                     ratio=0.5, random_state=0).fit_resample(X, y)
    >>> Xr.shape
    (60, 8)
    >>> sampler = UAESampler(AutoencoderNet(max_epochs=1), MinMaxMINE(max_iter=2),
    ...                      sampling_strategy="auto", random_state=0)
    >>> Xr, yr = sampler.fit_resample(X, y)
    >>> np.bincount(yr).tolist(), len(sampler.augment_indices_)
    ([30, 30], 20)
    """

    _parameter_constraints = {
        **_BaseAugment._parameter_constraints,
        "sampling_strategy": [
            Interval(Real, 0, 1, closed="right"),
            StrOptions({"auto", "minority", "not minority", "not majority", "all"}),
            Mapping, callable, None],
    }

    def __init__(self, estimator=None, attack=None, *, sampling_strategy=None, ratio=1.0,
                 batch_size=64, device="cpu", random_state=None, verbose=0, n_jobs=None,
                 precision="float32", constraints=None, memory=None):
        super().__init__(estimator, attack, batch_size=batch_size, device=device,
                         random_state=random_state, verbose=verbose, n_jobs=n_jobs,
                         precision=precision, constraints=constraints, memory=memory)
        self.sampling_strategy = sampling_strategy
        self.ratio = ratio

    @property
    def _sampling_type(self):
        # imblearn resolves sampling_strategy_ through it (fit_resample, and
        # BalancedBagging's own sampling_strategy); ratio mode has nothing to
        # resolve and keeps the class balance
        return "bypass" if self.sampling_strategy is None else "over-sampling"

    def _check_X_y(self, X, y, accept_sparse=None):
        X, y, binarize_y = super()._check_X_y(X, y, accept_sparse=False)
        # imblearn has validated X (and recorded feature names); only fix the dtype
        X = check_array(X, dtype=(np.float32, np.float64))
        return X, y, binarize_y

    def _fit_resample(self, X, y):
        self._check_shared()
        seed = seed_from_random_state(self.random_state)
        if self.sampling_strategy is None:
            gen, idx, X_adv, info = self._make_uaes(X, y, seed)
            classes, counts = np.unique(y[idx], return_counts=True)
            self.sampling_strategy_ = dict(zip(classes, counts))
        else:
            gen, idx, X_adv, info = self._make_class_uaes(X, y, seed)
        self.generator_ = gen
        self.augment_indices_ = idx
        self.uae_info_ = info
        X_res = np.vstack([X, X_adv.astype(X.dtype, copy=False)])
        return X_res, np.concatenate([y, y[idx]])

    def _make_class_uaes(self, X, y, seed):
        """The examples ``sampling_strategy_`` asks for, each repeat of a row with its own seed."""
        gen = self._fit_generator(X, y, seed)
        idx, repeat = _draw_rows(y, self.sampling_strategy_, check_random_state(seed))
        X_adv = np.empty((idx.size, X.shape[1]), dtype=X.dtype)
        info = {}
        # a row's example depends on the seed and the row only: the k-th
        # repeats of all classes are attacked together, with the k-th seed
        for k in range(repeat.max() + 1 if idx.size else 0):
            pos = np.flatnonzero(repeat == k)
            X_k, info_k = gen._perturb(gen.estimator_, gen.attack_, X[idx[pos]], y[idx[pos]],
                                        _repeat_seed(seed, k))
            X_adv[pos] = X_k
            for name, values in info_k.items():
                info.setdefault(name, np.empty((idx.size,) + values.shape[1:],
                                               values.dtype))[pos] = values
        return gen, idx, X_adv, info


def _draw_rows(y, n_new, rng):
    """Rows to attack for ``n_new = {class: count}`` and the repeat number of each.

    A class of ``n`` rows that needs ``q * n + r`` examples has every row
    attacked ``q`` times and ``r`` rows, drawn without replacement, once
    more: the examples are spread over the rows as evenly as possible.
    """
    idx, repeat = [np.empty(0, np.intp)], [np.empty(0, np.intp)]
    for cls, count in n_new.items():
        rows = np.flatnonzero(y == cls)
        n_full, rest = divmod(int(count), rows.size)
        extra = np.sort(rng.choice(rows, size=rest, replace=False))
        idx += [rows] * n_full + [extra]
        repeat += [np.full(rows.size, k) for k in range(n_full)] + [np.full(rest, n_full)]
    return np.concatenate(idx).astype(np.intp), np.concatenate(repeat).astype(np.intp)


def _repeat_seed(seed, k):
    """The seed of a row's ``k``-th example: ``seed`` itself first (as in ratio mode)."""
    if k == 0:
        return seed
    return seed_from_random_state(int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
