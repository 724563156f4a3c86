"""Gaussian noise of a given scale or distortion: the augmentation baseline."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import AttackResult, BaseAttack
from ._common import check_clip_values, clip
from ._random import row_normal


def gaussian_noise(x, *, sigma=0.1, eps=None, norm="linf", clip_values=(0.0, 1.0), seed=0):
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
        Range the noisy inputs are clipped to; ``None`` leaves them unclipped.
    seed : int, default=0
        Seed of the noise draws.

    Returns
    -------
    AttackResult
        ``success`` is True for every row (noise has no goal to miss).
    """
    z = row_normal(x, seed)
    if eps is None:
        noise = sigma * z
    else:
        size = z.abs().amax(1, keepdim=True) if norm == "linf" else z.norm(dim=1, keepdim=True)
        noise = z * (eps / size.clamp_min(1e-30))
    x_adv = clip(x + noise, clip_values)
    return AttackResult(x_adv=x_adv, success=torch.ones(x.shape[0], dtype=torch.bool,
                                                        device=x.device))


class GaussianNoise(BaseAttack):
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
    clip_values : tuple (low, high) or None, default=(0.0, 1.0)
        Valid input range the noisy inputs are clipped to; ``None`` for
        unbounded data.

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
        "clip_values": [tuple, list, None],
    }

    def __init__(self, sigma=0.1, eps=None, norm="linf", clip_values=(0.0, 1.0)):
        self.sigma = sigma
        self.eps = eps
        self.norm = norm
        self.clip_values = clip_values

    def _check(self):
        super()._check()
        check_clip_values(self.clip_values)

    def run(self, x, objective=None, *, y=None, feature_fn=None, seed=0):
        """Perturb one batch; see :meth:`BaseAttack.run`.

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Clean inputs, already on the computation device.
        objective : objective object or None, default=None
            Unused (noise has no goal).
        y : torch.Tensor of shape (B,), optional
            Unused.
        feature_fn : callable, optional
            Unused.
        seed : int, default=0
            Seed of the noise; row ``i``'s draw depends on it and on
            ``x[i]`` only.

        Returns
        -------
        AttackResult
            ``success`` is True for every row; ``mi`` and ``loss`` are NaN.
        """
        return gaussian_noise(
            x, sigma=float(self.sigma), eps=None if self.eps is None else float(self.eps),
            norm=self.norm,
            clip_values=None if self.clip_values is None else tuple(map(float, self.clip_values)),
            seed=seed)
