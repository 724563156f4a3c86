"""Triplets and loss terms of perturbation-loss metric learning (pure functions).

Notation (Yang, Guo, Dong, Xue, arXiv 2006.05945): ``M`` is the PSD Mahalanobis
matrix, ``d_M^2(a, b) = (a - b)^T M (a - b)``; a triplet ``(i, j, l)`` joins a point
``i``, one of its ``k`` target neighbours ``j`` (same class) and one of its ``v``
impostor candidates ``l`` (other class).  All terms are computed from ``X`` and
``W = X @ M`` gathered per chunk of points, so memory stays linear in ``n``.
"""

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from ._chunks import chunks, working_floats

# Added to ||M (x_l - x_j)||^2 before dividing, as in the reference code.
_EPS = 1e-10


def select_triplets(X, y, n_neighbors, n_impostors):
    """Target neighbours and impostor candidates, by Euclidean distance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Integer class labels; every class must have more than ``n_neighbors``
        members (checked by the caller).
    n_neighbors, n_impostors : int
        ``k`` and ``v``; ``n_impostors`` must not exceed the size of the smallest
        complement of a class.

    Returns
    -------
    targets : ndarray of shape (n_samples, n_neighbors)
        Indices of the nearest same-class points (the point itself excluded).
    impostors : ndarray of shape (n_samples, n_impostors)
        Indices of the nearest other-class points.
    """
    n_samples = X.shape[0]
    targets = np.empty((n_samples, n_neighbors), dtype=np.intp)
    impostors = np.empty((n_samples, n_impostors), dtype=np.intp)
    for label in np.unique(y):
        same = np.flatnonzero(y == label)
        other = np.flatnonzero(y != label)
        nn = NearestNeighbors(n_neighbors=n_neighbors).fit(X[same])
        targets[same] = same[nn.kneighbors(return_distance=False)]
        nn = NearestNeighbors(n_neighbors=n_impostors).fit(X[other])
        impostors[same] = other[nn.kneighbors(X[same], return_distance=False)]
    return targets, impostors


def perturbation_loss(D, norm_sq, min_margin):
    """Closed-form perturbation loss of each triplet and its partial derivatives.

    ``tau^2`` when ``x_i`` is already closer to the impostor (``D < 0``),
    ``tau^2 - D^2 / (4 N)`` with ``N = ||M (x_l - x_j)||^2`` when that squared
    margin is below ``tau^2``, else 0 (continuous in ``M``).

    Returns
    -------
    loss, dloss_dD, dloss_dN : torch.Tensor, each of the shape of ``D``.
    """
    tau2 = min_margin**2
    norm_sq = norm_sq + _EPS
    margin_sq = D**2 / (4 * norm_sq)
    active = (D >= 0) & (margin_sq < tau2)
    loss = torch.where(D < 0, torch.full_like(D, tau2), torch.relu(tau2 - margin_sq))
    zero = torch.zeros_like(D)
    dloss_dD = torch.where(active, -D / (2 * norm_sq), zero)
    dloss_dN = torch.where(active, margin_sq / norm_sq, zero)
    return loss, dloss_dD, dloss_dN


def lmnn_push(d_target, d_impostor):
    """Triplet hinge ``[1 + d_ij - d_il]_+`` summed over a chunk, and its derivatives
    with respect to ``d_target`` (c, k) and ``d_impostor`` (c, v)."""
    hinge = 1 + d_target[:, :, None] - d_impostor[:, None, :]
    active = (hinge > 0).to(hinge.dtype)
    return torch.relu(hinge).sum(), active.sum(2), -active.sum(1)


def nca_push(d_target, d_impostor):
    """NCA-style softmax loss summed over a chunk of points, and its derivatives.

    ``-log p_i`` where ``p_i`` is the softmax probability (over negative squared
    distances) that ``x_i`` picks one of its target neighbours among its target
    neighbours and impostor candidates.
    """
    logits = -torch.cat([d_target, d_impostor], dim=1)
    loss = (torch.logsumexp(logits, 1) - torch.logsumexp(-d_target, 1)).sum()
    p_all = torch.softmax(logits, 1)
    k = d_target.shape[1]
    return loss, torch.softmax(-d_target, 1) - p_all[:, :k], -p_all[:, k:]


# Base losses: each maps (d_target (c, k), d_impostor (c, v)) to its chunk sum and
# the sum's partial derivatives, and comes with the count it is averaged over.
BASE_LOSSES = {
    "lmnn": (lmnn_push, lambda n, k, v: n * k * v),
    "nca": (nca_push, lambda n, k, v: n),
}


def _take(A, index):
    """Rows of ``A`` at a 2-D index: shape ``index.shape + (n_features,)``."""
    return A.index_select(0, index.reshape(-1)).reshape(*index.shape, A.shape[1])


@torch.no_grad()
def objective_and_grad(M, X, targets, impostors, *, pull_weight, perturbation_weight,
                       min_margin, base="lmnn"):
    """Objective of LMNN(-PL) at ``M`` and its gradient in the symmetric matrices.

    ``mu/(n k) * sum_{i,j} d_ij + (1 - mu)/|B| * base + lambda/(n k v) * sum PL``
    with ``d_ij = d_M^2(x_i, x_j)``, ``|B|`` the count the base loss is averaged
    over. Computed over chunks of points from ``X`` and ``W = X @ M``; the
    gradient is a sum of weighted outer products, assembled with matrix products.

    Parameters
    ----------
    M : torch.Tensor of shape (n_features, n_features), symmetric.
    X : torch.Tensor of shape (n_samples, n_features), same dtype/device.
    targets, impostors : torch.LongTensor of shape (n_samples, k) and (n_samples, v).

    Returns
    -------
    value : float
    grad : torch.Tensor of shape (n_features, n_features), symmetric.
    """
    n_samples, n_features = X.shape
    k, v = targets.shape[1], impostors.shape[1]
    push, count = BASE_LOSSES[base]
    w_pull = pull_weight / (n_samples * k)
    w_push = (1 - pull_weight) / count(n_samples, k, v)
    w_pl = perturbation_weight / (n_samples * k * v)

    W = X @ M
    # grad = sym(X^T R): each weighted outer product x_a (.)^T is added to row a of R
    value, R = 0.0, torch.zeros_like(X)
    per_point = k * v * 4 + (k + v + 1) * n_features * 3
    for rows in chunks(n_samples, max(1, working_floats() // per_point)):
        tgt, imp = targets[rows], impostors[rows]
        Xi, Wi = X[rows, None, :], W[rows, None, :]
        Xj, Wj, Xl, Wl = _take(X, tgt), _take(W, tgt), _take(X, imp), _take(W, imp)
        A_target, A_impostor = Xi - Xj, Xi - Xl
        d_target = (A_target * (Wi - Wj)).sum(-1)  # (c, k)
        d_impostor = (A_impostor * (Wi - Wl)).sum(-1)  # (c, v)

        push_sum, g_target, g_impostor = push(d_target, d_impostor)
        value += w_pull * d_target.sum().item() + w_push * push_sum.item()
        g_target = w_pull + w_push * g_target
        g_impostor = w_push * g_impostor
        if perturbation_weight > 0:
            D = d_impostor[:, None, :] - d_target[:, :, None]  # (c, k, v)
            # N = ||M (x_l - x_j)||^2 = |w_l|^2 + |w_j|^2 - 2 w_j.w_l, no (c, k, v, d)
            norm_sq = ((Wj**2).sum(-1)[:, :, None] + (Wl**2).sum(-1)[:, None, :]
                       - 2 * torch.bmm(Wj, Wl.transpose(1, 2))).clamp_min(0)
            pl, dD, dN = perturbation_loss(D, norm_sq, min_margin)
            value += w_pl * pl.sum().item()
            g_impostor = g_impostor + w_pl * dD.sum(1)
            g_target = g_target - w_pl * dD.sum(2)
            # dN/dM = sym(2 u (M u)^T), u = x_l - x_j, M u = w_l - w_j
            gN = 2 * w_pl * dN
            _add_rows(R, imp, gN.sum(1)[..., None] * Wl - torch.bmm(gN.transpose(1, 2), Wj))
            _add_rows(R, tgt, gN.sum(2)[..., None] * Wj - torch.bmm(gN, Wl))
        # d_ia = a^T M a with a = x_i - x_a: outer products x_i a^T - x_a a^T
        pull_target = g_target[..., None] * A_target
        pull_impostor = g_impostor[..., None] * A_impostor
        R[rows] += pull_target.sum(1) + pull_impostor.sum(1)
        _add_rows(R, tgt, -pull_target)
        _add_rows(R, imp, -pull_impostor)
    grad = X.T @ R
    return value, (grad + grad.T) / 2


def _add_rows(R, index, values):
    """``R[index] += values`` with repeated indices accumulated."""
    R.index_add_(0, index.reshape(-1), values.reshape(-1, R.shape[1]))
