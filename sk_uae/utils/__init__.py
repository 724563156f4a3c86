"""Small shared helpers (devices, seeds, labels, torch/numpy glue)."""

import importlib

# imported on first use: the version module and the command line's parser need no torch
_PUBLIC = {"labels_to_indices": "._labels", "resolve_device": "._torch",
           "seed_from_random_state": "._torch", "torch_seed": "._torch"}

__all__ = ["labels_to_indices", "resolve_device", "seed_from_random_state", "torch_seed"]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sk_uae.utils' has no attribute {name!r}")
