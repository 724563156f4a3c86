"""Contrastive losses (pure torch): SimCLR's NT-Xent, in batch and bank form."""

import torch
from torch import nn


def nt_xent(z1, z2, temperature=0.5, reduction="mean", groups=None):
    """NT-Xent loss of SimCLR on ``N`` view pairs (the ``2N`` anchors of a batch).

    For anchor ``a`` among the ``2N`` L2-normalised projections, with positive
    ``p`` (the other view of the same sample),
    ``l_a = -log(exp(s_ap / t) / sum_{k != a} exp(s_ak / t))`` with ``s``
    the cosine similarity. With ``groups``, the views of other pairs of the
    anchor's group are left out of the sum (they are no negatives).

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (N, p)
        Projections of the two views (row ``i`` of each is sample ``i``).
    temperature : float, default=0.5
        Temperature ``t`` dividing the cosine similarities (positive).
    reduction : {"mean", "none"}, default="mean"
        ``"none"`` returns the ``2N`` anchor losses (first the ``z1`` rows).
    groups : torch.Tensor of shape (N,), optional
        A group label per pair: pairs of one group are views of one sample
        (e.g. a row and its adversarial example, each paired with the clean
        row), so they are not each other's negatives. ``None``: every pair
        is its own group.

    Returns
    -------
    torch.Tensor
    """
    n = z1.shape[0]
    z = nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    excluded = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    if groups is not None:
        g = torch.as_tensor(groups, device=z.device).repeat(2)
        excluded = excluded | (g[:, None] == g[None, :])
        excluded[torch.arange(2 * n, device=z.device), positive] = False
    sim = sim.masked_fill(excluded, float("-inf"))
    losses = torch.logsumexp(sim, dim=1) - sim[torch.arange(2 * n, device=z.device), positive]
    return losses.mean() if reduction == "mean" else losses


def nt_xent_bank(z1, z2, negatives, temperature=0.5):
    """Per-sample NT-Xent of one view pair against a fixed bank of negatives.

    For sample ``i``, ``L_i = (l(z1_i, z2_i) + l(z2_i, z1_i)) / 2`` with
    ``l(a, b) = -log(exp(s_ab / t) / (exp(s_ab / t) + sum_k exp(s_{a n_k} / t)))``,
    ``s`` the cosine similarity and ``n_k`` the rows of ``negatives``. Row
    ``i`` of the result depends on row ``i`` of ``z1`` and ``z2`` only.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (B, p)
        Projections of the two views (row ``i`` of each is sample ``i``).
    negatives : torch.Tensor of shape (M, p)
        Projections of the fixed negatives, shared by every sample.
    temperature : float, default=0.5
        Temperature ``t`` dividing the cosine similarities (positive).

    Returns
    -------
    torch.Tensor of shape (B,)
    """
    z1 = nn.functional.normalize(z1, dim=1)
    z2 = nn.functional.normalize(z2, dim=1)
    neg = nn.functional.normalize(negatives, dim=1)
    pos = (z1 * z2).sum(1, keepdim=True) / temperature

    def one_side(a):
        logits = torch.cat([pos, a @ neg.T / temperature], dim=1)
        return torch.logsumexp(logits, dim=1) - pos[:, 0]

    return (one_side(z1) + one_side(z2)) / 2


class NTXentLoss(nn.Module):
    """NT-Xent as a torch criterion: ``NTXentLoss(temperature)(z1, z2, groups=None)``.

    The mean of :func:`nt_xent` over the ``2N`` anchors (``groups`` as there).

    Parameters
    ----------
    temperature : float, default=0.5
        Temperature ``t`` dividing the cosine similarities (positive).
    """

    def __init__(self, temperature=0.5):
        super().__init__()
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a positive number; got {temperature!r}.")
        self.temperature = float(temperature)

    def forward(self, z1, z2, groups=None):
        return nt_xent(z1, z2, self.temperature, groups=groups)
