"""Gaussian noise of a given scale or distortion: the augmentation baseline."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils._docstring import fill_doc
from ._base import (CLIP_VALUES_DOC, EPS_SCALE_CONSTRAINT, EPS_SCALE_DOC, AttackResult,
                    _BoxAttack, _ModelFreeMixin)
from ._common import CLIP_VALUES_CONSTRAINT, feasible, masked
from ._random import row_normal


def gaussian_noise(x, *, sigma=0.1, eps=None, norm="linf", clip_values=(0.0, 1.0), seed=0,
                   scale=None, constraints=None):
    """Add Gaussian noise to a batch (pure torch, any device).

    With ``eps=None`` the noise is ``sigma * N(0, I)``; with ``eps`` each
    row's noise is rescaled to have ``norm`` exactly ``eps`` (before
    clipping), matching the distortion of an attack. Row ``i``'s draw depends
    on the seed and on ``x[i]`` only.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
        Clean inputs, on any device.
    sigma : float, default=0.1
        Standard deviation of the noise (used when ``eps`` is None).
    eps : float or None, default=None
        If given, every row's noise is rescaled so that its ``norm`` equals
        ``eps``; ``sigma`` is then ignored.
    norm : {"linf", "l2"}, default="linf"
        Norm that ``eps`` refers to.
    clip_values : tuple (low, high) or None, default=(0.0, 1.0)
        Range the noisy inputs are clipped to (numbers, or tensors of the
        shape of ``x``); ``None`` leaves them unclipped.
    seed : int, default=0
        Seed of the noise draws.
    scale : torch.Tensor of shape (d,), optional
        Per-column unit of ``sigma`` and ``eps``: the noise is drawn in
        units of ``scale`` (``eps`` bounds ``noise / scale``).
    constraints : TorchConstraints, optional
        Feature constraints the noisy rows are projected onto.

    Returns
    -------
    AttackResult
        ``success`` is True for every row (noise has no goal to miss).
    """
    z = row_normal(x, seed)
    if scale is not None:
        z = masked(z, constraints) * scale  # the unit of each column; immutable ones get none
    if eps is None:
        noise = sigma * z
    else:
        u = z if scale is None else torch.where(scale > 0, z / torch.where(
            scale > 0, scale, torch.ones_like(scale)), 0.0)
        size = u.abs().amax(1, keepdim=True) if norm == "linf" else u.norm(dim=1, keepdim=True)
        noise = z * (eps / size.clamp_min(1e-30))
    x_adv = feasible(x + noise, x, clip_values, constraints)
    return AttackResult(x_adv=x_adv, success=torch.ones(x.shape[0], dtype=torch.bool,
                                                        device=x.device))


@fill_doc(clip_values=CLIP_VALUES_DOC, eps_scale=EPS_SCALE_DOC)
class GaussianNoise(_ModelFreeMixin, _BoxAttack):
    """Gaussian noise as a parameter object (the augmentation baseline of the paper).

    Parameters
    ----------
    sigma : float, default=0.1
        Standard deviation of the noise (used when ``eps`` is None).
    eps : float or None, default=None
        If given, every row's noise is rescaled so that its ``norm`` equals
        ``eps`` ("matched distortion"); ``sigma`` is then ignored.
    norm : {"linf", "l2"}, default="linf"
        Norm that ``eps`` refers to.
    %(eps_scale)s
        ``sigma`` is measured in the same units.
    %(clip_values)s

    Notes
    -----
    The random draws come from the ``seed`` given to :meth:`run` (so from
    the generator's ``random_state``) and the row's values, never from the
    batch layout; identical rows get identical noise.

    Examples
    --------
    >>> from sk_uae.attacks import GaussianNoise
    >>> GaussianNoise(eps=0.1).get_params()["eps"]
    0.1
    """

    _parameter_constraints = {
        "sigma": [Interval(Real, 0, None, closed="left")],
        "eps": [Interval(Real, 0, None, closed="neither"), None],
        "norm": [StrOptions({"linf", "l2"})],
        "eps_scale": EPS_SCALE_CONSTRAINT,
        "clip_values": CLIP_VALUES_CONSTRAINT,
    }

    def __init__(self, sigma=0.1, eps=None, norm="linf", eps_scale="range", clip_values="auto"):
        self.sigma = sigma
        self.eps = eps
        self.norm = norm
        self.eps_scale = eps_scale
        self.clip_values = clip_values

    def _budget(self):
        return None if self.eps is None else (float(self.eps), self.norm)

    def _run(self, batch):
        scale = self._scale()
        if scale is not None:
            scale = torch.as_tensor(scale, device=batch.x.device, dtype=batch.x.dtype)
        return gaussian_noise(batch.x, sigma=float(self.sigma),
                              eps=None if self.eps is None else float(self.eps), norm=self.norm,
                              clip_values=self._bounds(batch.x), seed=batch.seed, scale=scale,
                              constraints=batch.constraints)
