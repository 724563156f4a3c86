"""AutoencoderNet: a skorch net that trains autoencoders on X alone."""

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet

from ._modules import DenseAutoencoder
from ._net import SeededNetMixin


class AutoencoderNet(SeededNetMixin, TransformerMixin, NeuralNet):
    """Skorch net for autoencoders: ``fit(X)``, codes, reconstructions.

    The module must map a batch to ``(reconstruction, code)`` (as the
    modules of :mod:`sk_uae.models` do); its ``input_dim`` is taken from
    ``X`` at fit time, so ``module__input_dim`` need not be given. The
    training loss is ``criterion(reconstruction, X) + module.penalty(code)``.
    Any skorch parameter works (``module__*``, ``optimizer__*``,
    ``callbacks``, ``device``...).

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=DenseAutoencoder
    criterion : torch loss class, default=torch.nn.MSELoss
        Reconstruction loss (the reference's conv AE used
        ``torch.nn.BCELoss``).
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=20
    batch_size : int, default=128
    train_split : callable or None, default=None
        No validation split by default (skorch's default holds out 20 %).
    verbose : int, default=0
    random_state : int, RandomState or None, default=None
        Seeds the weight initialisation and the shuffling of the batches.
    **kwargs
        Passed to :class:`skorch.NeuralNet`.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained module.
    n_features_in_ : int
    history_ : skorch.History

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(64, 16).astype("float32")
    >>> ae = AutoencoderNet(module__hidden_units=4, max_epochs=2, random_state=0).fit(X)
    >>> ae.transform(X).shape, ae.predict(X).shape
    ((64, 4), (64, 16))
    """

    def __init__(
        self,
        module=DenseAutoencoder,
        *args,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=20,
        batch_size=128,
        train_split=None,
        verbose=0,
        random_state=None,
        **kwargs,
    ):
        super().__init__(
            module,
            *args,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            verbose=verbose,
            **kwargs,
        )
        self.random_state = random_state

    # ------------------------------------------------------------------ skorch hooks
    def get_loss(self, y_pred, y_true, X=None, training=False):
        recon, code = _split(y_pred)
        X = torch.as_tensor(X, device=recon.device, dtype=recon.dtype)
        loss = self.criterion_(recon, X)
        penalty = getattr(self.module_, "penalty", None)
        if penalty is not None and code is not None:
            loss = loss + penalty(code)
        return loss

    # --------------------------------------------------------------- sklearn API
    def fit(self, X, y=None, **fit_params):
        """Train the autoencoder on ``X`` from scratch (unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored; present for API consistency.
        **fit_params : passed to the module's forward.

        Returns
        -------
        self
        """
        warm = self.warm_start and self.initialized_
        X = validate_data(self, X, dtype=np.float32, reset=not warm)
        return self._train(X, None, initialize=not warm, _routing_method="fit", **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training on ``X`` for ``max_epochs`` epochs; ``y`` is ignored.

        Returns
        -------
        self
        """
        first = not self.initialized_
        X = validate_data(self, X, dtype=np.float32, reset=first)
        return self._train(X, None, initialize=first, **fit_params)

    def _check_X(self, X):
        check_is_fitted(self, "module_")
        return validate_data(self, X, dtype=np.float32, reset=False)

    def _apply(self, fn, X):
        return self._forward_batches(fn, self._check_X(X), np.empty((0,), np.float32))

    def predict(self, X):
        """Reconstructions of ``X``, shape (n_samples, n_features)."""
        return self._apply(lambda xb: _split(self.module_(xb))[0], X)

    def predict_proba(self, X):  # skorch alias; reconstructions are no probabilities
        return self.predict(X)

    def transform(self, X):
        """Codes of ``X`` (the module's ``encode``), shape (n_samples, n_codes)."""
        encode = getattr(self.module_, "encode", None) if hasattr(self, "module_") else None
        if encode is None:
            encode = lambda xb: _split(self.module_(xb))[1]  # noqa: E731
        return self._apply(encode, X)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error (higher is better)."""
        X = self._check_X(X)
        return -float(np.mean((self.predict(X) - X) ** 2))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags


def _split(out):
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None
