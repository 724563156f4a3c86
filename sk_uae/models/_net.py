"""Plumbing shared by the skorch nets of :mod:`sk_uae.models`."""

import inspect

import numpy as np
import torch
from skorch import NeuralNet

from ..utils import resolve_device, seed_from_random_state, torch_seed
from ..utils._checks import check_finite_train_loss


class SeededNetMixin:
    """Module sizes from the data, ``random_state`` seeding, batched inference.

    For subclasses of :class:`skorch.NeuralNet` that set ``n_features_in_``
    before initialising and have a ``random_state`` parameter. Every
    training call ends with :meth:`_check_fit`.
    """

    def _module_kwargs_from_data(self):
        """Module arguments taken from the data; they fill those not given or ``"auto"``."""
        return {"input_dim": self.n_features_in_}

    def _resolve_from_data(self, X):
        """Hook: settings resolved from the training rows, once, before the module is built."""

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        if isinstance(self.module, type) and hasattr(self, "n_features_in_"):
            for key, value in self._module_kwargs_from_data().items():
                if key not in kwargs or _is_auto(kwargs[key]):
                    kwargs[key] = value
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def _check_runtime_params(self):
        """``batch_size`` and ``device`` errors named here, not deep inside torch."""
        bs = self.batch_size
        if isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or not (
                bs >= 1 or bs == -1):
            raise ValueError(
                f"batch_size must be a positive integer (or -1 for all rows at once); got {bs!r}."
            )
        if self.device is not None:
            resolve_device(self.device)

    def _train(self, X, y, *, initialize, **fit_params):
        """Seeded ``NeuralNet.partial_fit`` (after ``initialize()`` when asked)."""
        self._check_runtime_params()
        if isinstance(X, np.ndarray) and not X.flags.writeable:
            # a read-only array (pandas' copy-on-write view of a DataFrame, say): torch's
            # loader would wrap it as a tensor it may not write to, and warn
            X, y = (X.copy(), X.copy()) if y is X else (X.copy(), y)
        with torch_seed(seed_from_random_state(self.random_state), self.device):
            if initialize:
                self._resolve_from_data(X)
                self.initialize()
            NeuralNet.partial_fit(self, X, y, **fit_params)
        self._check_fit(X)
        return self

    def _check_fit(self, X):
        """Hook run after every training call on the rows ``X``: did the model learn?

        Raises ``ValueError`` when the training loss is not finite (the
        weights are then useless); subclasses add their own checks.
        """
        check_finite_train_loss(self, X)

    def _get_param_names(self):
        # skorch lists its private bookkeeping (``_params_to_validate``)
        # among the parameters; keep get_params/clone to real parameters
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def _forward_batches(self, fn, X, empty):
        """``fn`` on batches of the (validated, float32) ``X`` in eval mode, concatenated."""
        self._check_runtime_params()
        # C order: a Fortran-ordered X (e.g. from a DataFrame) would give other
        # float32 round-off than the same values in a NumPy array
        X = np.ascontiguousarray(X)
        step = self.batch_size if self.batch_size != -1 else max(1, X.shape[0])
        self.module_.eval()
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], step):
                xb = torch.as_tensor(X[start : start + step], device=self.device)
                out.append(fn(xb).cpu().numpy())
        return np.concatenate(out) if out else empty


def _is_auto(value):
    return isinstance(value, str) and value == "auto"


def module_default(module, name):
    """The default of ``module``'s constructor argument ``name`` (None if it has none)."""
    if not isinstance(module, type):
        return None
    try:
        param = inspect.signature(module).parameters.get(name)
    except (TypeError, ValueError):
        return None
    return None if param is None or param.default is inspect.Parameter.empty else param.default


# parameters the nets share, for their docstrings (fill_doc)
NET_DOCS = {
    "optimizer": """optimizer : torch optimizer class, default=torch.optim.Adam
        Optimiser of the module's parameters (``optimizer__*`` for its
        options).
    lr : float, default=1e-3
        Learning rate of the optimiser.
    max_epochs : int, default=20
        Epochs per ``fit`` (and per ``partial_fit`` call).""",
    "train_split": """train_split : callable or None, default=None
        No validation split by default (skorch's default holds out 20 %).
    verbose : int, default=0
        skorch's verbosity: ``0`` prints nothing, any positive value prints
        skorch's table of the epoch's scores after every epoch (and notes
        when the module is re-initialised). The history is recorded either
        way.""",
}
