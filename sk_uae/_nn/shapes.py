"""Shape and activation helpers of the torch modules (pure torch)."""

import math

from torch import nn

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "identity": nn.Identity}


def make_activation(name, argname):
    """A fresh activation module by name; errors name ``argname``."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"{argname}={name!r} is not supported; expected one of "
                         f"{sorted(_ACTIVATIONS)}.")
    return _ACTIVATIONS[name]()


def image_shape(input_dim, input_shape, owner, argname="module__input_shape"):
    """Validate the image shape ``(C, H, W)`` of flattened inputs of width ``input_dim``.

    ``None`` means one square channel. Errors name ``owner`` and ``argname``.
    """
    if input_shape is None:
        side = int(round(math.sqrt(input_dim)))
        if side * side != input_dim:
            raise ValueError(
                f"{owner} got {input_dim} features, not a square image; pass "
                f"{argname}=(channels, height, width)."
            )
        input_shape = (1, side, side)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or math.prod(shape) != input_dim:
        raise ValueError(
            f"{owner}: {argname}={input_shape!r} does not match the {input_dim} features of X; "
            "expected (channels, height, width) with channels*height*width == n_features."
        )
    return shape
