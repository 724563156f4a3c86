"""AutoencoderNet: a skorch net that trains autoencoders on X alone."""

import warnings

import numpy as np
import torch

from ..exceptions import FitQualityWarning
from ..utils._checks import in_unit_range
from ..utils._docstring import X_ROWS_DOC, fill_doc
from ._base import UnsupervisedNet
from ._modules import DenseAutoencoder
from ._net import NET_DOCS, _is_auto, module_default


@fill_doc(**NET_DOCS)
class AutoencoderNet(UnsupervisedNet):
    """Skorch net for autoencoders: ``fit(X)``, codes, reconstructions.

    The module must map a batch to ``(reconstruction, code)`` (as the
    modules of :mod:`sk_uae.models` do); its ``input_dim`` is taken from
    ``X`` at fit time, so ``module__input_dim`` need not be given. The
    training loss is ``criterion(reconstruction, T) + module.penalty(code)``
    with ``T`` the batch's targets: the rows themselves, or, for the
    adversarial rows that :class:`~sk_uae.AdversarialTraining` adds, their
    clean rows (a denoising target).
    Any skorch parameter works (``module__*``, ``optimizer__*``,
    ``callbacks``, ``device``...).

    A module's ``output_activation="auto"`` (the default of the dense,
    sparse and concrete autoencoders) is resolved from the training rows
    when the module is built: ``"sigmoid"`` when all values lie in [0, 1]
    (up to float rounding, e.g. MinMaxScaler's output in float32), else
    ``"identity"``. An explicit ``module__output_activation`` is kept.

    Every training call (``fit``, ``partial_fit``) ends with two checks: a
    training loss that is not finite raises ``ValueError`` (the weights are
    useless; the scale of ``X`` is the usual cause), and reconstructions of
    the training rows worse than their column means (a mean squared error
    above the mean column variance) warn with
    :class:`~sk_uae.exceptions.FitQualityWarning`.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=DenseAutoencoder
        The autoencoder; it maps a batch to ``(reconstruction, code)``. A
        class is instantiated at fit with the ``module__*`` parameters and
        ``input_dim`` from ``X``. The only positional parameter: the
        others are keyword-only.
    criterion : torch loss class, default=torch.nn.MSELoss
        Reconstruction loss (the reference's conv AE used
        ``torch.nn.BCELoss``).
    %(optimizer)s
    batch_size : int, default=128
        Rows per training step, and per chunk at inference; ``-1`` means all
        rows at once.
    %(train_split)s
    random_state : int, RandomState or None, default=None
        Seeds the weight initialisation and the shuffling of the training
        rows (``iterator_train__shuffle=True`` by default here, unlike
        skorch), and any other torch draw during training. ``None`` draws a
        fresh seed at every fit.
    **kwargs
        Passed to :class:`skorch.NeuralNet` (``module__*``,
        ``optimizer__*``, ``callbacks``, ``device``...).

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained module.
    output_activation_ : str or None
        The module's output activation: ``"auto"`` resolved from the
        training rows (``"sigmoid"`` or ``"identity"``), an explicit
        ``module__output_activation`` as given, ``"sigmoid"`` for
        :class:`~sk_uae.models.ConvAutoencoder`, or the module's own
        ``output_activation`` attribute (None if it has none).
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
        *,
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
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            verbose=verbose,
            random_state=random_state,
            **kwargs,
        )

    # ------------------------------------------------------------------ skorch hooks
    def _resolve_from_data(self, X):
        # kept for re-initialisations without the rows (set_params(module__...))
        self._auto_output_activation = "sigmoid" if in_unit_range(X) else "identity"

    def _module_kwargs_from_data(self):
        kwargs = super()._module_kwargs_from_data()
        auto = getattr(self, "_auto_output_activation", None)
        asked = self.get_params_for("module").get(
            "output_activation", module_default(self.module, "output_activation"))
        if auto is not None and _is_auto(asked):
            kwargs["output_activation"] = auto
        return kwargs

    def initialize_module(self):
        super().initialize_module()
        self.output_activation_ = getattr(self.module_, "output_activation", None)
        return self

    def _check_fit(self, X):
        super()._check_fit(X)
        recon = self._forward_batches(lambda xb: _split(self.module_(xb))[0], X,
                                      np.empty((0,), np.float32))
        if X.shape[0] == 0 or recon.shape != X.shape:
            return  # a module whose first output is no reconstruction of X
        X64 = X.astype(np.float64)
        mse = float(np.mean((recon - X64) ** 2))
        baseline = float(np.mean(X64.var(axis=0)))
        # float32 rounding of the reconstructions, at the data's magnitude
        tol = np.finfo(np.float32).eps * float(np.mean(X64 ** 2))
        if np.isfinite(mse) and mse <= baseline + tol:
            return
        causes = ["columns on very different scales (scale them, e.g. with StandardScaler)",
                  "too little training (raise max_epochs or lr)"]
        lo, hi = float(X.min()), float(X.max())
        act = self.output_activation_
        reach = _REACH.get(act) if isinstance(act, str) else None
        slack = 1e-6  # float rounding, e.g. MinMaxScaler's 1.0000001
        if reach is not None and (lo < reach[0] - slack or hi > reach[1] + slack):
            causes.insert(0, f"an output activation that cannot reach the data's range "
                             f"(output_activation_={act!r} for X in "
                             f"[{lo:.3g}, {hi:.3g}]; leave the default 'auto' or pass "
                             "'identity')")
        warnings.warn(
            f"{type(self).__name__} rebuilds its training rows worse than their column means "
            f"do (mean squared error {mse:.4g} > {baseline:.4g}, the mean column variance of "
            f"X): its adversarial examples say little about the data. Likely causes: "
            f"{'; '.join(causes)}.", FitQualityWarning, stacklevel=4)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        recon, code = _split(y_pred)
        # the rows to rebuild: the batch's targets (the inputs themselves, or the clean
        # rows of adversarial inputs), else the inputs
        target = y_true if _is_target(y_true, recon) else X
        target = torch.as_tensor(target, device=recon.device, dtype=recon.dtype)
        loss = self.criterion_(recon, target)
        penalty = getattr(self.module_, "penalty", None)
        if penalty is not None and code is not None:
            loss = loss + penalty(code)
        return loss

    # --------------------------------------------------------------- sklearn API
    @fill_doc(X=X_ROWS_DOC)
    def predict(self, X):
        """Reconstructions of ``X``, shape (n_samples, n_features).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples, n_features), float32
        """
        return self._apply(lambda xb: _split(self.module_(xb))[0], X)

    def predict_proba(self, X):  # skorch alias; reconstructions are no probabilities
        return self.predict(X)

    @fill_doc(X=X_ROWS_DOC)
    def transform(self, X):
        """Codes of ``X`` (the module's ``encode``), shape (n_samples, n_codes).

        Modules without ``encode`` give the second output of their forward.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples, n_codes), float32
        """
        encode = getattr(self.module_, "encode", None) if hasattr(self, "module_") else None
        if encode is None:
            encode = lambda xb: _split(self.module_(xb))[1]  # noqa: E731
        return self._apply(encode, X)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input rows, with the columns seen in ``fit``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        float
            ``-mean((predict(X) - X) ** 2)`` over all entries (whatever the
            ``criterion``).
        """
        X = self._check_X(X)
        return -float(np.mean((self.predict(X) - X) ** 2))


# the values each named output activation can produce
_REACH = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, np.inf)}


def _is_target(y_true, recon):
    """Whether skorch's ``y_true`` holds reconstruction targets (not its placeholder)."""
    return isinstance(y_true, torch.Tensor) and tuple(y_true.shape) == tuple(recon.shape)


def _split(out):
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None
