"""Attack objectives: small objects that turn a model into a per-sample loss.

An objective has

* ``mi_sign``: ``+1`` when the attack minimises the MI between ``x`` and
  ``x'`` (unsupervised UAEs: low-loss yet dissimilar), ``-1`` when it
  maximises it (supervised: misclassified yet similar);
* ``needs_labels``: whether ``prepare`` uses ``y`` (labels are dropped otherwise);
* ``prepare(x, y)``: constants of a batch (e.g. the clean loss), computed once;
* ``loss(x_adv, x, ctx)``: the attack loss ``f >= 0`` per sample, with
  ``f == 0`` meaning the adversarial goal is met. Differentiable in ``x_adv``.
  :class:`~sk_uae.attacks.MinMaxMINE` and
  :class:`~sk_uae.attacks.CarliniWagnerL2` minimise it;
* ``adversarial_loss(x_adv, x, ctx)``: the per-sample loss that a
  loss-maximising attack (:class:`~sk_uae.attacks.PGD`) increases -- the
  cross-entropy of the true label for classifiers (minus that of the target
  when targeted), the reconstruction error for autoencoders ("high-loss"
  examples);
* ``adversarial_success(x_adv, x, ctx)``: boolean per sample, the goal of
  that direction (misclassified / target hit; reconstruction error above the
  clean one);
* optionally ``encode_labels(y)``: maps an array of class labels to the
  integer tensor-ready form that ``prepare`` expects (estimators call it
  before batching).

Adding a new model family means adding one such class and either a branch
in :func:`~sk_uae.attacks.resolve_objective` or, from the model's side, a method
``uae_objective(module)`` on the estimator that returns the bound objective
(``resolve_objective(..., "auto")`` calls it when present; this is how
:class:`~sk_uae.models.ContrastiveNet` gets :class:`ContrastiveObjective`).
"""

import numpy as np
import torch

from ..utils import labels_to_indices
from .augment import params_to
from .losses import nt_xent_bank


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

    def adversarial_loss(self, x_adv, x, ctx):
        return self._error(x_adv, x)

    def adversarial_success(self, x_adv, x, ctx):
        return self._error(x_adv, x) > ctx


# f must be zero with this much room (in logits) to spare, so that a success
# survives the float round-off of another forward pass of the same model
MARGIN_SLACK = 1e-4


class MarginObjective:
    """Carlini-Wagner margin objective of a classifier (supervised UAEs).

    On logits ``Z``: untargeted ``f(x') = max(0, Z_y(x') - max_{j != y} Z_j(x')
    + kappa + s0)``; targeted ``f(x') = max(0, max_{j != t} Z_j(x') - Z_t(x')
    + kappa + s0)``, with ``s0 = 1e-4`` a numerical slack so that ``f == 0``
    means misclassified (target hit) beyond doubt. Log-probabilities work as
    logits (they differ by a per-sample constant).
    ``mi_sign = -1``: the MinMax attack maximises the MI (misclassified yet
    similar). The loss-maximising direction is the cross-entropy of the label
    (untargeted) or minus that of the target (targeted).

    Parameters
    ----------
    logits : callable
        Maps a batch ``(B, d)`` to logits ``(B, n_classes)``.
    classes : array-like of shape (n_classes,), optional
        Labels of the logit columns (a fitted classifier's ``classes_``); used
        by :meth:`encode_labels`. ``None`` means the labels are the indices.
    targeted : bool, default=False
        Labels given to ``prepare`` are targets to reach, not labels to leave.
    confidence : float, default=0.0
        ``kappa``, the margin required beyond the decision boundary.
    """

    mi_sign = -1.0
    needs_labels = True

    def __init__(self, logits, *, classes=None, targeted=False, confidence=0.0):
        self.logits = logits
        self.classes = classes
        self.targeted = targeted
        self.confidence = confidence

    def encode_labels(self, y):
        """Indices into ``classes`` (int64 ndarray) of the labels ``y``.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Class labels (elements of ``classes``; indices when ``classes``
            is None).

        Returns
        -------
        ndarray of int64 of shape (n_samples,)
        """
        return labels_to_indices(y, self.classes)

    @torch.no_grad()
    def prepare(self, x, y=None):
        z = self.logits(x)
        if y is None:
            if self.targeted:
                raise ValueError("a targeted attack needs target labels: pass y (the targets).")
            return z.argmax(-1)
        y = torch.as_tensor(y, device=x.device).long()
        # checked once here, not in the attack loop: min/max would be host syncs
        if y.shape != (z.shape[0],) or (y.numel() and (y.min() < 0 or y.max() >= z.shape[1])):
            raise ValueError(
                f"labels must be class indices in [0, {z.shape[1]}) for {z.shape[0]} rows.")
        return y

    def _margin(self, x_adv, ctx):
        z = self.logits(x_adv)
        if ctx.shape[0] != z.shape[0]:
            raise ValueError(f"{ctx.shape[0]} labels for {z.shape[0]} rows.")
        own = z.gather(1, ctx[:, None]).squeeze(1)
        other = z.scatter(1, ctx[:, None], float("-inf")).amax(1)
        return (own - other) if not self.targeted else (other - own)

    def loss(self, x_adv, x, ctx):
        return torch.relu(self._margin(x_adv, ctx) + float(self.confidence) + MARGIN_SLACK)

    def adversarial_loss(self, x_adv, x, ctx):
        ce = torch.nn.functional.cross_entropy(self.logits(x_adv), ctx, reduction="none")
        return -ce if self.targeted else ce

    def adversarial_success(self, x_adv, x, ctx):
        return self.loss(x_adv, x, ctx) <= 0


_DRAW_CHUNK = 64  # augmentation draws moved to the device per chunk of steps


class ContrastiveObjective:
    """Low-loss contrastive objective: ``f(x') = max(0, L(x') - L(x))``.

    ``L`` is the NT-Xent loss of the two augmented views of one sample
    against a fixed bank of negatives
    (:func:`~sk_uae.models.nt_xent_bank`, on the projection
    head): ``x'`` is an adversarial example when the encoder finds its views
    at least as alike as those of ``x``. Within a call to :meth:`loss` the
    views of ``x`` and ``x'`` use the *same* augmentation draws (the
    reference code built its views without augmentation, which made the
    loss constant).

    Batch invariance: the loss of a sample depends on that sample only. The
    negatives are a fixed set (``negatives``, e.g. training rows kept by the
    net, projected once per :meth:`prepare`), never the other rows of the
    batch; the augmentation draw of the ``k``-th :meth:`loss` call after
    :meth:`prepare` comes from ``(seed, k)`` and is one draw broadcast to
    every row, so it does not depend on the batch layout either. (The MinMax
    engine calls ``prepare`` once per batch and ``loss`` once per iteration.)

    Parameters
    ----------
    module : torch.nn.Module
        Maps ``(B, d)`` to ``(projection, representation)`` (or to the projection).
    augmentation : augmentation object
        With ``sample(n, d, generator)`` and ``apply(x, params)``
        (:class:`~sk_uae.models.ImageAugment`, :class:`~sk_uae.models.TabularAugment`).
    negatives : array-like of shape (M, d)
        Inputs whose projections are the negatives.
    temperature : float, default=0.5
        Temperature ``t`` of the NT-Xent loss (the net's
        ``criterion__temperature``).
    seed : int, default=0
        Seed of the augmentation draws: call ``k`` after :meth:`prepare`
        uses a draw derived from ``(seed, k)``.
    """

    mi_sign = 1.0
    needs_labels = False

    def __init__(self, module, augmentation, negatives, temperature=0.5, seed=0):
        self.module = module
        self.augmentation = augmentation
        self.negatives = negatives
        self.temperature = temperature
        self.seed = seed

    def _project(self, x):
        return first_output(self.module(x))

    @torch.no_grad()
    def prepare(self, x, y=None):
        bank = torch.as_tensor(np.asarray(self.negatives), dtype=x.dtype, device=x.device)
        return {"negatives": self._project(bank), "step": 0}

    def draws(self, step, n_features):
        """The two views' augmentation parameters of call ``step`` (one draw each).

        Parameters
        ----------
        step : int
            Index of the :meth:`loss` call since :meth:`prepare`; with
            ``seed`` it seeds the draws.
        n_features : int
            Input width ``d``.

        Returns
        -------
        list of two dict
            Parameters of the two views, each with leading dimension 1
            (broadcast to every row by ``augmentation.apply``).
        """
        seed = int(np.random.SeedSequence([int(self.seed), int(step)]).generate_state(1)[0])
        g = torch.Generator().manual_seed(seed)
        return [self.augmentation.sample(1, n_features, g) for _ in range(2)]

    def view_loss(self, x, params, negatives):
        """Per-sample NT-Xent ``L`` of the views of ``x`` made with ``params``.

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Inputs.
        params : sequence of two dict
            Augmentation parameters of the two views (from :meth:`draws`).
        negatives : torch.Tensor of shape (M, p)
            Projections of the bank of negatives.

        Returns
        -------
        torch.Tensor of shape (B,)
        """
        z1, z2 = (self._project(self.augmentation.apply(x, p)) for p in params)
        return nt_xent_bank(z1, z2, negatives, self.temperature)

    def _device_draws(self, ctx, x):
        """:meth:`draws` of the next step, already on ``x``'s device.

        The draws are made on the CPU (so that every device gets the same
        ones) ``_DRAW_CHUNK`` steps at a time and moved in one copy per chunk,
        not one per step: a copy to a GPU waits for the device.
        """
        chunk, i = divmod(ctx["step"], _DRAW_CHUNK)
        if ctx.get("draw_chunk") != chunk:
            steps = [self.draws(s, x.shape[1])
                     for s in range(chunk * _DRAW_CHUNK, (chunk + 1) * _DRAW_CHUNK)]
            ctx["draw_chunk"] = chunk
            ctx["draw_cache"] = [
                params_to({k: torch.cat([st[view][k] for st in steps]) for k in steps[0][view]},
                          x)
                for view in range(2)]
        ctx["step"] += 1
        return [{k: v[i:i + 1] for k, v in view.items()} for view in ctx["draw_cache"]]

    def _losses(self, x_adv, x, ctx):
        # L(x') and L(x) under the same draws: the next step's
        params = self._device_draws(ctx, x)
        with torch.no_grad():
            clean = self.view_loss(x, params, ctx["negatives"])
        return self.view_loss(x_adv, params, ctx["negatives"]), clean

    def loss(self, x_adv, x, ctx):
        adv, clean = self._losses(x_adv, x, ctx)
        return torch.relu(adv - clean)

    def adversarial_loss(self, x_adv, x, ctx):
        """``L(x')`` (the "high-loss" direction a PGD baseline increases).

        Parameters
        ----------
        x_adv : torch.Tensor of shape (B, d)
            Perturbed inputs.
        x : torch.Tensor of shape (B, d)
            Clean inputs (the result does not depend on them).
        ctx : dict
            What :meth:`prepare` returned; its draw counter advances.

        Returns
        -------
        torch.Tensor of shape (B,)
        """
        return self._losses(x_adv, x, ctx)[0]

    def adversarial_success(self, x_adv, x, ctx):
        """``L(x') > L(x)`` under one fresh draw.

        Parameters
        ----------
        x_adv : torch.Tensor of shape (B, d)
            Perturbed inputs.
        x : torch.Tensor of shape (B, d)
            Clean inputs.
        ctx : dict
            What :meth:`prepare` returned; its draw counter advances.

        Returns
        -------
        torch.BoolTensor of shape (B,)
        """
        adv, clean = self._losses(x_adv, x, ctx)
        return adv > clean


def first_output(out):
    """The first element of a module's tuple or list output, or the output itself."""
    return out[0] if isinstance(out, (tuple, list)) else out
