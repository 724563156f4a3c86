"""Attacks as scikit-learn-style parameter objects.

Each attack stores its parameters (``get_params``/``set_params``), so a
meta-estimator exposes them to grid search as ``attack__<name>``. The work
is done by pure-torch engine functions, batched over samples and
device-agnostic; every random draw comes from the ``seed`` given to ``run``
and never depends on the batch layout.

Attacks: :class:`MinMaxMINE` (the UAE attack; unsupervised or, on
classifiers, supervised), and the baselines :class:`PGD`,
:class:`CarliniWagnerL2` and :class:`GaussianNoise`. Objectives
(:class:`ReconstructionObjective`, :class:`MarginObjective`,
:class:`ContrastiveObjective`) turn a model into the losses the attacks use;
:func:`resolve_objective` picks the one that fits an estimator.
"""

from ._base import AttackBatch, AttackResult, BaseAttack
from ._cw import CarliniWagnerL2, carlini_wagner_l2
from ._duplicate import Duplicate
from ._minmax import MinMaxMINE, minmax_mine, minmax_mine_search
from ._noise import GaussianNoise, gaussian_noise
from ._objectives import (ContrastiveObjective, MarginObjective, ReconstructionObjective,
                          resolve_objective)
from ._pgd import PGD, pgd

__all__ = [
    "AttackBatch",
    "AttackResult",
    "BaseAttack",
    "CarliniWagnerL2",
    "ContrastiveObjective",
    "Duplicate",
    "GaussianNoise",
    "MarginObjective",
    "MinMaxMINE",
    "PGD",
    "ReconstructionObjective",
    "carlini_wagner_l2",
    "gaussian_noise",
    "minmax_mine",
    "minmax_mine_search",
    "pgd",
    "resolve_objective",
]
