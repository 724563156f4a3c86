"""Small shared helpers (devices, seeds, labels, torch/numpy glue)."""

from ._labels import labels_to_indices
from ._torch import resolve_device, seed_from_random_state, torch_seed

__all__ = ["labels_to_indices", "resolve_device", "seed_from_random_state", "torch_seed"]
