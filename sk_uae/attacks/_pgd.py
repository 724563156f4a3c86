"""Projected gradient descent (Madry et al.): a pure-torch engine and its parameter object."""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils._docstring import fill_doc
from ._base import (ATTACK_NOTE, CLIP_VALUES_DOC, EPS_SCALE_CONSTRAINT, EPS_SCALE_DOC, HOOK_DOCS,
                    OBJECTIVE_CONSTRAINTS, OBJECTIVE_DOC, AttackResult, _BoxAttack,
                    _ObjectiveMixin)
from ._common import CLIP_VALUES_CONSTRAINT, clip, feasible, masked, project
from ._random import row_normal, row_uniform


def random_start(x, eps, norm, seed):
    """A uniform draw in the ``norm`` ball of radius ``eps`` for every row.

    Row ``i``'s draw depends on the seed and on ``x[i]`` only (see
    :mod:`sk_uae.attacks._random`).
    """
    if norm == "linf":
        return ((row_uniform(x, seed) * 2 - 1) * eps).to(x.dtype)
    direction = row_normal(x, seed, stream=1)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-30)
    radius = row_uniform(x[:, :1], seed, stream=7).squeeze(1) ** (1.0 / x.shape[1])
    if isinstance(eps, torch.Tensor) and eps.ndim:  # per-column radii: an ellipsoid
        return direction * radius.to(x.dtype)[:, None] * eps
    return direction * (eps * radius).to(x.dtype)[:, None]


def pgd(x, objective, *, y=None, norm="linf", eps=0.3, eps_step=0.01, max_iter=40,
        random_init=False, clip_values=(0.0, 1.0), seed=0, constraints=None):
    """Run PGD on a batch (pure torch, any device): maximise the objective's attack loss.

    Each step moves ``x'`` by ``eps_step`` along the sign of the gradient of
    ``objective.adversarial_loss`` (``norm="linf"``) or along the gradient
    divided by its L2 norm (``norm="l2"``), clips to ``clip_values`` and
    projects ``x' - x`` onto the ``eps`` ball -- the update of the
    Adversarial Robustness Toolbox's PGD. The last iterate is returned.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
        Clean inputs.
    objective : objective object
        Provides ``prepare(x, y)``, ``adversarial_loss`` (the loss that is
        increased) and ``adversarial_success`` (see :mod:`sk_uae.attacks`).
    y : torch.Tensor of shape (B,), optional
        Labels (classifiers: true labels, or targets when the objective is
        targeted; ``None`` uses the model's predictions).
    norm : {"linf", "l2"}, default="linf"
        Norm of the step and of the ball: sign-of-gradient steps and a box
        (``"linf"``) or normalised-gradient steps and an L2 ball (``"l2"``).
    eps : float or torch.Tensor of shape (d,), default=0.3
        Radius of the ``norm`` ball on ``x' - x``; a tensor gives a radius
        per column (the L2 ball becomes the ellipsoid ``||(x' - x) / eps|| <= 1``).
    eps_step : float or torch.Tensor of shape (d,), default=0.01
        Step size (per column when a tensor, in proportion to ``eps``).
    max_iter : int, default=40
        Number of steps.
    random_init : bool, default=False
        Start from a uniform draw in the ball (:func:`random_start`) instead
        of ``x``.
    clip_values : tuple (low, high) or None, default=(0.0, 1.0)
        Valid input range (numbers, or tensors of the shape of ``x``: per
        element); ``None`` for unbounded data.
    seed : int, default=0
        Seeds the random start (unused without ``random_init``).
    constraints : TorchConstraints, optional
        Feature constraints: immutable columns take no step, and every
        iterate is projected onto the bounds and directions.

    Returns
    -------
    AttackResult
        ``success`` is ``objective.adversarial_success`` of the output; ``loss``
        its ``adversarial_loss``.
    """
    ctx = objective.prepare(x, y)
    x_adv = x.clone()
    if random_init:
        x_adv = feasible(x + random_start(x, eps, norm, seed), x, clip_values, constraints)
    per_column = isinstance(eps_step, torch.Tensor) and eps_step.ndim > 0
    for _ in range(max_iter):
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(objective.adversarial_loss(x_adv, x, ctx).sum(), x_adv)
        with torch.no_grad():
            grad = masked(grad, constraints)
            if norm == "linf":
                step = grad.sign()
            else:
                if per_column:  # the normalised step in units of eps_step
                    grad = grad * eps_step
                g = grad.norm(dim=1, keepdim=True)
                step = grad * torch.where(g == 0, g, 1 / g)
            x_adv = clip(x_adv + eps_step * step, clip_values)
            x_adv = feasible(x + project(x_adv - x, eps, norm), x, None, constraints)
    x_adv = x_adv.detach()
    with torch.no_grad():
        success = objective.adversarial_success(x_adv, x, ctx)
        loss = objective.adversarial_loss(x_adv, x, ctx)
    return AttackResult(x_adv=x_adv, success=success, loss=loss)


@fill_doc(note=ATTACK_NOTE, clip_values=CLIP_VALUES_DOC, objective=OBJECTIVE_DOC,
          eps_scale=EPS_SCALE_DOC)
class PGD(_ObjectiveMixin, _BoxAttack):
    """Projected gradient descent attack (L-infinity or L2), a baseline.

    Maximises the attacked model's loss inside the ``eps`` ball: for a
    classifier the cross-entropy of the label (untargeted) or minus that of
    the target (``targeted=True``), which aims at misclassification; for an
    autoencoder the reconstruction error of the clean input ("high-loss"
    examples; success means the error increased).

    %(note)s

    Parameters
    ----------
    eps : float, default=0.3
        Radius of the ``norm`` ball on ``x' - x``, in the units of
        ``eps_scale``.
    eps_step : float, default=0.01
        Step size, in the units of ``eps_scale``.
    max_iter : int, default=40
        Number of steps.
    norm : {"linf", "l2"}, default="linf"
        Norm of the ball and of the steps (sign of the gradient for
        ``"linf"``, gradient divided by its L2 norm for ``"l2"``); under a
        per-column ``eps_scale`` both are taken in its units (the L2 ball
        is the ellipsoid ``||(x' - x) / eps_scale_|| <= eps``).
    %(eps_scale)s
    random_init : bool, default=False
        Start from a uniform draw in the ball (per row; see
        :func:`random_start`) instead of ``x``.
    %(clip_values)s
    %(objective)s

    Examples
    --------
    >>> from sk_uae.attacks import PGD
    >>> PGD(eps=0.1, norm="l2").get_params()["norm"]
    'l2'
    """

    _parameter_constraints = {
        "eps": [Interval(Real, 0, None, closed="neither")],
        "eps_step": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "norm": [StrOptions({"linf", "l2"})],
        "eps_scale": EPS_SCALE_CONSTRAINT,
        "random_init": ["boolean"],
        "clip_values": CLIP_VALUES_CONSTRAINT,
        **OBJECTIVE_CONSTRAINTS,
    }

    def __init__(self, eps=0.3, eps_step=0.01, max_iter=40, norm="linf", eps_scale="range",
                 random_init=False, clip_values="auto", targeted=False, confidence=0.0,
                 objective="auto"):
        self.eps = eps
        self.eps_step = eps_step
        self.max_iter = max_iter
        self.norm = norm
        self.eps_scale = eps_scale
        self.random_init = random_init
        self.clip_values = clip_values
        self.targeted = targeted
        self.confidence = confidence
        self.objective = objective

    def _budget(self):
        return float(self.eps), self.norm

    @fill_doc(**HOOK_DOCS)
    def verify(self, objective, x_adv, x, y=None):
        """Whether each example is adversarial in the loss-increasing sense of ``objective``.

        Parameters
        ----------
        %(verify_params)s
        """
        with torch.no_grad():
            return objective.adversarial_success(x_adv, x, objective.prepare(x, y))

    def _run(self, batch):
        return pgd(batch.x, batch.objective, y=batch.y, norm=self.norm,
                   eps=self._engine_eps(batch.x, self.eps),
                   eps_step=self._engine_eps(batch.x, self.eps_step), max_iter=int(self.max_iter),
                   random_init=bool(self.random_init), clip_values=self._bounds(batch.x),
                   seed=batch.seed, constraints=batch.constraints)
