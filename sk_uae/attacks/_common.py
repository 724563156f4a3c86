"""Small tensor helpers shared by the attack engines."""

import torch


def clip(x, clip_values):
    """Clamp to ``clip_values = (low, high)``; ``None`` leaves ``x`` as is."""
    if clip_values is None:
        return x
    return x.clamp(clip_values[0], clip_values[1])


def project(delta, eps, norm):
    """Project per-row perturbations onto the ``norm`` ball of radius ``eps``.

    ``"linf"`` clamps each coordinate; ``"l2"`` rescales rows longer than
    ``eps`` (both exact projections).
    """
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = delta.norm(dim=1, keepdim=True)
    scale = torch.where(n > eps, eps / n.clamp_min(1e-30), torch.ones_like(n))
    return delta * scale


def check_clip_values(clip_values, *, required=False, owner="the attack"):
    """Validate a ``clip_values`` parameter (``ValueError`` naming it)."""
    if clip_values is None:
        if required:
            raise ValueError(f"{owner} needs clip_values=(low, high); got None.")
        return
    try:
        lo, hi = clip_values
        ok = float(lo) < float(hi)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"clip_values must be (low, high) with low < high; got {clip_values!r}.")
