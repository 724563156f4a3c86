"""Small helpers shared by the attack engines and parameter objects."""

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions

from ..utils._checks import ROUNDING_ULPS


def clip(x, clip_values):
    """Clamp to ``clip_values = (low, high)`` (numbers or tensors); ``None`` leaves ``x`` as is."""
    if clip_values is None:
        return x
    return x.clamp(clip_values[0], clip_values[1])


def project(delta, eps, norm):
    """Project per-row perturbations onto the ``norm`` ball of radius ``eps``.

    ``"linf"`` clamps each coordinate; ``"l2"`` rescales rows longer than
    ``eps`` (both exact projections). ``eps`` is a float or a tensor of
    per-column radii (shape ``(d,)``); with the latter the L2 ball is the
    ellipsoid ``||delta / eps||_2 <= 1``, onto which the rescaling projects
    along the ray, and columns of radius 0 stay 0.
    """
    if norm == "linf":
        return delta.clamp(-eps, eps)
    if isinstance(eps, torch.Tensor) and eps.ndim:
        # per-column radii: the ball of ||delta / eps||_2 <= 1, zero radius fixed
        free = eps > 0
        u = torch.where(free, delta / torch.where(free, eps, torch.ones_like(eps)), 0.0)
        n = u.norm(dim=1, keepdim=True)
        return u * torch.where(n > 1, 1 / n.clamp_min(1e-30), torch.ones_like(n)) * eps
    n = delta.norm(dim=1, keepdim=True)
    scale = torch.where(n > eps, eps / n.clamp_min(1e-30), torch.ones_like(n))
    return delta * scale


CLIP_VALUES_CONSTRAINT = [StrOptions({"auto"}), tuple, list, None]


def resolve_clip_values(clip_values, X, *, required=False, owner="the attack"):
    """The valid input range that ``clip_values`` stands for, given the fitting rows ``X``.

    Parameters
    ----------
    clip_values : "auto", tuple (low, high) or None
        ``"auto"``: the smallest and largest value of ``X`` over all columns
        (``None`` when ``X`` is empty or constant); a pair: itself, checked;
        ``None``: unbounded.
    X : ndarray of shape (n_samples, n_features)
        The rows the attacked model was fitted on.
    required : bool, default=False
        Whether the attack needs a range (``None`` raises ``ValueError``).
    owner : str, default="the attack"
        Named in the error messages.

    Returns
    -------
    tuple of two floats or None
    """
    if isinstance(clip_values, str):  # "auto", the only string the constraint lets through
        finite = X.size > 0 and float(X.min()) < float(X.max())
        resolved = (float(X.min()), float(X.max())) if finite else None
        if resolved is None and required:
            raise ValueError(f"{owner} needs a valid input range, but clip_values='auto' finds "
                             "none: the fitting rows are empty or constant. Pass "
                             "clip_values=(low, high).")
        return resolved
    if clip_values is None:
        if required:
            raise ValueError(f"{owner} needs clip_values=(low, high) or 'auto'; got None.")
        return None
    try:
        lo, hi = (float(v) for v in clip_values)
        ok = lo < hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("clip_values must be 'auto', None or (low, high) with low < high; "
                         f"got {clip_values!r}.")
    return lo, hi


def fit_rows_to_range(X, clip_values):
    """``X`` with values within float rounding of ``clip_values`` clipped into it.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to attack, float32 or float64.
    clip_values : tuple (low, high)
        An explicit valid input range.

    Returns
    -------
    ndarray
        ``X`` itself when it lies in the range, else a clipped copy.

    Raises
    ------
    ValueError
        If values lie outside the range by more than float rounding.
    """
    if X.size == 0:
        return X
    lo, hi = clip_values
    x_min, x_max = float(X.min()), float(X.max())
    if lo <= x_min and x_max <= hi:
        return X
    # values this close to a range's end are float rounding: clipped, not refused
    tol = ROUNDING_ULPS * np.finfo(X.dtype).eps * max(1.0, abs(lo), abs(hi))
    if x_min < lo - tol or x_max > hi + tol:
        raise ValueError(
            f"X has values in [{x_min:.6g}, {x_max:.6g}], outside the attack's "
            f"clip_values=({lo}, {hi}); rescale X (e.g. images to [0, 1]), or set "
            "attack__clip_values='auto' (the range of the training rows) or None (unbounded).")
    return np.clip(X, lo, hi)


def row_bounds(x, clip_values, auto):
    """Per-element bounds of the rows ``x`` for the engines.

    An explicit range applies as it is. A range fitted with ``"auto"`` is
    widened, element by element, to include the value itself: rows outside
    the training range (held-out data) are attacked as they are, and the
    perturbation never takes an element further out than it already was.
    Each row's bounds depend on that row only.

    Parameters
    ----------
    x : torch.Tensor or ndarray of shape (B, d)
        Clean rows.
    clip_values : tuple (low, high) or None
        The resolved range.
    auto : bool
        Whether it was resolved from ``"auto"``.

    Returns
    -------
    None, tuple of two floats, or tuple of two arrays shaped like ``x``
    """
    if clip_values is None or not auto:
        return clip_values
    lo, hi = clip_values
    if isinstance(x, torch.Tensor):
        return x.clamp(max=lo), x.clamp(min=hi)
    return np.minimum(x, lo), np.maximum(x, hi)


def feasible(x_adv, x, clip_values, constraints):
    """``x_adv`` clipped to the valid range, then projected onto the feature constraints."""
    x_adv = clip(x_adv, clip_values)
    return x_adv if constraints is None else constraints.project(x_adv, x)


def masked(grad, constraints):
    """``grad`` without the entries of immutable columns, which take no step."""
    return grad if constraints is None else constraints.step_mask(grad)
