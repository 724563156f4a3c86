"""UAEAugmenter: fit, attack, retrain on the union -- as one meta-estimator."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, check_consistent_length, validate_data

from ._generator import UAEGenerator, fit_clone
from .attacks import BaseAttack
from .utils import seed_from_random_state
from .utils._torch import PRECISIONS


def _estimator_has(attr):
    def check(self):
        est = getattr(self, "estimator_", None)
        if est is None:
            est = self.estimator
        if est is None:  # the default AutoencoderNet
            return attr in ("predict", "transform", "score")
        return hasattr(est, attr)

    return check


def make_uaes(estimator, attack, X, y, *, ratio, batch_size, device, seed, verbose, n_jobs=None,
              precision="float32"):
    """Fit ``estimator`` on ``(X, y)`` and attack a ``ratio`` of the rows.

    Shared by :class:`UAEAugmenter` and :class:`~sk_uae.UAESampler`.
    ``n_jobs`` goes to the :class:`UAEGenerator` (parallel attack).

    Returns
    -------
    generator : fitted UAEGenerator (its ``estimator_`` is the first model)
    indices : ndarray of int, the attacked rows (sorted)
    X_adv : ndarray, their adversarial examples
    info : dict of per-sample arrays (see :meth:`UAEGenerator.generate`)
    """
    gen = UAEGenerator(estimator, attack, batch_size=batch_size, device=device,
                       random_state=seed, verbose=verbose, n_jobs=n_jobs, precision=precision)
    gen.fit(X, y)
    n = X.shape[0]
    n_aug = int(round(ratio * n))
    rng = check_random_state(seed)
    indices = np.sort(rng.choice(n, size=n_aug, replace=False)) if n_aug < n else np.arange(n)
    X_adv, info = gen.generate(X[indices], None if y is None else y[indices])
    return gen, indices, X_adv, info


# auto_wrap_output_keys=None: set_output's wrapper would replace the
# available_if descriptor of transform, so that hasattr(aug, "transform") held
# even around a classifier, which has none
class UAEAugmenter(MetaEstimatorMixin, TransformerMixin, BaseEstimator,
                   auto_wrap_output_keys=None):
    """Adversarial augmentation as a meta-estimator: fit, attack, retrain.

    ``fit`` trains ``estimator`` on ``X``, makes one adversarial example for
    a ``ratio`` of the training rows with ``attack`` (by default the paper's
    unsupervised MinMax MINE attack), then trains the final model on the
    union of ``X`` and those examples (labels copied when ``y`` is given).
    ``transform``, ``predict``, ``predict_proba`` and ``score`` delegate to
    that final model, so the augmenter slots into a ``Pipeline`` where the
    model would.

    Parameters
    ----------
    estimator : skorch-style net, default=None
        The model to fit, attack and retrain (cloned, never fitted in place);
        it must expose its torch module as ``module_`` once fitted. ``None``
        means ``AutoencoderNet()``.
    attack : BaseAttack, default=None
        The attack that makes the adversarial examples; ``None`` means
        ``MinMaxMINE()``. Its parameters are reachable as ``attack__<name>``.
    ratio : float in [0, 1], default=1.0
        Fraction of the training rows that get an adversarial example
        (1.0 doubles the training set, as in the paper; 0 trains on ``X``
        alone).
    retrain : {"scratch", "continue"}, default="scratch"
        Train the final model anew on the union, or continue training the
        first model on it (needs ``partial_fit``).
    batch_size : int, default=64
        Rows attacked together (results do not depend on it).
    device : str or torch.device, default="cpu"
        Where the attack runs: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or
        ``"auto"`` (CUDA when available). The models train on their own
        ``device`` parameter.
    random_state : int, RandomState or None, default=None
        Seeds both trainings, the choice of attacked rows and the attack.
        An int makes ``fit`` repeatable; ``None`` draws a fresh seed at every
        ``fit``.
    verbose : int, default=0
        Verbosity of the attack (passed to :class:`UAEGenerator`): ``>= 1``
        shows a progress bar over the attacked batches (sequential runs
        only), ``>= 2`` also logs every MinMax iteration to the ``"sk_uae"``
        logger. The models' own output is controlled by their ``verbose``.
    n_jobs : int or None, default=None
        Parallel workers of the attack (see :class:`UAEGenerator`); results
        do not depend on it.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Precision of the model's forward and backward passes during the
        attack (see :class:`~sk_uae.UAEGenerator`); training is unaffected.

    Attributes
    ----------
    estimator_ : estimator
        The final (retrained) model.
    generator_ : UAEGenerator or None
        The generator, whose ``estimator_`` is the first model (``None`` at
        ``ratio=0``, where the model is fitted once on ``X``).
    augment_indices_ : ndarray of int
        Training rows that were attacked.
    uae_info_ : dict of ndarray
        Per-example statistics of the attack (``success``, ``mi``, ``loss``,
        ``distortion_linf``, ``distortion_l2``).
    uae_success_rate_ : float
    n_train_samples_ : int
        Rows the final model was trained on.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae import UAEAugmenter
    >>> from sk_uae.attacks import MinMaxMINE
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(60, 16).astype("float32")
    >>> aug = UAEAugmenter(AutoencoderNet(max_epochs=2), MinMaxMINE(max_iter=3),
    ...                    random_state=0).fit(X)
    >>> aug.n_train_samples_, aug.transform(X).shape
    (120, (60, 128))
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "attack": [BaseAttack, None],
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "retrain": [StrOptions({"scratch", "continue"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, object],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
        "precision": [StrOptions(set(PRECISIONS))],
    }

    def __init__(self, estimator=None, attack=None, *, ratio=1.0, retrain="scratch",
                 batch_size=64, device="cpu", random_state=None, verbose=0, n_jobs=None,
                 precision="float32"):
        self.estimator = estimator
        self.attack = attack
        self.ratio = ratio
        self.retrain = retrain
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.precision = precision

    def fit(self, X, y=None):
        """Fit, attack ``ratio`` of the rows, retrain on the union.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (float32 or float64; the models train on float32).
        y : array-like of shape (n_samples,), default=None
            Labels for supervised models; copied to the adversarial rows.

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_data(self, X, dtype=(np.float32, np.float64))
        if y is not None:
            y = np.asarray(y)
            check_consistent_length(X, y)
        if self.retrain == "continue" and self.estimator is not None and not hasattr(
                self.estimator, "partial_fit"):
            raise ValueError(
                "retrain='continue' needs an estimator with partial_fit; "
                f"{type(self.estimator).__name__} has none. Use retrain='scratch'."
            )
        seed = seed_from_random_state(self.random_state)
        if self.ratio == 0:  # no augmentation: one fit on X
            self.estimator_ = fit_clone(self.estimator, X, y, seed + 1)
            self.generator_ = None
            self.augment_indices_ = np.empty(0, dtype=np.int64)
            self.uae_info_ = {}
            self.uae_success_rate_ = 0.0
            self.n_train_samples_ = int(X.shape[0])
            return self
        gen, idx, X_adv, info = make_uaes(
            self.estimator, self.attack, X, y, ratio=self.ratio, batch_size=self.batch_size,
            device=self.device, seed=seed, verbose=self.verbose, n_jobs=self.n_jobs,
            precision=self.precision)
        X_all = np.vstack([X, X_adv.astype(X.dtype)]).astype(np.float32)
        y_all = None if y is None else np.concatenate([y, y[idx]])
        if self.retrain == "scratch":
            final = fit_clone(self.estimator, X_all, y_all, seed + 1)
        else:
            final = gen.estimator_  # the first model trains on; generator_ shares it
            final.partial_fit(X_all) if y_all is None else final.partial_fit(X_all, y_all)
        self.estimator_ = final
        self.generator_ = gen
        self.augment_indices_ = idx
        self.uae_info_ = info
        self.uae_success_rate_ = float(np.mean(info["success"])) if len(idx) else 0.0
        self.n_train_samples_ = int(X_all.shape[0])
        return self

    def _final(self, X):
        check_is_fitted(self, "estimator_")
        return validate_data(self, X, reset=False, dtype=(np.float32, np.float64)).astype(
            np.float32, copy=False)

    @available_if(_estimator_has("transform"))
    def transform(self, X):
        """``transform`` of the retrained model (e.g. autoencoder codes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input rows, with the columns seen in ``fit``; cast to float32.

        Returns
        -------
        ndarray
            What the final model's ``transform`` returns.
        """
        X = self._final(X)
        return self.estimator_.transform(X)

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """``predict`` of the retrained model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input rows, with the columns seen in ``fit``; cast to float32.

        Returns
        -------
        ndarray
            What the final model's ``predict`` returns (labels for a
            classifier, reconstructions for an autoencoder).
        """
        X = self._final(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """``predict_proba`` of the retrained model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input rows, with the columns seen in ``fit``; cast to float32.

        Returns
        -------
        ndarray
            What the final model's ``predict_proba`` returns.
        """
        X = self._final(X)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y=None):
        """``score`` of the retrained model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input rows, with the columns seen in ``fit``; cast to float32.
        y : array-like of shape (n_samples,), default=None
            True labels, passed on when given (classifiers need them;
            autoencoders are scored on ``X`` alone).

        Returns
        -------
        float
            The final model's score (accuracy for a classifier, negative
            reconstruction MSE for an ``AutoencoderNet``).
        """
        X = self._final(X)
        return self.estimator_.score(X) if y is None else self.estimator_.score(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = not isinstance(self.random_state, (int, np.integer))
        tags.input_tags.allow_nan = False
        if self.estimator is not None:
            from sklearn.utils import get_tags

            inner = get_tags(self.estimator)
            tags.estimator_type = inner.estimator_type
            tags.target_tags.required = inner.target_tags.required
            if inner.transformer_tags is not None and tags.transformer_tags is not None:
                tags.transformer_tags.preserves_dtype = inner.transformer_tags.preserves_dtype
        else:
            tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
