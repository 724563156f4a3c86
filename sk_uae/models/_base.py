"""UnsupervisedNet: the skorch base of the nets that fit on X alone."""

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet

from ._net import SeededNetMixin


class UnsupervisedNet(SeededNetMixin, TransformerMixin, NeuralNet):
    """Skorch net trained on ``X`` alone, with scikit-learn conventions.

    Shared by :class:`~sk_uae.models.AutoencoderNet` and
    :class:`~sk_uae.models.ContrastiveNet`: ``X`` is validated as float32
    at fit, the module's ``input_dim`` is taken from ``X`` (so
    ``module__input_dim`` need not be given), ``random_state`` seeds the
    weight initialisation and the batch shuffling, and inference runs in
    eval mode, batch by batch, without gradients.

    skorch is handed ``X`` as the inputs *and* as the targets, so every
    training batch is a pair ``(Xi, Ti)`` with ``Ti`` the rows each input is
    trained towards: the input itself in a plain fit (an autoencoder's
    reconstruction target, a contrastive net's second view), the clean row
    of an adversarial example that
    :class:`~sk_uae.AdversarialTraining` appends to the batch.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        The module to train; a class is instantiated at fit with the
        ``module__*`` parameters and ``input_dim`` from ``X``. The only
        positional parameter: the others are keyword-only.
    random_state : int, RandomState or None, default=None
        Seeds the weight initialisation and the shuffling of the training
        rows (and any other torch draw during training).
    **kwargs
        Passed to :class:`skorch.NeuralNet` by keyword (``criterion``,
        ``module__*``, ...). ``iterator_train__shuffle`` defaults to True
        here (skorch's default is False).
    """

    def __init__(self, module, *, random_state=None, **kwargs):
        # skorch does not shuffle the training rows unless told to: without it
        # appended rows (augmentation) always come last in an epoch
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(module, **kwargs)
        self.random_state = random_state

    # --------------------------------------------------------------- sklearn API
    def fit(self, X, y=None, **fit_params):
        """Train on ``X`` from scratch (unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows; cast to float32.
        y : None
            Ignored; present for API consistency.
        **fit_params : dict
            Passed on by skorch to the module's ``forward``.

        Returns
        -------
        self
        """
        warm = self.warm_start and self.initialized_
        X = validate_data(self, X, dtype=np.float32, reset=not warm)
        return self._train(X, X, initialize=not warm, _routing_method="fit", **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training on ``X`` for ``max_epochs`` epochs; ``y`` is ignored.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows; cast to float32.
        y : None
            Ignored; present for API consistency.
        classes : None
            Ignored; present for API consistency.
        **fit_params : dict
            Passed on by skorch to the module's ``forward``.

        Returns
        -------
        self
        """
        first = not self.initialized_
        X = validate_data(self, X, dtype=np.float32, reset=first)
        return self._train(X, X, initialize=first, **fit_params)

    def _check_X(self, X):
        check_is_fitted(self, "module_")
        return validate_data(self, X, dtype=np.float32, reset=False)

    def _apply(self, fn, X):
        return self._forward_batches(fn, self._check_X(X), np.empty((0,), np.float32))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags
