"""An attack-free per-sample MI estimate (the yardstick of the metrics)."""

from numbers import Integral

import numpy as np
import torch

from ..utils import resolve_device
from ._engines import MINEOptions, make_networks
from ._networks import StatisticsNetworks
from ._pairs import RandomProjectionPairs


@torch.no_grad()
def estimate_mi(
    X,
    X_other,
    *,
    n_mine_steps=200,
    n_pairs=64,
    pair_dim=32,
    mine_hidden_sizes=(32, 10),
    mine_lr=1e-3,
    batch_size=256,
    random_state=0,
    device="cpu",
    mine_backend="auto",
):
    """Per-sample MI estimate between rows of ``X`` and of ``X_other``.

    An attack-free yardstick: fresh statistics networks (random-projection
    pairs) are trained for ``n_mine_steps`` Adam steps on each pair of rows
    and the final bound is returned. Use the same settings for everything
    you compare (for example UAEs against Gaussian noise of equal
    distortion). The MINE keywords are those of
    :class:`~sk_uae.attacks.MinMaxMINE`.

    Parameters
    ----------
    X, X_other : array-like of shape (n_samples, n_features)
        Paired rows: row ``i`` of ``X`` is compared with row ``i`` of
        ``X_other`` (e.g. clean inputs and their adversarial examples).
    n_mine_steps : int, default=200
        Adam steps per network.
    n_pairs : int, default=64
        Number of random projections ``K`` (see
        :class:`RandomProjectionPairs`).
    pair_dim : int, default=32
        Dimension ``p`` of each projection.
    mine_hidden_sizes : tuple of int, default=(32, 10)
        Dense widths of each branch of the statistics networks.
    mine_lr : float, default=1e-3
        Adam learning rate.
    batch_size : int, default=256
        Rows estimated together.
    random_state : int, default=0
        Seeds projections, initial weights and shuffles (shared by all rows,
        so the result of a row does not depend on the batching).
    device : str or torch.device, default="cpu"
        Torch device of the computation: ``"cpu"``, ``"cuda"``,
        ``"cuda:<i>"`` or ``"auto"`` (CUDA when available, else the CPU).
    mine_backend : {"auto", "native", "fused", "autograd"}, default="auto"
        The MINE engine, as in :class:`~sk_uae.attacks.MinMaxMINE`:
        :class:`FusedStatisticsNetworks` (written-out gradients) through its
        compiled step where that applies (``"auto"`` and ``"native"``: on
        the CPU, with two dense layers and the compiled library; elsewhere
        as ``"fused"``) or in torch only (``"fused"``), or
        :class:`StatisticsNetworks` (autograd, the reference); the same
        estimates up to float rounding.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    device = resolve_device(device)
    options = MINEOptions(backend=mine_backend, n_steps=n_mine_steps, lr=mine_lr,
                          hidden_sizes=mine_hidden_sizes, n_pairs=n_pairs, pair_dim=pair_dim)
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}.")
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    X_other = torch.as_tensor(np.asarray(X_other, dtype=np.float32))
    if X.shape != X_other.shape or X.dim() != 2:
        raise ValueError(
            f"X and X_other must be 2-D arrays of one shape; got {tuple(X.shape)} "
            f"and {tuple(X_other.shape)}."
        )
    k, p = options.n_pairs, options.pair_dim
    out = []
    for start in range(0, X.shape[0], batch_size):
        g = torch.Generator().manual_seed(int(random_state))
        pairs = RandomProjectionPairs(X.shape[1], k, p, generator=g, device=device)
        init = StatisticsNetworks.initial_parameters(p, options.hidden_sizes, generator=g)
        perms = [torch.randperm(k, generator=g).to(device) for _ in range(options.n_steps + 1)]
        a = pairs(X[start : start + batch_size].to(device))
        b = pairs(X_other[start : start + batch_size].to(device))
        nets = make_networks(options, a.shape[0], p, init=init, device=device)
        nets.train(a, b, perms[:-1])
        out.append(nets.estimate(a, b, perms[-1]).cpu())
    return torch.cat(out).numpy()
