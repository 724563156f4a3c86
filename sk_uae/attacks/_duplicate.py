"""Duplicate: the "attack" that returns its input (the duplicated-data baseline)."""

import torch

from ._base import AttackResult, BaseAttack, _ModelFreeMixin


class Duplicate(_ModelFreeMixin, BaseAttack):
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

    def _run(self, batch):
        x = batch.x
        return AttackResult(x_adv=x.clone(),
                            success=torch.ones(x.shape[0], dtype=torch.bool, device=x.device))
