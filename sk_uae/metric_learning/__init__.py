"""Perturbation-loss metric learning (LMNN-PL) and certified robustness of kNN."""

from ._attack import knn_attack
from ._certify import certified_accuracy, certified_radius
from ._lmnnpl import LMNNPL

__all__ = ["LMNNPL", "certified_accuracy", "certified_radius", "knn_attack"]
