"""Small shared helpers (devices, seeds, torch/numpy glue)."""

from ._torch import resolve_device, seed_from_random_state, torch_seed

__all__ = ["resolve_device", "seed_from_random_state", "torch_seed"]
