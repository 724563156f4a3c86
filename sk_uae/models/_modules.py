"""Torch modules of the autoencoders (pure torch; no skorch, no sklearn).

Every autoencoder module maps a flat batch ``(B, d)`` to ``(reconstruction,
code)`` and offers ``encode``, ``penalty(code)`` (a regulariser added to the
training loss, zero by default) and ``first_layer_features`` (the
activations MINE uses in ``pairs="features"`` mode, shape ``(B, K, p)``).
``input_dim`` is filled in by :class:`~sk_uae.models.AutoencoderNet` from the
data at fit time, and so is ``output_activation="auto"``. Each module keeps
the name of its output activation as ``output_activation``.
"""

import torch
from torch import nn

from .._nn.shapes import image_shape, make_activation


_AUTO_NEEDS_DATA = (
    "{owner}(output_activation='auto') needs the training rows: AutoencoderNet resolves it "
    "at fit ('sigmoid' for data in [0, 1], else 'identity'; the fitted net's "
    "output_activation_ says which). Without them -- a module built directly, or a net "
    "initialised without fit -- pass output_activation='sigmoid' for data in [0, 1] or "
    "'identity' for unbounded (e.g. standardised) data: module__output_activation=... on a "
    "net, output_activation=... to load_net_params."
)


def make_output_activation(name, owner):
    """The output activation module ``name``; ``"auto"`` is an error (it needs the data)."""
    if isinstance(name, str) and name == "auto":
        raise ValueError(_AUTO_NEEDS_DATA.format(owner=owner))
    return make_activation(name, "output_activation")


class DenseAutoencoder(nn.Module):
    """One-hidden-layer dense autoencoder (the paper's 784-128-784 model).

    Parameters
    ----------
    input_dim : int
        Input width (set from the data by ``AutoencoderNet``).
    hidden_units : int, default=128
        Width of the code.
    activation : str, default="sigmoid"
        Code activation.
    output_activation : {"auto", "sigmoid", "identity", "relu", "tanh"}, default="auto"
        Output activation. ``"auto"`` is resolved by ``AutoencoderNet`` at
        fit from the training rows: ``"sigmoid"`` when they all lie in
        [0, 1] (up to float rounding), else ``"identity"``; a module built
        directly needs an explicit value.
    """

    def __init__(self, input_dim, hidden_units=128, activation="sigmoid",
                 output_activation="auto"):
        super().__init__()
        self.encoder = nn.Linear(input_dim, hidden_units)
        self.decoder = nn.Linear(hidden_units, input_dim)
        self.act = make_activation(activation, "activation")
        self.out_act = make_output_activation(output_activation, type(self).__name__)
        self.output_activation = output_activation

    def encode(self, x):
        return self.act(self.encoder(x))

    def forward(self, x):
        code = self.encode(x)
        return self.out_act(self.decoder(code)), code

    def penalty(self, code):
        return code.new_zeros(())

    def first_layer_features(self, x):
        return self.encoder(x).unsqueeze(-1)


class SparseAutoencoder(DenseAutoencoder):
    """Dense autoencoder with a KL sparsity penalty on the mean code activation.

    The penalty is ``sparsity_weight * mean_j KL(rho || rho_hat_j)`` where
    ``rho_hat_j`` is the batch mean of code unit ``j`` (reference: rho 0.1,
    weight 3, sigmoid code).

    Parameters
    ----------
    input_dim, hidden_units, activation, output_activation
        As :class:`DenseAutoencoder` (the activation must lie in (0, 1)).
    sparsity_target : float, default=0.1
        Target mean activation ``rho`` of every code unit, in (0, 1).
    sparsity_weight : float, default=3.0
        Weight of the KL penalty in the training loss.
    """

    def __init__(self, input_dim, hidden_units=128, activation="sigmoid",
                 output_activation="auto", sparsity_target=0.1, sparsity_weight=3.0):
        super().__init__(input_dim, hidden_units, activation, output_activation)
        if not 0 < sparsity_target < 1:
            raise ValueError(f"sparsity_target must lie in (0, 1); got {sparsity_target!r}.")
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight

    def penalty(self, code):
        rho = self.sparsity_target
        rho_hat = code.mean(0).clamp(1e-10, 1 - 1e-7)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return self.sparsity_weight * kl.mean()


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder for images passed flattened.

    Encoder: two ``kernel_size`` convolutions (``filters`` channels, ReLU),
    each followed by 2x2 max pooling; decoder mirrors it with nearest
    up-sampling and ends in a sigmoid (reference: 16/8 filters, 5x5), so it
    is for images in [0, 1].

    Parameters
    ----------
    input_dim : int
        Flattened size; must equal ``prod(input_shape)``.
    input_shape : tuple (C, H, W) or None, default=None
        Image shape; ``None`` means one square channel (``H = W = sqrt(d)``).
        ``H`` and ``W`` must be divisible by 4.
    filters : tuple of two ints, default=(16, 8)
        Output channels of the first and of the second encoder convolution
        (the decoder mirrors them).
    kernel_size : int, default=5
        Side of the square kernels; odd, so that padding keeps the size.
    """

    output_activation = "sigmoid"  # fixed: the decoder's last layer

    def __init__(self, input_dim, input_shape=None, filters=(16, 8), kernel_size=5):
        super().__init__()
        input_shape = image_shape(input_dim, input_shape, "ConvAutoencoder")
        if input_shape[1] % 4 or input_shape[2] % 4:
            raise ValueError("ConvAutoencoder needs height and width divisible by 4; "
                             f"got {input_shape}.")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd; got {kernel_size}.")
        self.input_shape = input_shape
        c, (f1, f2), pad = input_shape[0], filters, kernel_size // 2
        self.conv1 = nn.Conv2d(c, f1, kernel_size, padding=pad)
        self.encoder = nn.Sequential(
            self.conv1, nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(f1, f2, kernel_size, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(f2, f2, kernel_size, padding=pad), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(f2, f1, kernel_size, padding=pad), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(f1, c, kernel_size, padding=pad), nn.Sigmoid(),
        )

    def _image(self, x):
        return x.reshape(x.shape[0], *self.input_shape)

    def encode(self, x):
        return self.encoder(self._image(x)).flatten(1)

    def forward(self, x):
        code = self.encoder(self._image(x))
        return self.decoder(code).flatten(1), code.flatten(1)

    def penalty(self, code):
        return code.new_zeros(())

    def first_layer_features(self, x):
        return self.conv1(self._image(x)).flatten(2)
