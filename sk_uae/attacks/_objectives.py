"""Attack objectives: small objects that turn a model into a per-sample loss.

An objective has

* ``mi_sign``: ``+1`` when the attack minimises the MI between ``x`` and
  ``x'`` (unsupervised UAEs: low-loss yet dissimilar), ``-1`` when it
  maximises it (supervised: misclassified yet similar);
* ``needs_labels``: whether ``prepare`` uses ``y`` (labels are dropped otherwise);
* ``prepare(x, y)``: constants of a batch (e.g. the clean loss), computed once;
* ``loss(x_adv, x, ctx)``: the attack loss ``f >= 0`` per sample, with
  ``f == 0`` meaning the adversarial goal is met. Differentiable in ``x_adv``.

Adding a new model family means adding one such class and a branch in
:func:`resolve_objective`.
"""

import torch


class ReconstructionObjective:
    """Low-loss autoencoder objective of the UAE paper.

    ``f(x') = max(0, ||x - AE(x')||^2 - ||x - AE(x)||^2)``: the autoencoder
    rebuilds the clean ``x`` from ``x'`` at least as well as from ``x``.

    Parameters
    ----------
    reconstruct : callable
        Maps a batch ``(B, d)`` to reconstructions ``(B, d)``.
    """

    mi_sign = 1.0
    needs_labels = False

    def __init__(self, reconstruct):
        self.reconstruct = reconstruct

    def _error(self, x_in, x):
        return (x - self.reconstruct(x_in)).pow(2).sum(-1)

    @torch.no_grad()
    def prepare(self, x, y=None):
        return self._error(x, x)

    def loss(self, x_adv, x, ctx):
        return torch.relu(self._error(x_adv, x) - ctx)


def resolve_objective(estimator, objective="auto", module=None):
    """Bind the objective that fits a fitted estimator.

    Parameters
    ----------
    estimator : fitted skorch-style estimator
        Must expose its torch module as ``module_``.
    objective : {"auto", "reconstruction"} or objective instance
        ``"auto"`` follows the estimator: autoencoders get the
        reconstruction objective.
    module : torch.nn.Module, optional
        The module to bind (e.g. a copy on another device); defaults to
        ``estimator.module_``.

    Returns
    -------
    objective object
    """
    if not isinstance(objective, str):
        return objective
    if module is None:
        module = getattr(estimator, "module_", None)
    if module is None:
        raise TypeError(
            f"cannot attack {type(estimator).__name__}: the estimator must be a fitted "
            "skorch-style net exposing its torch module as `module_` (for example "
            "sk_uae.models.AutoencoderNet)."
        )
    if objective in ("auto", "reconstruction"):
        return ReconstructionObjective(lambda x: _first_output(module(x)))
    raise ValueError(
        f"objective={objective!r} is not known; expected 'auto', 'reconstruction' "
        "or an objective object."
    )


def _first_output(out):
    return out[0] if isinstance(out, (tuple, list)) else out
