"""Contrastive learning (SimCLR) for tabular data and small images."""

from numbers import Integral

import numpy as np
import torch
from skorch.dataset import unpack_data
from torch import nn

from .._nn.augment import ImageAugment, TabularAugment
from .._nn.losses import NTXentLoss
from .._nn.objectives import ContrastiveObjective
from .._nn.shapes import image_shape
from ..utils._docstring import X_ROWS_DOC, fill_doc
from ._base import UnsupervisedNet
from ._net import NET_DOCS


def _widths(value, name):
    widths = (value,) if isinstance(value, Integral) else tuple(value)
    if not widths or any(not isinstance(w, Integral) or w < 1 for w in widths):
        raise ValueError(f"{name} must be a positive integer or a non-empty tuple of them; "
                         f"got {value!r}.")
    return tuple(int(w) for w in widths)


class _ContrastiveModule(nn.Module):
    """Encoder body plus SimCLR projection head (Linear, ReLU, Linear).

    ``forward`` returns ``(projection, representation)``; ``encode`` the
    representation, which is what downstream models use.
    """

    def _add_head(self, rep_dim, projection_dim):
        self.head = nn.Sequential(nn.Linear(rep_dim, rep_dim), nn.ReLU(),
                                  nn.Linear(rep_dim, int(projection_dim)))

    def forward(self, x):
        h = self.encode(x)
        return self.head(h), h


class MLPEncoder(_ContrastiveModule):
    """MLP encoder with a projection head, for tabular data.

    Parameters
    ----------
    input_dim : int
        Set from the data by :class:`ContrastiveNet`.
    hidden_units : int or tuple of int, default=(128, 64)
        Widths of the encoder's layers (Linear + ReLU each); the last one is
        the representation.
    projection_dim : int, default=32
        Output width of the projection head (Linear, ReLU, Linear) on which
        the NT-Xent loss is computed.
    """

    def __init__(self, input_dim, hidden_units=(128, 64), projection_dim=32):
        super().__init__()
        layers, width = [], input_dim
        for w in _widths(hidden_units, "hidden_units"):
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        self.encoder = nn.Sequential(*layers)
        self._add_head(width, projection_dim)

    def encode(self, x):
        return self.encoder(x)

    def first_layer_features(self, x):
        return self.encoder[0](x).unsqueeze(-1)


class ConvEncoder(_ContrastiveModule):
    """Small CNN encoder with a projection head, for images passed flattened.

    Two 3x3 convolutions (``filters`` channels, ReLU), the first followed by
    2x2 max pooling, the second by adaptive average pooling to 2x2; then a
    dense layer (ReLU) to ``representation_dim``.

    Parameters
    ----------
    input_dim : int
        Flattened size; must equal ``prod(input_shape)``.
    input_shape : tuple (C, H, W) or None, default=None
        ``None`` means one square channel. ``H`` and ``W`` at least 2.
    filters : tuple of two ints, default=(16, 32)
        Output channels of the first and of the second convolution.
    representation_dim : int, default=64
        Width of the representation (the output of ``encode``).
    projection_dim : int, default=32
        Output width of the projection head (Linear, ReLU, Linear) on which
        the NT-Xent loss is computed.
    """

    def __init__(self, input_dim, input_shape=None, filters=(16, 32), representation_dim=64,
                 projection_dim=32):
        super().__init__()
        input_shape = image_shape(input_dim, input_shape, "ConvEncoder")
        if min(input_shape[1:]) < 2:
            raise ValueError(f"ConvEncoder needs images of at least 2x2; got {input_shape}.")
        self.input_shape = input_shape
        f1, f2 = _widths(filters, "filters")
        self.conv1 = nn.Conv2d(input_shape[0], f1, 3, padding=1)
        self.encoder = nn.Sequential(
            self.conv1, nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(f1, f2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(4 * f2, int(representation_dim)), nn.ReLU(),
        )
        self._add_head(int(representation_dim), projection_dim)

    def encode(self, x):
        return self.encoder(x.reshape(x.shape[0], *self.input_shape))

    def first_layer_features(self, x):
        return self.conv1(x.reshape(x.shape[0], *self.input_shape)).flatten(2)


@fill_doc(**NET_DOCS)
class ContrastiveNet(UnsupervisedNet):
    """SimCLR-style contrastive learning on ``X`` alone (skorch net).

    Every training batch is augmented twice (``augmentation``, one draw per
    row from a generator seeded by ``random_state``); the module maps both
    views to projections, and the loss is NT-Xent (``criterion``, temperature
    ``criterion__temperature=0.5``) over the ``2 * batch_size`` views.
    ``transform`` returns the encoder's representation, not the projection.
    An adversarial row that :class:`~sk_uae.AdversarialTraining` adds to a
    batch is paired with its clean row (a view of each), and the two pairs
    of one row are not each other's negatives (``criterion`` is then
    called with ``groups=``, which :class:`NTXentLoss` takes).

    After fit the net keeps ``negatives_``, up to ``n_negatives`` training
    rows drawn at random (during training, a provisional draw of them): the
    fixed bank of negatives of
    :class:`~sk_uae.attacks.ContrastiveObjective`, which
    :func:`~sk_uae.attacks.resolve_objective` picks for this net through
    :meth:`uae_objective`.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=MLPEncoder
        Maps ``(B, d)`` to ``(projection, representation)`` and has
        ``encode``; :class:`MLPEncoder` or :class:`ConvEncoder`. A class is
        instantiated at fit with the ``module__*`` parameters and
        ``input_dim`` from ``X``. The only positional parameter: the others
        are keyword-only.
    augmentation : augmentation object or None, default=None
        ``None``: :class:`ImageAugment` of the module's ``input_shape`` when
        it has one (:class:`ConvEncoder`), else :class:`TabularAugment`.
    n_negatives : int, default=256
        Number of training rows kept as ``negatives_`` (all rows when there
        are fewer), the bank of negatives of the attack objective.
    criterion : torch loss class, default=NTXentLoss
        Loss of the two views' projections (``criterion__temperature``
        sets its temperature).
    %(optimizer)s
    batch_size : int, default=256
        Rows per training step (each gives two views), and per chunk at
        inference and in :meth:`score`; ``-1`` means all rows at once.
    %(train_split)s
    random_state : int, RandomState or None, default=None
        Seeds the weights, the batch shuffling, the augmentations and the
        choice of ``negatives_``; an int also seeds the augmentation draws
        of the attack objective (:meth:`uae_objective`). ``None`` draws a
        fresh seed at every fit.
    **kwargs
        Passed to :class:`skorch.NeuralNet` (``module__*``, ...).

    Attributes
    ----------
    module_ : torch.nn.Module
    negatives_ : ndarray of shape (min(n_negatives, n_samples), n_features)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae.models import ContrastiveNet
    >>> X = np.random.RandomState(0).randn(64, 10).astype("float32")
    >>> net = ContrastiveNet(module__hidden_units=8, max_epochs=2, random_state=0).fit(X)
    >>> net.transform(X).shape
    (64, 8)
    """

    def __init__(self, module=MLPEncoder, *, augmentation=None, n_negatives=256,
                 criterion=NTXentLoss, optimizer=torch.optim.Adam, lr=1e-3, max_epochs=20,
                 batch_size=256, train_split=None, verbose=0, random_state=None, **kwargs):
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
                         verbose=verbose, random_state=random_state, **kwargs)
        self.augmentation = augmentation
        self.n_negatives = n_negatives

    # ------------------------------------------------------------------ training
    def get_augmentation(self):
        """The augmentation in use (``augmentation`` or the default for the module)."""
        if self.augmentation is not None:
            return self.augmentation
        shape = getattr(getattr(self, "module_", None), "input_shape", None)
        return ImageAugment(input_shape=shape) if shape is not None else TabularAugment()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if not isinstance(self.n_negatives, Integral) or self.n_negatives < 1:
            raise ValueError(f"n_negatives must be a positive integer; got {self.n_negatives!r}.")
        aug = self.get_augmentation()
        if not (callable(getattr(aug, "sample", None)) and callable(getattr(aug, "apply", None))):
            raise TypeError(
                f"augmentation must have sample(n, n_features, generator) and apply(x, params) "
                f"methods (e.g. sk_uae.models.ImageAugment); got {aug!r}."
            )
        # inside fit's torch_seed block: the draw follows random_state
        seed = int(torch.randint(0, 2**31 - 1, ()))
        self._aug_generator = torch.Generator().manual_seed(seed)
        # a provisional bank of negatives, so that attacks during training (see
        # AdversarialTraining) have an objective; drawn from a generator of its own, so
        # the augmentations and shuffles are those of a fit without it
        rows = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(seed))
        self.negatives_ = self._bank(X, rows)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self.negatives_ = self._bank(X, torch.randperm(X.shape[0]))

    def _bank(self, X, order):
        """The rows ``X[order[:n_negatives]]``, in their order in ``X``."""
        rows = np.sort(order[: self.n_negatives].numpy())
        return np.ascontiguousarray(X[rows], dtype=np.float32)

    def _views_loss(self, Xi, generator, partner=None):
        """NT-Xent of the pairs (view of ``Xi[i]``, view of ``partner[i]``).

        ``partner`` (default: ``Xi``) is the batch's targets: the rows
        themselves, or for adversarial rows their clean rows. Pairs with
        the same partner are views of one row, so they are not each
        other's negatives.
        """
        x = torch.as_tensor(Xi, device=self.device, dtype=torch.float32)
        p = x if partner is None else torch.as_tensor(partner, device=self.device,
                                                      dtype=torch.float32)
        if p.shape != x.shape:
            raise ValueError(f"the batch's targets must be rows like its inputs, {tuple(x.shape)}; "
                             f"got {tuple(p.shape)}.")
        groups = None
        if p is not x and not torch.equal(p, x):
            groups = torch.unique(p, dim=0, return_inverse=True)[1]
        aug = self.get_augmentation()
        views = torch.cat([aug(x, generator), aug(p, generator)])
        z = self.infer(views)
        z = z[0] if isinstance(z, (tuple, list)) else z
        if groups is None:
            return self.criterion_(z[: x.shape[0]], z[x.shape[0]:])
        return self.criterion_(z[: x.shape[0]], z[x.shape[0]:], groups=groups)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, partner = unpack_data(batch)
        loss = self._views_loss(Xi, self._aug_generator, partner)
        loss.backward()
        return {"loss": loss, "y_pred": None}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, partner = unpack_data(batch)
        with torch.no_grad():
            loss = self._views_loss(Xi, self._aug_generator, partner)
        return {"loss": loss, "y_pred": None}

    # --------------------------------------------------------------- sklearn API
    @fill_doc(X=X_ROWS_DOC)
    def transform(self, X):
        """Encoder representations of ``X``, shape (n_samples, representation_dim).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples, representation_dim), float32
        """
        return self._apply(lambda xb: self.module_.encode(xb), X)

    @fill_doc(X=X_ROWS_DOC)
    def predict(self, X):
        """Projection-head outputs of ``X`` (what the NT-Xent loss compares).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples, projection_dim), float32
        """
        return self._apply(lambda xb: self.module_(xb)[0], X)

    def predict_proba(self, X):  # skorch alias; projections are no probabilities
        return self.predict(X)

    @fill_doc(X=X_ROWS_DOC)
    def score(self, X, y=None, seed=0):
        """Negative NT-Xent loss on a fixed seeded augmentation of ``X`` (higher is better).

        Two views of every row are drawn from a ``torch.Generator`` seeded
        with ``seed`` (so nets with the same augmentation are scored on the
        same views); NT-Xent is averaged over consecutive chunks of
        ``batch_size`` rows, the training setting (one chunk of all rows
        when ``batch_size=-1``).

        Parameters
        ----------
        %(X)s
        y : None
            Ignored.
        seed : int, default=0
            Seed of the ``torch.Generator`` that draws the views.

        Returns
        -------
        float
        """
        X = self._check_X(X)
        self._check_runtime_params()
        step = self.batch_size if self.batch_size != -1 else max(1, X.shape[0])
        self.module_.eval()
        generator = torch.Generator().manual_seed(int(seed))
        total = 0.0
        with torch.no_grad():
            for start in range(0, X.shape[0], step):
                xb = X[start : start + step]
                total += float(self._views_loss(xb, generator)) * xb.shape[0]
        return -total / max(X.shape[0], 1)

    def uae_objective(self, module=None):
        """The attack objective of this net (see :func:`sk_uae.attacks.resolve_objective`).

        Parameters
        ----------
        module : torch.nn.Module, optional
            The module to bind (e.g. a copy on another device); defaults to ``module_``.

        Returns
        -------
        ContrastiveObjective
        """
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else 0
        return ContrastiveObjective(
            module if module is not None else self.module_,
            augmentation=self.get_augmentation(),
            negatives=self.negatives_,
            temperature=getattr(self.criterion_, "temperature", 0.5),
            seed=int(seed),
        )
