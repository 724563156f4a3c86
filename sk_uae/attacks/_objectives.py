"""Resolution of the objective an attack uses against a fitted estimator.

The objective classes themselves (:class:`ReconstructionObjective`,
:class:`MarginObjective`, :class:`ContrastiveObjective`) live in the neutral
layer below both attacks and models, so that a model can supply its own
objective (``uae_objective``) without importing the attacks.
"""

import torch
from sklearn.base import is_classifier

from .._nn.objectives import (ContrastiveObjective, MarginObjective, ReconstructionObjective,
                              first_output)

__all__ = ["ContrastiveObjective", "MarginObjective", "ReconstructionObjective",
           "attacked_module", "resolve_objective"]


def resolve_objective(estimator, objective="auto", module=None, *, targeted=False,
                      confidence=0.0):
    """Bind the objective that fits a fitted estimator.

    Parameters
    ----------
    estimator : fitted skorch-style estimator
        Must expose its torch module as ``module_``.
    objective : {"auto", "reconstruction", "margin"} or objective instance
        ``"auto"`` follows the estimator: an estimator with a method
        ``uae_objective(module)`` gets what it returns (e.g.
        :class:`ContrastiveObjective` for a ``ContrastiveNet``); classifiers
        (:func:`sklearn.base.is_classifier`) get the margin objective;
        everything else (autoencoders) the reconstruction objective.
    module : torch.nn.Module, optional
        The module to bind (e.g. a copy on another device); defaults to
        ``estimator.module_``.
    targeted : bool, default=False
        Passed to :class:`MarginObjective`. A targeted attack needs the margin
        objective: ``ValueError`` for the reconstruction objective and for an
        estimator's own objective (``uae_objective``).
    confidence : float, default=0.0
        Passed to :class:`MarginObjective`; a nonzero value with an
        estimator's own objective (``uae_objective``) raises ``ValueError``.

    Returns
    -------
    objective object

    Notes
    -----
    The margin objective needs logits. It uses the module's (first) output as
    logits, except when the estimator's criterion is ``torch.nn.NLLLoss`` --
    skorch's convention for modules that output probabilities -- where it
    takes their log (as skorch's ``NeuralNetClassifier.get_loss`` does).
    """
    if not isinstance(objective, str):
        return objective
    if module is None:
        module = attacked_module(estimator)
    own = getattr(estimator, "uae_objective", None)
    if objective == "auto":
        if own is not None:
            if targeted or confidence != 0:
                raise ValueError(
                    "targeted=True and confidence need a classifier (the 'margin' objective); "
                    f"the estimator {type(estimator).__name__} supplies its own objective "
                    f"(uae_objective), which takes neither; got targeted={targeted!r}, "
                    f"confidence={confidence!r}."
                )
            return own(module)
        objective = "margin" if is_classifier(estimator) else "reconstruction"
    if objective == "reconstruction":
        if targeted or confidence != 0:
            raise ValueError(
                "targeted=True and confidence need a classifier (the 'margin' objective); the "
                f"estimator {type(estimator).__name__} gets the 'reconstruction' objective, "
                f"which takes neither; got targeted={targeted!r}, confidence={confidence!r}."
            )
        return ReconstructionObjective(lambda x: first_output(module(x)))
    if objective == "margin":
        probabilities = isinstance(getattr(estimator, "criterion_", None), torch.nn.NLLLoss)

        def logits(x):
            z = first_output(module(x))
            return torch.log(z + torch.finfo(z.dtype).eps) if probabilities else z

        try:
            classes = estimator.classes_
        except AttributeError:
            classes = None
        return MarginObjective(logits, classes=classes, targeted=targeted, confidence=confidence)
    raise ValueError(
        f"objective={objective!r} is not known; expected 'auto', 'reconstruction', "
        "'margin' or an objective object."
    )



def attacked_module(estimator):
    """The torch module of a fitted skorch-style net (``module_``), or a clear ``TypeError``.

    Parameters
    ----------
    estimator : fitted estimator
        The model to attack.

    Returns
    -------
    torch.nn.Module
    """
    module = getattr(estimator, "module_", None)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"cannot attack {type(estimator).__name__}: the estimator must be a fitted "
            "skorch-style net exposing its torch module as `module_` (for example "
            "sk_uae.models.AutoencoderNet or sk_uae.models.ClassifierNet)."
        )
    return module
