"""UAEAugmenter: fit, attack, retrain on the union -- as one meta-estimator."""

from numbers import Integral

import numpy as np
from sklearn.base import (ClassNamePrefixFeaturesOutMixin, MetaEstimatorMixin, TransformerMixin,
                          _fit_context)
from sklearn.frozen import FrozenEstimator
from sklearn.utils import get_tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _wrap_data_with_container
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from ._base import SHARED_DOCS
from ._generator import _BaseAugment
from .utils import seed_from_random_state
from .utils._docstring import X_ROWS_DOC, fill_doc
from .utils._torch import one_torch_thread

RETRAIN_MODES = ("scratch", "continue")
_MAX_SEED = 2**31 - 1


def _estimator_has(attr):
    def check(self):
        est = getattr(self, "estimator_", None)
        if est is None:
            est = self.estimator
        if est is None:  # the default AutoencoderNet
            return attr in ("predict", "transform", "score")
        return hasattr(est, attr)

    return check


# auto_wrap_output_keys=None: set_output's wrapper would replace the
# available_if descriptor of transform, so that hasattr(aug, "transform") held
# even around a classifier, which has none; transform wraps its own output
@fill_doc(**SHARED_DOCS)
class UAEAugmenter(MetaEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                   _BaseAugment, auto_wrap_output_keys=None):
    """Adversarial augmentation as a meta-estimator: fit, attack, retrain.

    ``fit`` trains ``estimator`` on ``X``, makes one adversarial example for
    a ``ratio`` of the training rows with ``attack`` (by default the paper's
    unsupervised MinMax MINE attack), then trains the final model on the
    union of ``X`` and those examples (labels copied when ``y`` is given).
    ``transform``, ``predict``, ``predict_proba`` and ``score`` delegate to
    that final model, so the augmenter slots into a ``Pipeline`` where the
    model would; the outputs of ``transform`` are named ``uaeaugmenter0``,
    ``uaeaugmenter1``, ... (``get_feature_names_out``, ``set_output``).

    Parameters
    ----------
    %(estimator)s
    %(attack)s
    %(ratio)s
    retrain : {"scratch", "continue"}, default="scratch"
        Train the final model anew on the union, or continue training the
        first model on it (needs ``partial_fit``).
    rounds : int, default=1
        Times to attack and retrain. Round ``r > 1`` attacks the model of
        round ``r - 1`` (a ``ratio`` of the rows, chosen anew) and trains on
        ``X`` plus those examples -- from scratch, or continuing that
        model with ``retrain="continue"``; the examples of earlier rounds
        are not kept. 1 is the paper's augmentation. Ignored at
        ``ratio=0``.
    %(run)s
    %(constraints)s
    %(memory)s

    Attributes
    ----------
    estimator_ : estimator
        The final (retrained) model.
    generator_ : UAEGenerator or None
        The generator of the last round, whose ``estimator_`` is the model
        it attacked: the first model when ``rounds=1`` (``None`` at
        ``ratio=0``, where the model is fitted once on ``X``).
    augment_indices_ : ndarray of int
        Training rows that were attacked (in the last round).
    uae_info_ : dict of ndarray
        Per-example statistics of the attack (``success``, ``mi``, ``loss``,
        ``distortion_linf``, ``distortion_l2``), of the last round.
    uae_success_rate_ : float
        Of the last round.
    round_success_rates_ : list of float
        The success rate of every round's examples, in order.
    n_train_samples_ : int
        Rows the final model was trained on.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names (e.g. a pandas DataFrame).

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

    _parameter_constraints = {**_BaseAugment._parameter_constraints,
                              "retrain": [StrOptions(set(RETRAIN_MODES))],
                              "rounds": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, estimator=None, attack=None, *, ratio=1.0, retrain="scratch", rounds=1,
                 batch_size=64, device="cpu", random_state=None, verbose=0, n_jobs=None,
                 precision="float32", constraints=None, memory=None):
        super().__init__(estimator, attack, batch_size=batch_size, device=device,
                         random_state=random_state, verbose=verbose, n_jobs=n_jobs,
                         precision=precision, constraints=constraints, memory=memory)
        self.ratio = ratio
        self.retrain = retrain
        self.rounds = rounds

    @_fit_context(prefer_skip_nested_validation=False)
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
        X = validate_data(self, X, dtype=(np.float32, np.float64))
        if y is not None:
            y = np.asarray(y)
            check_consistent_length(X, y)
        self._check_shared()
        memory = self._check_memory()
        if self.retrain == "continue" and self.estimator is not None and not hasattr(
                self.estimator, "partial_fit"):
            raise ValueError(
                "retrain='continue' needs an estimator with partial_fit; "
                f"{type(self.estimator).__name__} has none. Use retrain='scratch'."
            )
        seed = seed_from_random_state(self.random_state)
        if self.ratio == 0:  # no augmentation: one fit on X
            self._set_fitted(self._fit_estimator(X, y, seed + 1, memory), None,
                             np.empty(0, dtype=np.int64), {}, X)
            self.round_success_rates_ = []
            return self
        final, rates = None, []
        for r in range(self.rounds):
            # round 0 is the one-round fit; later rounds attack the model before them
            round_seed = seed if r == 0 else (seed + 2 * r) % _MAX_SEED
            gen, idx, X_adv, info = self._make_uaes(
                X, y, round_seed, None if final is None else FrozenEstimator(final))
            rates.append(float(np.mean(info["success"])) if len(idx) else 0.0)
            X_all = np.vstack([X, X_adv.astype(X.dtype)]).astype(np.float32)
            y_all = None if y is None else np.concatenate([y, y[idx]])
            if self.retrain == "scratch":
                final = self._fit_estimator(X_all, y_all, round_seed + 1)
            else:
                final = gen.estimator_  # the attacked model trains on; generator_ shares it
                with one_torch_thread():  # as every fit of the estimators (_fit_seeded)
                    final.partial_fit(X_all) if y_all is None else final.partial_fit(X_all, y_all)
        self._set_fitted(final, gen, idx, info, X_all)
        self.round_success_rates_ = rates
        return self

    def _set_fitted(self, final, generator, indices, info, X_train):
        self.estimator_ = final
        self.generator_ = generator
        self.augment_indices_ = indices
        self.uae_info_ = info
        self.uae_success_rate_ = float(np.mean(info["success"])) if len(indices) else 0.0
        self.n_train_samples_ = int(X_train.shape[0])
        if hasattr(final, "transform"):
            self._n_features_out = final.transform(X_train[:1].astype(np.float32)).shape[1]

    def _final(self, X):
        check_is_fitted(self, "estimator_")
        return validate_data(self, X, reset=False, dtype=(np.float32, np.float64)).astype(
            np.float32, copy=False)

    @available_if(_estimator_has("transform"))
    @fill_doc(X=X_ROWS_DOC)
    def transform(self, X):
        """``transform`` of the retrained model (e.g. autoencoder codes).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray
            What the final model's ``transform`` returns.
        """
        Xt = self._final(X)
        return _wrap_data_with_container("transform", self.estimator_.transform(Xt), X, self)

    @available_if(_estimator_has("predict"))
    @fill_doc(X=X_ROWS_DOC)
    def predict(self, X):
        """``predict`` of the retrained model.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray
            What the final model's ``predict`` returns (labels for a
            classifier, reconstructions for an autoencoder).
        """
        X = self._final(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    @fill_doc(X=X_ROWS_DOC)
    def predict_proba(self, X):
        """``predict_proba`` of the retrained model.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray
            What the final model's ``predict_proba`` returns.
        """
        X = self._final(X)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("score"))
    @fill_doc(X=X_ROWS_DOC)
    def score(self, X, y=None):
        """``score`` of the retrained model.

        Parameters
        ----------
        %(X)s
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

    @available_if(_estimator_has("transform"))
    def get_feature_names_out(self, input_features=None):
        """Names of the outputs of :meth:`transform`: ``uaeaugmenter0``, ``uaeaugmenter1``, ...

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in ``fit``; the outputs are
            the final model's codes, not the input columns.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "_n_features_out")
        return super().get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            inner = get_tags(self.estimator)
            tags.estimator_type = inner.estimator_type
            tags.target_tags.required = inner.target_tags.required
            if inner.transformer_tags is not None and tags.transformer_tags is not None:
                tags.transformer_tags.preserves_dtype = inner.transformer_tags.preserves_dtype
        else:
            tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


# transform wraps its own output (see above); this tells set_output it may
UAEAugmenter._sklearn_auto_wrap_output_keys = {"transform"}
