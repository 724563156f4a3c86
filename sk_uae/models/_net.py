"""Plumbing shared by the skorch nets of :mod:`sk_uae.models`."""

import numpy as np
import torch
from skorch import NeuralNet

from ..utils import seed_from_random_state, torch_seed


class SeededNetMixin:
    """Module sizes from the data, ``random_state`` seeding, batched inference.

    For subclasses of :class:`skorch.NeuralNet` that set ``n_features_in_``
    before initialising and have a ``random_state`` parameter.
    """

    def _module_kwargs_from_data(self):
        return {"input_dim": self.n_features_in_}

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        if isinstance(self.module, type) and hasattr(self, "n_features_in_"):
            for key, value in self._module_kwargs_from_data().items():
                kwargs.setdefault(key, value)
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def _train(self, X, y, *, initialize, **fit_params):
        """Seeded ``NeuralNet.partial_fit`` (after ``initialize()`` when asked)."""
        with torch_seed(seed_from_random_state(self.random_state), self.device):
            if initialize:
                self.initialize()
            NeuralNet.partial_fit(self, X, y, **fit_params)
        return self

    def _get_param_names(self):
        # skorch lists its private bookkeeping (``_params_to_validate``)
        # among the parameters; keep get_params/clone to real parameters
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def _forward_batches(self, fn, X, empty):
        """``fn`` on batches of the (validated, float32) ``X`` in eval mode, concatenated."""
        self.module_.eval()
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], self.batch_size):
                xb = torch.as_tensor(X[start : start + self.batch_size], device=self.device)
                out.append(fn(xb).cpu().numpy())
        return np.concatenate(out) if out else empty
