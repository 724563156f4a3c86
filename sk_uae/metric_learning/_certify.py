"""Certified L2 robustness radius of kNN predictions under a Mahalanobis metric."""

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_X_y, column_or_1d

from ._chunks import chunks, working_floats


def resolve_metric(metric, n_features):
    """Mahalanobis matrix ``M`` and a factor ``L`` (``M = L^T L``) of a metric spec.

    ``None`` is the Euclidean metric; an object with ``get_mahalanobis_matrix()``
    (a fitted :class:`LMNNPL`, or a metric-learn learner) gives its matrix; an
    array is taken as ``M`` itself and must be symmetric PSD.
    """
    if metric is None:
        M = np.eye(n_features)
    elif hasattr(metric, "get_mahalanobis_matrix"):
        M = np.asarray(metric.get_mahalanobis_matrix(), dtype=np.float64)
    else:
        M = check_array(metric, dtype=np.float64)
    if M.shape != (n_features, n_features):
        raise ValueError(f"The metric matrix M has shape {M.shape}; expected "
                         f"({n_features}, {n_features}) to match X.")
    if not np.allclose(M, M.T, atol=1e-10 * max(1.0, np.abs(M).max())):
        raise ValueError("The metric matrix M must be symmetric (pass M, not L).")
    eigval, eigvec = np.linalg.eigh((M + M.T) / 2)
    if eigval.min() < -1e-8 * max(1.0, eigval.max()):
        raise ValueError("The metric matrix M must be positive semi-definite.")
    L = np.sqrt(np.clip(eigval, 0, None))[:, None] * eigvec.T
    return L.T @ L, L


def sq_dist(A, B):
    """Squared Euclidean distances between the rows of two tensors."""
    sq = A.pow(2).sum(1)[:, None] + B.pow(2).sum(1)[None, :] - 2 * A @ B.T
    return sq.clamp_min(0)


def majority_counts(n_neighbors):
    """``(s_same, s_other)``: the true class keeps a strict majority of the ``k``
    neighbours unless ``s_other`` other-class points beat its ``s_same``-th
    nearest point; for odd ``k`` both are ``(k + 1) / 2``."""
    s_same = n_neighbors // 2 + 1
    return s_same, n_neighbors - s_same + 1


def certified_radius(X_train, y_train, X, y, metric=None, n_neighbors=1):
    """Certified input-space L2 radius of kNN predictions (a sound lower bound).

    For a point ``z`` of label ``y``, any perturbation of L2 norm below the
    returned radius leaves ``y`` with a strict majority among the ``k`` nearest
    training points under ``d_M``, so kNN still predicts ``y`` (whatever its
    tie-breaking). With ``eps_jl = [d_M^2(z, x_l) - d_M^2(z, x_j)]_+ /
    (2 ||M (x_l - x_j)||)`` (the distance from ``z`` to the bisector of a
    same-class ``x_j`` and another-class ``x_l``)::

        1-NN:  r(z) = min_l max_j eps_jl
        k-NN:  r(z) = s_other-th smallest over l of (s_same-th largest over j of eps_jl)

    with ``s_same = k // 2 + 1`` and ``s_other = k - s_same + 1`` (both
    ``(k + 1) / 2`` for odd ``k``; Wang et al., "Provably Robust Metric Learning",
    NeurIPS 2020). The radius is 0 where the true class has no strict majority
    (in particular where kNN is wrong). Memory is bounded by scikit-learn's
    ``working_memory`` through chunking.

    Parameters
    ----------
    X_train : array-like of shape (n_train, n_features)
        Points the kNN classifier stores.
    y_train : array-like of shape (n_train,)
        Their labels.
    X : array-like of shape (n_samples, n_features)
        Points to certify (in the same input space as ``X_train``: after any
        preprocessing, before the metric).
    y : array-like of shape (n_samples,)
        Their true labels.
    metric : None, fitted metric learner or array of shape (n_features, n_features)
        ``None``: Euclidean. An object with ``get_mahalanobis_matrix()`` such as a
        fitted :class:`LMNNPL`. An array is the PSD matrix ``M`` (not ``L``).
    n_neighbors : int, default=1
        ``k`` of the kNN classifier.

    Returns
    -------
    radii : ndarray of shape (n_samples,)
        ``inf`` where too few other-class points exist to ever flip the vote.
    """
    X_train, y_train = check_X_y(X_train, y_train, dtype=np.float64)
    X = check_array(X, dtype=np.float64)
    y = column_or_1d(y)
    if X.shape[1] != X_train.shape[1] or len(y) != len(X):
        raise ValueError("X must have the features of X_train and one label per row.")
    if n_neighbors < 1 or n_neighbors > len(y_train):
        raise ValueError(f"n_neighbors={n_neighbors} must be in [1, n_train].")
    M, L = resolve_metric(metric, X.shape[1])
    s_same, s_other = majority_counts(n_neighbors)
    as_t = lambda A: torch.as_tensor(A, dtype=torch.float64)  # noqa: E731
    Z_train, W_train, Z = as_t(X_train @ L.T), as_t(X_train @ M), as_t(X @ L.T)
    budget = working_floats()

    radii = np.zeros(len(X))
    for label in np.unique(y):
        query = np.flatnonzero(y == label)
        same = y_train == label
        n_same, n_other = int(same.sum()), int((~same).sum())
        if n_same < s_same:
            continue
        if n_other < s_other:
            radii[query] = np.inf
            continue
        Zs, Ws = Z_train[same], W_train[same]
        Zo, Wo = Z_train[~same], W_train[~same]
        q_size = max(1, min(len(query), budget // (n_same * min(n_other, 256))))
        o_size = max(1, min(n_other, budget // (n_same * q_size)))
        for qs in chunks(len(query), q_size):
            Zq = Z[query[qs]]
            d_same = sq_dist(Zq, Zs)
            per_other = [
                _pair_bounds(d_same, sq_dist(Zq, Zo[os]), sq_dist(Ws, Wo[os]).sqrt())
                .topk(s_same, dim=1).values[:, -1]
                for os in chunks(n_other, o_size)
            ]
            per_other = torch.cat(per_other, dim=1)
            radii[query[qs]] = (
                per_other.topk(s_other, dim=1, largest=False).values[:, -1].numpy()
            )
    return radii


def _pair_bounds(d_same, d_other, norm):
    """``eps_jl`` of shape (n_query, n_same, n_other).

    A pair with ``M (x_l - x_j) = 0`` can never swap order: its bound is ``inf``
    if ``x_j`` is strictly closer, else 0.
    """
    gap = (d_other[:, None, :] - d_same[:, :, None]).clamp_min(0)
    norm = 2 * norm[None]
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    stuck = torch.where(gap > 0, torch.full_like(gap, torch.inf), torch.zeros_like(gap))
    return torch.where(norm > 0, gap / safe, stuck)


def certified_accuracy(radii, eps):
    """Fraction of points certified at each radius: ``mean(radii > eps)``.

    Parameters
    ----------
    radii : array-like of shape (n_samples,)
        Output of :func:`certified_radius` (0 for misclassified points, so
        ``eps=0`` gives the clean accuracy under the strict-majority rule).
    eps : float or array-like
        Radius or radii.

    Returns
    -------
    accuracy : ndarray of shape (n_eps,)
        One value per radius (shape (1,) for a scalar ``eps``).
    """
    radii = column_or_1d(np.asarray(radii, dtype=np.float64))
    eps = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if eps.ndim != 1:
        raise ValueError("eps must be a scalar or a 1-D array.")
    return (radii[None, :] > eps[:, None]).mean(axis=1)
