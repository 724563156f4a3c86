"""Attacks as scikit-learn-style parameter objects.

Each attack stores its parameters (``get_params``/``set_params``), so a
meta-estimator exposes them to grid search as ``attack__<name>``. The work
is done by pure-torch engine functions, batched over samples and
device-agnostic.
"""

from ._base import AttackResult, BaseAttack
from ._minmax import MinMaxMINE, minmax_mine
from ._objectives import ContrastiveObjective, ReconstructionObjective, resolve_objective

__all__ = [
    "AttackResult",
    "BaseAttack",
    "ContrastiveObjective",
    "MinMaxMINE",
    "ReconstructionObjective",
    "minmax_mine",
    "resolve_objective",
]
