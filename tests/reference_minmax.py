"""A plain per-sample implementation of MinMax MINE, kept to check the batched engine.

Written independently of :func:`sk_uae.attacks.minmax_mine`: one sample at
a time, the statistics network evaluated layer by layer in its original
form (no composed weights), ``torch.optim.Adam`` for the network and plain
Python scalars for ``c``. It shares only the random draws (same seed, same
order: projection matrix, ``delta_0``, initial weights, shuffles), which is
what makes results comparable.
"""

import math

import torch

from sk_uae.mine import StatisticsNetworks


def reference_minmax(x, reconstruct, *, eps, lr=0.01, max_iter=40, initial_const=1e-3,
                     dual_step=0.1, n_mine_steps=20, mine_lr=1e-3, hidden_sizes=(32, 10),
                     n_pairs=64, pair_dim=32, clip_values=(0.0, 1.0), init="zeros", seed=0):
    """Attack one sample ``x`` of shape (d,); returns (x_adv, success, mi).

    Works in the dtype of ``x``; the random draws are made in float32 and
    cast, as the engine makes them.
    """
    d, dtype = x.shape[0], x.dtype
    g = torch.Generator().manual_seed(seed)
    proj = (torch.randn(d, n_pairs * pair_dim, generator=g) / math.sqrt(pair_dim)).to(dtype)
    if init == "uniform":
        delta = ((torch.rand(d, generator=g) * 2 - 1) * eps).to(dtype)
    else:
        delta = torch.zeros(d, dtype=dtype)
    flat = StatisticsNetworks.initial_parameters(pair_dim, hidden_sizes, generator=g).to(dtype)
    perms = [torch.randperm(n_pairs, generator=g)
             for _ in range((max_iter + 1) * (n_mine_steps + 1))]

    def pairs(v):
        z = (v @ proj).reshape(n_pairs, pair_dim)
        std = torch.sqrt(z.var(1, unbiased=False, keepdim=True) + 1e-12)
        return (z - z.mean(1, keepdim=True)) / std

    shapes = StatisticsNetworks.parameter_shapes(pair_dim, hidden_sizes)
    params = [p.clone().requires_grad_(True) for p in StatisticsNetworks.split(flat, shapes)]
    n_layer = 2 * len(hidden_sizes)
    opt = torch.optim.Adam(params, lr=mine_lr)

    def branch(ps, z):
        for w, b in zip(ps[0::2], ps[1::2]):
            z = z @ w + b
        return z

    def mi_of(a, b, perm):
        ha = branch(params[:n_layer], a)
        t_joint = torch.relu(ha + branch(params[n_layer:2 * n_layer], b)) @ params[-1]
        t_marg = torch.relu(ha + branch(params[n_layer:2 * n_layer], b[perm])) @ params[-1]
        return t_joint.mean() - torch.log(torch.exp(t_marg).mean())

    def clip(v):
        return v if clip_values is None else v.clamp(*clip_values)

    with torch.no_grad():
        clean = float(((x - reconstruct(x[None])[0]) ** 2).sum())
    fx = pairs(x)
    c = initial_const
    best, best_mi, fb, fb_f, fb_mi, found = x, math.inf, x, math.inf, math.inf, False
    for t in range(max_iter + 1):
        delta = delta.detach().requires_grad_(True)
        x_adv = clip(x + delta)
        fy = pairs(x_adv)
        for j in range(n_mine_steps):
            opt.zero_grad()
            (-mi_of(fx, fy.detach(), perms[t * (n_mine_steps + 1) + j])).backward()
            opt.step()
        f = torch.relu(((x - reconstruct(x_adv[None])[0]) ** 2).sum() - clean)
        mi = mi_of(fx, fy, perms[t * (n_mine_steps + 1) + n_mine_steps])
        fv, mv = float(f.detach()), float(mi.detach())
        if t > 0:
            if fv <= 0 and mv > 0:
                found = True
                if mv < best_mi:
                    best, best_mi = x_adv.detach(), mv
            if fv < fb_f:
                fb, fb_f, fb_mi = x_adv.detach(), fv, mv
        if t == max_iter:
            break
        (grad,) = torch.autograd.grad(c * f + mi, delta)
        c = max(0.0, (1 - dual_step * (t + 1) ** -0.25) * c + dual_step * fv)
        delta = (delta - lr * grad).clamp(-eps, eps)
    return (best, True, best_mi) if found else (fb, False, fb_mi)
