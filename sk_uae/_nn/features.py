"""First-layer activations of a module, for MINE's ``features`` pairs."""

from torch import nn


def first_layer(module):
    """The first ``Conv2d`` or ``Linear`` layer of ``module`` in registration order, or None."""
    return next((m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)


def first_layer_features(module):
    """Return ``fn(x) -> (B, K, p)``: the module's first-layer activations.

    Uses the module's own ``first_layer_features`` when it has one;
    otherwise runs the first ``Conv2d`` (channels become pairs, each map
    flattened) or ``Linear`` (units become scalar pairs) found by a forward
    hook on a full forward pass.

    Parameters
    ----------
    module : torch.nn.Module
        The (fitted) model's module, e.g. an estimator's ``module_``.

    Returns
    -------
    callable
    """
    own = getattr(module, "first_layer_features", None)
    if own is not None:
        return own
    first = first_layer(module)
    if first is None:
        raise ValueError(
            f"{type(module).__name__} has no Conv2d or Linear layer to take features from; "
            "use pairs='random_projection'."
        )

    def features(x):
        store = []
        handle = first.register_forward_hook(lambda m, i, o: store.append(o))
        try:
            module(x)
        finally:
            handle.remove()
        z = store[0]
        return z.flatten(2) if z.dim() > 2 else z.unsqueeze(-1)

    return features
