"""Empirical minimum-norm attack on kNN under a Mahalanobis metric."""

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.utils.validation import check_array, check_X_y, column_or_1d

from ._certify import majority_counts, resolve_metric
from ._chunks import chunks, working_floats


def knn_attack(X_train, y_train, X, y, metric=None, n_neighbors=1, *, n_candidates=10,
               max_iter=200, n_bisect=30):
    """Find small real perturbations that change the kNN prediction.

    For each correctly classified point ``z`` (label ``y``) and each of its
    ``n_candidates`` nearest other-class training points ``x_l`` (class ``c``),
    the target set is ``x_l`` and its ``k // 2`` nearest class-``c`` training
    points. ``z`` is moved by successive projections onto the most violated
    bisector half-space ``d_M(z', x_t) <= d_M(z', x_j)`` (``x_t`` a target, ``x_j``
    any class-``y`` point) until every target beats every class-``y`` point, so
    class ``c`` out-votes ``y``. The perturbation is then shrunk by bisection
    along its direction, and every returned perturbation is verified by running
    the kNN classifier (scikit-learn's, on the metric's transformed points). The
    norms are upper bounds on the minimal adversarial perturbation, to set
    against the lower bounds of :func:`certified_radius`.

    Parameters
    ----------
    X_train, y_train : array-like
        Points and labels the kNN classifier stores.
    X, y : array-like
        Points to attack and their true labels.
    metric : None, fitted metric learner or array of shape (n_features, n_features)
        As in :func:`certified_radius` (an array is ``M``).
    n_neighbors : int, default=1
        ``k`` of the kNN classifier.
    n_candidates : int, default=10
        Other-class points tried as targets per point.
    max_iter : int, default=200
        Projection steps per target.
    n_bisect : int, default=30
        Bisection steps of the final shrinking.

    Returns
    -------
    perturbations : ndarray of shape (n_samples, n_features)
        ``X + perturbations`` is misclassified by kNN; zero rows where ``X`` is
        already misclassified, NaN rows where no adversarial example was found.
    """
    X_train, y_train = check_X_y(X_train, y_train, dtype=np.float64)
    X = check_array(X, dtype=np.float64)
    y = column_or_1d(y)
    M, L = resolve_metric(metric, X.shape[1])
    knn = KNeighborsClassifier(n_neighbors=n_neighbors).fit(X_train @ L.T, y_train)

    def fooled(points, labels):
        return knn.predict(points @ L.T) != labels

    delta = np.full(X.shape, np.nan)
    wrong = fooled(X, y)
    delta[wrong] = 0.0
    n_targets = majority_counts(n_neighbors)[0]
    for label in np.unique(y[~wrong]):
        query = np.flatnonzero((y == label) & ~wrong)
        same, other = np.flatnonzero(y_train == label), np.flatnonzero(y_train != label)
        if len(other) == 0:
            continue
        targets = _target_sets(X_train, y_train, other, X[query], L,
                               min(n_candidates, len(other)), n_targets)
        if targets is None:
            continue
        n_cand = targets.shape[1]
        start = np.repeat(X[query], n_cand, axis=0)
        moved = _project(start, targets.reshape(-1, targets.shape[2]), X_train, M, same,
                         max_iter)
        step = moved - start
        labels = np.full(len(start), label)
        ok = fooled(start + step, labels)
        step = _shrink(start, step, ok, labels, fooled, n_bisect)
        norms = np.where(ok, np.linalg.norm(step, axis=1), np.inf).reshape(-1, n_cand)
        best = norms.argmin(axis=1)
        found = np.isfinite(norms[np.arange(len(query)), best])
        rows = np.arange(len(query)) * n_cand + best
        delta[query[found]] = step[rows[found]]
    return delta


def _target_sets(X_train, y_train, other, Xq, L, n_cand, n_targets):
    """Indices (n_query, n_cand, n_targets): each candidate and its nearest classmates."""
    Z_train = X_train @ L.T
    cand = other[NearestNeighbors(n_neighbors=n_cand).fit(Z_train[other])
                 .kneighbors(Xq @ L.T, return_distance=False)]
    sets = np.empty(cand.shape + (n_targets,), dtype=np.intp)
    for c in np.unique(y_train[other]):
        members = np.flatnonzero(y_train == c)
        if len(members) < n_targets:
            return None
        mask = y_train[cand] == c
        if not mask.any():
            continue
        nn = NearestNeighbors(n_neighbors=n_targets).fit(Z_train[members])
        sets[mask] = members[nn.kneighbors(Z_train[cand[mask]], return_distance=False)]
    sets[..., 0] = cand  # the candidate itself leads its set
    return sets


def _project(start, targets, X_train, M, same, max_iter):
    """Successive projections onto ``d_M(z, x_t) - d_M(z, x_j) <= -margin``.

    ``d_M^2(z, x_t) - d_M^2(z, x_j) = 2 z.(w_j - w_t) + q_t - q_j`` with
    ``w = M x`` and ``q = x^T M x`` is affine in ``z``.
    """
    W = torch.as_tensor(X_train @ M)
    q = (torch.as_tensor(X_train) * W).sum(1)
    Ws, qs = W[same], q[same]
    margin = 1e-9 * max(1.0, float(q.abs().max()))
    out = torch.as_tensor(start).clone()
    size = max(1, working_floats() // (targets.shape[1] * len(same)))
    for rows in chunks(len(out), size):
        z, Wt, qt = out[rows], W[targets[rows]], q[targets[rows]]
        for _ in range(max_iter):
            h = (2 * ((z @ Ws.T)[:, None, :] - (z[:, None, :] * Wt).sum(-1)[:, :, None])
                 + qt[:, :, None] - qs[None, None, :])  # (p, n_targets, n_same)
            worst, flat = h.flatten(1).max(dim=1)
            active = worst > -margin
            if not active.any():
                break
            t, j = flat // len(same), flat % len(same)
            a = 2 * (Ws[j] - Wt[torch.arange(len(z)), t])
            scale = (worst + 2 * margin) / (a * a).sum(1).clamp_min(1e-300)
            z = z - torch.where(active, scale, 0)[:, None] * a
        out[rows] = z
    return out.numpy()


def _shrink(start, step, ok, labels, fooled, n_bisect):
    """Bisect the step length; ``hi`` always stays a verified adversarial length."""
    lo, hi = np.zeros(len(step)), np.ones(len(step))
    for _ in range(n_bisect):
        mid = (lo + hi) / 2
        bad = fooled(start + mid[:, None] * step, labels)
        hi = np.where(bad & ok, mid, hi)
        lo = np.where(bad & ok, lo, mid)
    return hi[:, None] * step
