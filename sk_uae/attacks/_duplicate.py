"""Duplicate: the "attack" that returns its input (the duplicated-data baseline)."""

import torch

from ._base import AttackResult, BaseAttack


class Duplicate(BaseAttack):
    """Return every row unchanged.

    With :class:`~sk_uae.UAEAugmenter` this is the *duplicated data*
    baseline: the training set doubled with copies, so that a comparison
    with adversarial augmentation sees the same number of optimiser steps
    and the same rows, only without the perturbation.

    Examples
    --------
    >>> from sk_uae.attacks import Duplicate
    >>> Duplicate().get_params()
    {}
    """

    _parameter_constraints = {}

    def run(self, x, objective=None, *, y=None, feature_fn=None, seed=0):
        """Return a copy of ``x``; ``success`` is True for every row.

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Clean inputs.
        objective : objective object or None, default=None
            Unused.
        y : torch.Tensor of shape (B,), optional
            Unused.
        feature_fn : callable, optional
            Unused.
        seed : int, default=0
            Unused.

        Returns
        -------
        AttackResult
            ``x_adv`` equal to ``x``; ``mi`` and ``loss`` are NaN.
        """
        return AttackResult(x_adv=x.clone(),
                            success=torch.ones(x.shape[0], dtype=torch.bool, device=x.device))
