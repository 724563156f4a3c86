"""Torch modules of small classifiers (pure torch; no skorch, no sklearn).

Both modules take a flat batch ``(B, d)`` and return **logits** ``(B,
n_classes)``; train them with ``torch.nn.CrossEntropyLoss`` (what
:class:`~sk_uae.models.ClassifierNet` does). ``input_dim`` and ``n_classes``
are filled in by :class:`~sk_uae.models.ClassifierNet` from the data at fit
time. Both offer ``first_layer_features`` (MINE's ``pairs="features"``).
"""

from torch import nn

from .._nn.shapes import image_shape, make_activation


def _widths(hidden_units, argname):
    if isinstance(hidden_units, int):
        hidden_units = (hidden_units,)
    hidden_units = tuple(int(h) for h in hidden_units)
    if any(h < 1 for h in hidden_units):
        raise ValueError(f"{argname} must hold positive widths; got {hidden_units!r}.")
    return hidden_units


class MLPClassifierModule(nn.Module):
    """Multi-layer perceptron that outputs logits.

    Parameters
    ----------
    input_dim : int
        Input width (set from the data by ``ClassifierNet``).
    n_classes : int
        Number of classes (set from the labels by ``ClassifierNet``).
    hidden_units : int or tuple of int, default=(128,)
        Widths of the hidden layers.
    activation : str, default="relu"
        Hidden activation (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"identity"``).
    """

    def __init__(self, input_dim, n_classes, hidden_units=(128,), activation="relu"):
        super().__init__()
        widths = (int(input_dim),) + _widths(hidden_units, "hidden_units")
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), make_activation(activation, "activation")]
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(widths[-1], int(n_classes))

    def forward(self, x):
        return self.out(self.hidden(x))

    def first_layer_features(self, x):
        first = self.hidden[0] if len(self.hidden) else self.out
        return first(x).unsqueeze(-1)


class CNNClassifierModule(nn.Module):
    """Small convolutional classifier for images passed flattened; outputs logits.

    Two ``kernel_size`` convolutions (``filters`` channels, ReLU, padding
    keeping the size), each followed by 2x2 max pooling, then a dense
    hidden layer and the output layer.

    Parameters
    ----------
    input_dim : int
        Flattened size; must equal ``prod(input_shape)``.
    n_classes : int
        Number of classes, the output width (set from the labels by
        ``ClassifierNet``).
    input_shape : tuple (C, H, W) or None, default=None
        Image shape; ``None`` means one square channel (``H = W = sqrt(d)``).
        ``H`` and ``W`` must be at least 4.
    filters : tuple of two ints, default=(16, 32)
        Output channels of the first and of the second convolution.
    kernel_size : int, default=3
        Side of the square kernels; odd, so that padding keeps the size.
    hidden_units : int, default=64
        Width of the dense hidden layer (ReLU) before the output layer.
    """

    def __init__(self, input_dim, n_classes, input_shape=None, filters=(16, 32), kernel_size=3,
                 hidden_units=64):
        super().__init__()
        shape = image_shape(int(input_dim), input_shape, "CNNClassifierModule")
        if shape[1] < 4 or shape[2] < 4:
            raise ValueError(f"CNNClassifierModule needs images of at least 4x4; got {shape}.")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd; got {kernel_size}.")
        self.input_shape = shape
        (f1, f2), pad = _widths(filters, "filters"), kernel_size // 2
        self.conv1 = nn.Conv2d(shape[0], f1, kernel_size, padding=pad)
        self.features = nn.Sequential(
            self.conv1, nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(f1, f2, kernel_size, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        )
        flat = f2 * (shape[1] // 4) * (shape[2] // 4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, int(hidden_units)), nn.ReLU(),
                                  nn.Linear(int(hidden_units), int(n_classes)))

    def _image(self, x):
        return x.reshape(x.shape[0], *self.input_shape)

    def forward(self, x):
        return self.head(self.features(self._image(x)))

    def first_layer_features(self, x):
        return self.conv1(self._image(x)).flatten(2)
