"""Small shared helpers (devices, seeds, labels, torch/numpy glue)."""

from ._lazy import lazy_getattr

# imported on first use: the version module and the command line's parser need no torch
_PUBLIC = {"labels_to_indices": "._labels", "resolve_device": "._torch",
           "seed_from_random_state": "._torch", "torch_seed": "._torch"}

__all__ = ["labels_to_indices", "resolve_device", "seed_from_random_state", "torch_seed"]


__getattr__ = lazy_getattr(__name__, _PUBLIC)
