"""Carlini-Wagner L2 attack: a pure-torch engine and its parameter object."""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval

from ..utils._docstring import fill_doc
from ._base import (ATTACK_NOTE, CLIP_VALUES_DOC, OBJECTIVE_CONSTRAINTS, OBJECTIVE_DOC,
                    AttackResult, BaseAttack, _GoalMixin, _ObjectiveMixin)
from ._common import CLIP_VALUES_CONSTRAINT, feasible
from ._search import BestKeeper, ConstSearch


def carlini_wagner_l2(x, objective, *, y=None, initial_const=1e-2, binary_search_steps=9,
                      max_iter=100, lr=0.01, clip_values=(0.0, 1.0), constraints=None):
    """Run the Carlini-Wagner L2 attack on a batch (pure torch, any device).

    In tanh space ``x' = lo + (hi - lo) * (tanh(w) + 1) / 2`` (so ``x'``
    always lies in ``clip_values``), Adam minimises
    ``||x' - x||_2^2 + c * f(x')`` per sample, ``f`` being
    ``objective.loss`` (the margin objective for classifiers). Every iterate
    with ``f == 0`` is a candidate and the one of smallest L2 distortion is
    kept. ``c`` follows a per-sample binary search over
    ``binary_search_steps`` rounds (:class:`~sk_uae.attacks._search.ConstSearch`),
    each restarting ``w`` at the clean input. There is no randomness.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
        Clean inputs, within ``clip_values``.
    objective : objective object
        Provides ``prepare(x, y)`` and the attack loss ``loss(x_adv, x, ctx)``
        (see :mod:`sk_uae.attacks`), e.g. a :class:`MarginObjective`.
    y : torch.Tensor of shape (B,), optional
        Labels given to ``objective.prepare`` (classifiers: true labels, or
        targets when the objective is targeted; ``None`` uses the model's
        predictions).
    initial_const : float, default=1e-2
        Starting weight ``c`` of the attack loss, for every sample.
    binary_search_steps : int, default=9
        Rounds of the binary search over ``c``.
    max_iter : int, default=100
        Adam steps per round.
    lr : float, default=0.01
        Adam learning rate (in tanh space).
    clip_values : tuple (low, high), default=(0.0, 1.0)
        Valid input range (numbers, or tensors of the shape of ``x``: per
        element); required by the tanh change of variables.
    constraints : TorchConstraints, optional
        Feature constraints: every iterate is projected onto them (so the
        immutable columns get no gradient).

    Returns
    -------
    AttackResult
        Samples without any successful iterate get their clean input back
        (``success`` False, ``loss`` the clean ``f``).
    """
    lo, hi = clip_values
    ctx = objective.prepare(x, y)
    scaled = ((x - lo) / (hi - lo) * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)
    w0 = torch.atanh(scaled)
    search = ConstSearch(initial_const, x.shape[0], x.device, x.dtype)
    best = BestKeeper(x)
    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        success = torch.zeros_like(best.found)
        c = search.const
        for it in range(max_iter + 1):
            with torch.enable_grad():
                x_adv = feasible(lo + (hi - lo) * (torch.tanh(w) + 1) / 2, x, None, constraints)
                f = objective.loss(x_adv, x, ctx)
                dist = (x_adv - x).pow(2).sum(1)
            with torch.no_grad():
                ok = f.detach() <= 0
                best.offer(x_adv.detach(), ok, dist.detach(), loss=f.detach())
                success |= ok
            if it == max_iter:
                break
            opt.zero_grad()
            with torch.enable_grad():
                (dist + c * f).sum().backward()
            opt.step()
        search.update(success)
    with torch.no_grad():
        clean_f = objective.loss(x, x, ctx)
    loss = torch.where(best.found, best.extra.get("loss", clean_f), clean_f)
    return AttackResult(x_adv=best.x, success=best.found, loss=loss)


@fill_doc(note=ATTACK_NOTE, clip_values=CLIP_VALUES_DOC, objective=OBJECTIVE_DOC)
class CarliniWagnerL2(_GoalMixin, _ObjectiveMixin, BaseAttack):
    """Carlini-Wagner L2 attack, batched, a baseline.

    Finds, for every sample, the smallest L2 perturbation (within
    ``clip_values``) that meets the objective's goal -- for a classifier,
    misclassification (or the target, ``targeted=True``) with margin
    ``confidence``. See Carlini and Wagner, *Towards Evaluating the
    Robustness of Neural Networks*, IEEE S&P 2017.

    %(note)s

    Parameters
    ----------
    initial_const : float, default=1e-2
        Starting weight ``c`` of the attack loss.
    binary_search_steps : int, default=9
        Rounds of the binary search over ``c``.
    max_iter : int, default=100
        Adam steps per round.
    lr : float, default=0.01
        Adam learning rate (in tanh space).
    %(clip_values)s
        A range is required (the tanh change of variables needs one):
        ``None`` is refused.
    %(objective)s

    Examples
    --------
    >>> from sk_uae.attacks import CarliniWagnerL2
    >>> CarliniWagnerL2(binary_search_steps=5).get_params()["binary_search_steps"]
    5
    """

    _parameter_constraints = {
        "initial_const": [Interval(Real, 0, None, closed="neither")],
        "binary_search_steps": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "clip_values": CLIP_VALUES_CONSTRAINT,
        **OBJECTIVE_CONSTRAINTS,
    }
    _clip_required = True

    def __init__(self, initial_const=1e-2, binary_search_steps=9, max_iter=100, lr=0.01,
                 clip_values="auto", targeted=False, confidence=0.0, objective="auto"):
        self.initial_const = initial_const
        self.binary_search_steps = binary_search_steps
        self.max_iter = max_iter
        self.lr = lr
        self.clip_values = clip_values
        self.targeted = targeted
        self.confidence = confidence
        self.objective = objective

    def n_iterations(self):
        """``binary_search_steps * max_iter`` Adam steps.

        Returns
        -------
        int
        """
        return int(self.binary_search_steps) * int(self.max_iter)

    def _run(self, batch):
        return carlini_wagner_l2(
            batch.x, batch.objective, y=batch.y, initial_const=float(self.initial_const),
            binary_search_steps=int(self.binary_search_steps), max_iter=int(self.max_iter),
            lr=float(self.lr), clip_values=self._bounds(batch.x), constraints=batch.constraints)
