"""Stochastic augmentations for contrastive learning, in pure torch.

An augmentation is a small parameter object (``get_params``/``set_params``)
with two steps, so that the same draw can be applied to several batches:

* ``sample(n, n_features, generator)``: draw the random parameters of ``n``
  views from an explicit :class:`torch.Generator` (on the CPU). ``n = 1``
  gives one draw that ``apply`` broadcasts to every row of a batch;
* ``apply(x, params)``: transform a flat batch ``(B, d)``; differentiable in
  ``x`` (attacks back-propagate through it).

``aug(x, generator)`` does both with one draw per row. The same generator
state gives the same views.
"""

import math

import torch
from sklearn.base import BaseEstimator

from .shapes import image_shape


def _uniform(shape, low, high, generator):
    return low + (high - low) * torch.rand(shape, generator=generator)


def _check_nonneg(obj, *names):
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(
                f"{type(obj).__name__}: {name} must be a non-negative finite number; "
                f"got {value!r}."
            )


def params_to(params, x):
    """Augmentation parameters on ``x``'s device, floats in ``x``'s dtype.

    Tensors already there are returned as they are (no copy, no call).
    """
    def move(v):
        dtype = x.dtype if v.is_floating_point() else v.dtype
        if v.device == x.device and v.dtype == dtype:
            return v
        return v.to(device=x.device, dtype=dtype)

    return {k: move(v) for k, v in params.items()}


class _Augmentation(BaseEstimator):
    clip_values = None

    def __call__(self, x, generator):
        """Augment ``x`` (B, d) with one draw per row from ``generator``."""
        return self.apply(x, self.sample(x.shape[0], x.shape[1], generator))

    def _finish(self, x):
        if self.clip_values is not None:
            x = x.clamp(self.clip_values[0], self.clip_values[1])
        return x


class ImageAugment(_Augmentation):
    """Image views: random shift (pad and crop), flip, brightness/contrast, noise.

    In this order, per view: zero-pad by ``max_shift`` pixels and crop back
    at a random offset (a shift by up to ``max_shift`` pixels each way);
    flip left-right with probability 0.5 if ``flip``; ``x <- (x - m) * c + m
    + b`` with ``m`` the view's mean intensity, ``c ~ U[1 - contrast, 1 +
    contrast]``, ``b ~ U[-brightness, brightness]``; add Gaussian noise of
    standard deviation ``noise_std``; clip to ``clip_values``.

    Parameters
    ----------
    input_shape : tuple (C, H, W) or None, default=None
        Shape of the flattened images; ``None`` means one square channel.
    max_shift : int, default=1
        Largest shift in pixels, each way along each axis (0: no shift).
    flip : bool, default=False
        Off by default: a flipped digit is another symbol.
    brightness : float, default=0.2
        Half-width of the uniform brightness offset ``b``.
    contrast : float, default=0.2
        Half-width of the uniform contrast factor ``c`` around 1.
    noise_std : float, default=0.05
        Standard deviation of the added Gaussian noise.
    clip_values : tuple (low, high) or None, default=(0.0, 1.0)
        Range the views are clipped to; ``None`` leaves them unclipped.
    """

    def __init__(self, input_shape=None, max_shift=1, flip=False, brightness=0.2, contrast=0.2,
                 noise_std=0.05, clip_values=(0.0, 1.0)):
        self.input_shape = input_shape
        self.max_shift = max_shift
        self.flip = flip
        self.brightness = brightness
        self.contrast = contrast
        self.noise_std = noise_std
        self.clip_values = clip_values

    def _shape(self, n_features):
        return image_shape(n_features, self.input_shape, "ImageAugment", "input_shape")

    def sample(self, n, n_features, generator):
        """Random parameters of ``n`` views (dict of CPU tensors with leading dim ``n``).

        Parameters
        ----------
        n : int
            Number of views; ``1`` gives one draw that :meth:`apply`
            broadcasts to every row.
        n_features : int
            Input width ``d`` (flattened).
        generator : torch.Generator
            CPU generator of every draw; the same state gives the same
            parameters.

        Returns
        -------
        dict of torch.Tensor
        """
        self._shape(n_features)
        _check_nonneg(self, "max_shift", "brightness", "contrast", "noise_std")
        s = int(self.max_shift)
        return {
            "shift": torch.randint(0, 2 * s + 1, (n, 2), generator=generator),
            "flip": (torch.rand(n, generator=generator) < (0.5 if self.flip else 0.0)),
            "contrast": _uniform((n, 1), 1 - self.contrast, 1 + self.contrast, generator),
            "brightness": _uniform((n, 1), -self.brightness, self.brightness, generator),
            "noise": torch.randn((n, n_features), generator=generator) * self.noise_std,
        }

    def apply(self, x, params):
        """Augment ``x`` (B, d) with ``params`` of leading dim ``B`` or 1.

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Flat inputs, on any device; the result is differentiable in them.
        params : dict of torch.Tensor
            Output of :meth:`sample` with ``n`` equal to ``B`` or 1.

        Returns
        -------
        torch.Tensor of shape (B, d)
        """
        c, h, w = self._shape(x.shape[1])
        p = params_to(params, x)
        s = int(self.max_shift)
        img = x.reshape(x.shape[0], c, h, w)
        if s > 0:
            padded = torch.nn.functional.pad(img, (s, s, s, s))
            rows = p["shift"][:, 0, None] + torch.arange(h, device=x.device)  # (n, h)
            cols = p["shift"][:, 1, None] + torch.arange(w, device=x.device)  # (n, w)
            b = torch.arange(x.shape[0], device=x.device)[:, None, None]
            img = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]
            img = img.permute(0, 3, 1, 2)
        img = torch.where(p["flip"][:, None, None, None], img.flip(-1), img)
        flat = img.reshape(x.shape[0], -1)
        mean = flat.mean(1, keepdim=True)
        flat = (flat - mean) * p["contrast"] + mean + p["brightness"]
        return self._finish(flat + p["noise"])


class TabularAugment(_Augmentation):
    """Tabular views: random feature masking and Gaussian noise.

    Each feature is set to ``mask_value`` with probability ``mask_prob``,
    then Gaussian noise of standard deviation ``noise_std`` is added. Meant
    for standardised features (masking to 0 is masking to the mean).

    Parameters
    ----------
    mask_prob : float, default=0.2
        Probability that a feature is masked, in [0, 1).
    noise_std : float, default=0.1
        Standard deviation of the added Gaussian noise.
    mask_value : float, default=0.0
        Value a masked feature is set to.
    clip_values : tuple (low, high) or None, default=None
        Range the views are clipped to; ``None`` leaves them unclipped.
    """

    def __init__(self, mask_prob=0.2, noise_std=0.1, mask_value=0.0, clip_values=None):
        self.mask_prob = mask_prob
        self.noise_std = noise_std
        self.mask_value = mask_value
        self.clip_values = clip_values

    def sample(self, n, n_features, generator):
        """Random parameters of ``n`` views (dict of CPU tensors with leading dim ``n``).

        Parameters
        ----------
        n : int
            Number of views; ``1`` gives one draw that :meth:`apply`
            broadcasts to every row.
        n_features : int
            Input width ``d`` (flattened).
        generator : torch.Generator
            CPU generator of every draw; the same state gives the same
            parameters.

        Returns
        -------
        dict of torch.Tensor
        """
        _check_nonneg(self, "mask_prob", "noise_std")
        if self.mask_prob >= 1:
            raise ValueError(f"TabularAugment: mask_prob must be below 1; got {self.mask_prob!r}.")
        return {
            "mask": torch.rand((n, n_features), generator=generator) < self.mask_prob,
            "noise": torch.randn((n, n_features), generator=generator) * self.noise_std,
        }

    def apply(self, x, params):
        """Augment ``x`` (B, d) with ``params`` of leading dim ``B`` or 1.

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Flat inputs, on any device; the result is differentiable in them.
        params : dict of torch.Tensor
            Output of :meth:`sample` with ``n`` equal to ``B`` or 1.

        Returns
        -------
        torch.Tensor of shape (B, d)
        """
        p = params_to(params, x)
        x = torch.where(p["mask"], torch.full_like(x, float(self.mask_value)), x)
        return self._finish(x + p["noise"])
