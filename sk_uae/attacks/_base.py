"""Attack parameter objects: the sklearn-facing shell around pure-torch engines."""

import torch
from sklearn.base import BaseEstimator


class BaseAttack(BaseEstimator):
    """Base class of attack parameter objects.

    An attack object only stores its parameters (so ``get_params`` /
    ``set_params`` / :func:`sklearn.base.clone` work, and a meta-estimator
    exposes them as ``attack__<name>`` to :class:`~sklearn.model_selection.GridSearchCV`).
    The work happens in :meth:`run`, which the estimators call batch by
    batch with torch tensors; subclasses implement it on top of a pure
    torch engine function.
    """

    def run(self, x, objective, *, y=None, feature_fn=None, seed=0):
        """Attack one batch.

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Clean inputs, already on the computation device.
        objective : Objective
            The attack loss bound to the model (see :mod:`sk_uae.attacks`).
        y : torch.Tensor of shape (B,), optional
            Labels, for objectives that need them.
        feature_fn : callable, optional
            First-layer features of the model, for attacks that use them.
        seed : int
            Seed of every random draw; the same for every batch, so results
            do not depend on how the data are batched.

        Returns
        -------
        AttackResult
        """
        raise NotImplementedError

    def _check(self):
        """Validate the parameters (called by the estimators before a run)."""
        self._validate_params()


class AttackResult:
    """Per-sample outcome of one batch: tensors of leading size ``B``.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    x_adv : torch.Tensor of shape (B, d)
        The returned (adversarial) example of every input row.
    success : torch.BoolTensor of shape (B,)
        Whether the attack met its goal for the row.
    mi : torch.Tensor of shape (B,), default=None
        MI estimate of the returned example; ``None`` (attacks that estimate
        none) stores NaN for every row.
    loss : torch.Tensor of shape (B,), default=None
        Attack loss of the returned example: the objective's ``f`` for
        :class:`MinMaxMINE` and :class:`CarliniWagnerL2` (0 means the goal
        is met), its ``adversarial_loss`` for :class:`PGD`; ``None`` stores
        NaN for every row.
    """

    __slots__ = ("x_adv", "success", "mi", "loss")

    def __init__(self, x_adv, success, mi=None, loss=None):
        self.x_adv = x_adv
        self.success = success
        nan = torch.full_like(success, float("nan"), dtype=x_adv.dtype)
        self.mi = nan if mi is None else mi
        self.loss = nan if loss is None else loss
