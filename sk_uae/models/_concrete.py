"""Concrete autoencoder (Abid et al., 2019): feature selection by a concrete layer."""

from numbers import Integral

import numpy as np
import torch
from torch import nn

from .._nn.shapes import make_activation
from ..utils._docstring import X_ROWS_DOC, fill_doc
from ._autoencoder import AutoencoderNet
from ._callbacks import TemperatureAnnealing
from ._modules import make_output_activation


class ConcreteSelector(nn.Module):
    """Concrete selector layer: ``K`` relaxed one-hot selections of ``d`` inputs.

    Row ``k`` of ``logits`` (shape ``(K, d)``) parametrises a concrete
    (Gumbel-softmax) distribution over the inputs. In training mode every
    forward pass draws one Gumbel sample per row (from torch's global RNG)
    and uses the weights ``softmax((logits + g) / T)``; in eval mode the
    weights are the hard one-hot ``argmax(logits)``, so the output is exactly
    ``x[:, selected_features]``.

    Parameters
    ----------
    input_dim : int
        Number ``d`` of inputs to choose from.
    n_selected : int
        Number ``K`` of selections (rows of ``logits``), the output width.
    temperature : float, default=10.0
        Initial temperature ``T`` (a buffer; see :meth:`set_temperature`).
    """

    def __init__(self, input_dim, n_selected, temperature=10.0):
        super().__init__()
        self.logits = nn.Parameter(torch.empty(n_selected, input_dim))
        nn.init.xavier_uniform_(self.logits)  # as the reference (glorot uniform)
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def set_temperature(self, value):
        self.temperature.fill_(float(value))

    @property
    def selected_features(self):
        """Indices of the selected inputs, shape ``(K,)`` (may repeat)."""
        return self.logits.detach().argmax(-1)

    def weights(self):
        """Selection weights ``(K, d)``: relaxed in training, one-hot in eval."""
        if self.training:
            u = torch.rand_like(self.logits).clamp_(1e-10, 1.0 - 1e-7)
            gumbel = -torch.log(-torch.log(u))
            return torch.softmax((self.logits + gumbel) / self.temperature, dim=-1)
        return nn.functional.one_hot(self.selected_features, self.logits.shape[1]).to(
            self.logits.dtype)

    def forward(self, x):
        return x @ self.weights().T


class ConcreteAutoencoder(nn.Module):
    """Concrete autoencoder: a concrete selector and a dense decoder.

    The encoder selects ``n_selected`` of the ``input_dim`` inputs
    (:class:`ConcreteSelector`); the decoder rebuilds all inputs from them.
    ``forward`` returns ``(reconstruction, selected_values)`` like the other
    autoencoders of :mod:`sk_uae.models`; in eval mode the selection is
    hard, so attacks see the model that ``transform`` describes.

    Parameters
    ----------
    input_dim : int
        Input width (set from the data by the net).
    n_selected : int, default=50
        Number ``K`` of selected inputs (reference: 50); at most ``input_dim``.
    hidden_units : int or tuple of int, default=(64,)
        Widths of the decoder's hidden layers (reference: 320 with leaky ReLU).
    activation : str, default="relu"
        Activation of the decoder's hidden layers.
    output_activation : {"auto", "sigmoid", "identity", "relu", "tanh"}, default="auto"
        Output activation. ``"auto"`` is resolved by the net at fit from the
        training rows: ``"sigmoid"`` when they all lie in [0, 1] (up to
        float rounding), else ``"identity"``; a module built directly needs
        an explicit value.
    temperature : float, default=10.0
        Initial temperature of the selector; annealed by
        :class:`~sk_uae.models.TemperatureAnnealing` during training.
    """

    def __init__(self, input_dim, n_selected=50, hidden_units=(64,), activation="relu",
                 output_activation="auto", temperature=10.0):
        super().__init__()
        if not isinstance(n_selected, Integral) or not 1 <= n_selected <= input_dim:
            raise ValueError(
                f"n_selected must be an integer in [1, n_features]; got n_selected={n_selected!r} "
                f"for X with {input_dim} feature(s)."
            )
        widths = (hidden_units,) if isinstance(hidden_units, Integral) else tuple(hidden_units)
        if any(not isinstance(w, Integral) or w < 1 for w in widths):
            raise ValueError(f"hidden_units must be positive integers; got {hidden_units!r}.")
        self.selector = ConcreteSelector(input_dim, int(n_selected), temperature)
        layers, width = [], int(n_selected)
        for w in widths:
            layers += [nn.Linear(width, int(w)), make_activation(activation, "activation")]
            width = int(w)
        layers += [nn.Linear(width, input_dim),
                   make_output_activation(output_activation, type(self).__name__)]
        self.decoder = nn.Sequential(*layers)
        self.output_activation = output_activation

    @property
    def temperature(self):
        return float(self.selector.temperature)

    def set_temperature(self, value):
        self.selector.set_temperature(value)

    @property
    def selected_features(self):
        return self.selector.selected_features

    def encode(self, x):
        return self.selector(x)

    def forward(self, x):
        code = self.selector(x)
        return self.decoder(code), code

    def penalty(self, code):
        return code.new_zeros(())

    def first_layer_features(self, x):
        return self.selector(x).unsqueeze(-1)


class ConcreteAutoencoderNet(AutoencoderNet):
    """Unsupervised feature selection with a concrete autoencoder.

    Trains :class:`ConcreteAutoencoder` to reconstruct ``X`` from
    ``n_selected`` of its columns (``module__n_selected``), annealing the
    selector's temperature from ``start_temperature`` to
    ``end_temperature`` exponentially over the epochs (a
    :class:`~sk_uae.models.TemperatureAnnealing` callback added by default,
    named ``"temperature_annealing"``). After fit, ``transform(X)`` is
    ``X[:, selected_features_]``. See Abid, Balin, Zou, *Concrete
    Autoencoders: Differentiable Feature Selection and Reconstruction*, ICML
    2019.

    Every selector row picks one column by ``argmax``; two rows may pick the
    same column, so ``selected_features_`` has exactly ``n_selected``
    entries, not necessarily distinct, and ``get_support()`` marks the
    distinct ones.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=ConcreteAutoencoder
        The concrete autoencoder; a class is instantiated at fit with the
        ``module__*`` parameters and ``input_dim`` from ``X``. The only
        positional parameter: the others are keyword-only.
    start_temperature : float, default=10.0
        Selector temperature of the first epoch (positive).
    end_temperature : float, default=0.1
        Selector temperature of the last epoch (positive).
    lr : float, default=1e-2
        Learning rate of the optimiser (Adam by default).
    max_epochs : int, default=100
        Epochs per ``fit``; the annealing spans them.
    batch_size : int, default=128
        Rows per training step, and per chunk at inference.
    random_state : int, RandomState or None, default=None
        Seeds the weight initialisation, the shuffling of the training rows and
        the selector's Gumbel draws. ``None`` draws a fresh seed at every
        fit.
    **kwargs
        Passed to :class:`~sk_uae.models.AutoencoderNet` (``module__n_selected``,
        ``module__hidden_units``, ``criterion``, ...).

    Attributes
    ----------
    module_ : ConcreteAutoencoder
    selected_features_ : ndarray of int, shape (n_selected,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae.models import ConcreteAutoencoderNet
    >>> X = np.random.RandomState(0).rand(64, 10).astype("float32")
    >>> net = ConcreteAutoencoderNet(module__n_selected=3, max_epochs=2, random_state=0).fit(X)
    >>> net.transform(X).shape, net.selected_features_.shape
    ((64, 3), (3,))
    """

    def __init__(self, module=ConcreteAutoencoder, *, start_temperature=10.0,
                 end_temperature=0.1, lr=1e-2, max_epochs=100, batch_size=128,
                 random_state=None, **kwargs):
        super().__init__(module, lr=lr, max_epochs=max_epochs, batch_size=batch_size,
                         random_state=random_state, **kwargs)
        self.start_temperature = start_temperature
        self.end_temperature = end_temperature

    def get_default_callbacks(self):
        return [
            *super().get_default_callbacks(),
            ("temperature_annealing",
             TemperatureAnnealing(self.start_temperature, self.end_temperature)),
        ]

    @property
    def selected_features_(self):
        """Indices of the selected columns, shape ``(n_selected,)``; may repeat."""
        module = getattr(self, "module_", None)
        if module is None or not hasattr(self, "n_features_in_"):
            raise AttributeError("selected_features_ is only available after fit.")
        return module.selected_features.cpu().numpy().astype(np.intp)

    def get_support(self, indices=False):
        """Mask or indices of the selected columns (distinct, sorted).

        Parameters
        ----------
        indices : bool, default=False
            Return sorted distinct column indices instead of a boolean mask.

        Returns
        -------
        ndarray of bool, shape (n_features,), or ndarray of int
        """
        selected = self.selected_features_
        if indices:
            return np.unique(selected)
        mask = np.zeros(self.n_features_in_, dtype=bool)
        mask[selected] = True
        return mask

    @fill_doc(X=X_ROWS_DOC)
    def transform(self, X):
        """The selected columns ``X[:, selected_features_]``, shape (n_samples, n_selected).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples, n_selected), float32
        """
        X = self._check_X(X)
        return X[:, self.selected_features_]
