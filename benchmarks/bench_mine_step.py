"""The fused MINE step's choices, each timed against its alternative in one process.

Two parts, one torch thread, best of ``--repeats``:

* ``groups``: :meth:`FusedStatisticsNetworks.train` (20 steps) plus
  ``estimate_and_grad`` with groups of 1 to 1,024 networks, at the default MINE
  sizes (batch 256 and 1,024) and the reference's (batch 64): the sweep behind
  the engine's group size;
* ``kernels``: single operations on the shapes of one group's step (default
  sizes, 64 networks; and the projection pairs at both sizes): the shuffle by
  ``index_select`` or ``gather``, the first product with the pairs as a
  transposed view or as a contiguous copy, the standard deviation of the
  pairs by ``var_mean`` or by a norm, and the pairs' backward;
* ``compile``: one MINE step of the default sizes written as plain torch
  operations (forward, the bound's gradient, Adam), eager and under
  ``torch.compile``, beside the engine's ``train`` on the same networks, for
  groups of 16 to 256 networks (20 steps each).

Usage::

    python benchmarks/bench_mine_step.py [--part groups,kernels,compile] [--repeats 5]
        [--out benchmarks/results/bench_mine_step.json]
"""

import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, environment, write_json  # noqa: E402

from sk_uae.mine import (FusedStatisticsNetworks, RandomProjectionPairs,  # noqa: E402
                         StatisticsNetworks, _fused)

SIZES = {"default": (64, 32, (32, 10)), "reference": (500, 128, (512, 10))}
SWEEPS = (("default", 256, (16, 32, 64, 128, 256)),
          ("default", 1024, (64, 256, 512, 1024)),
          ("reference", 64, (1, 2, 4, 8, 16, 64)))


def best_ms(fn, repeats, inner=1):
    fn()
    out = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        out = min(out, (time.perf_counter() - t0) / inner)
    return out * 1e3


def _problem(sizes, batch, seed=0):
    k, p, hidden = SIZES[sizes]
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 784, generator=g)
    pairs = RandomProjectionPairs(784, k, p, generator=g)
    init = StatisticsNetworks.initial_parameters(p, hidden, generator=g)
    perms = torch.stack([torch.randperm(k, generator=g) for _ in range(21)])
    fx = pairs(x)
    fy = pairs((x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1))
    return fx, fy, perms, p, hidden, init


def groups(repeats):
    out = []
    keep = _fused._GROUP_BYTES, _fused._MAX_GROUP
    try:
        for sizes, batch, group_sizes in SWEEPS:
            fx, fy, perms, p, hidden, init = _problem(sizes, batch)
            row = {"sizes": sizes, "batch_size": batch, "ms": {}}
            r = repeats if sizes == "default" else max(1, repeats // 3)
            for group in group_sizes:
                _fused._GROUP_BYTES, _fused._MAX_GROUP = 1 << 62, group
                nets = FusedStatisticsNetworks(batch, p, hidden, init=init, lr=1e-3)

                def run():
                    nets.train(fx, fy, perms[:20])
                    nets.estimate_and_grad(fx, fy, perms[20])

                row["ms"][group] = best_ms(run, r)
            _fused._GROUP_BYTES, _fused._MAX_GROUP = keep
            row["engine_group"] = FusedStatisticsNetworks(batch, p, hidden, init=init)._group_size(
                fx)
            print(f"groups {sizes} batch {batch}: " + ", ".join(
                f"{g}: {ms:.1f} ms" for g, ms in row["ms"].items())
                + f" (the engine picks {row['engine_group']})", flush=True)
            out.append(row)
    finally:
        _fused._GROUP_BYTES, _fused._MAX_GROUP = keep
    return out


def kernels(repeats):
    g = torch.Generator().manual_seed(0)
    n, h, k, p = 64, 10, 64, 32
    res = {}

    def pair(name, first, second, inner=200):
        res[name] = {"first_us": best_ms(first, repeats, inner) * 1e3,
                     "second_us": best_ms(second, repeats, inner) * 1e3}
        print(f"{name}: {res[name]['first_us']:.1f} us / {res[name]['second_us']:.1f} us",
              flush=True)

    hb, perm = torch.randn(n, h, k, generator=g), torch.randperm(k, generator=g)
    out = torch.empty_like(hb)
    index = perm.view(1, 1, k).expand(n, h, k)
    pair("shuffle (64, 10, 64): index_select / gather",
         lambda: torch.index_select(hb, 2, perm, out=out),
         lambda: torch.gather(hb, 2, index, out=out))
    ab = torch.randn(2 * n, k, p, generator=g)
    pt = torch.randn(2 * n, h, p, generator=g)
    abt, hbuf = ab.transpose(1, 2).contiguous(), torch.empty(2 * n, h, k)
    pair("first product (128, 10, 32) @ (128, 32, 64): transposed view / contiguous copy",
         lambda: torch.bmm(pt, ab.transpose(1, 2), out=hbuf),
         lambda: torch.bmm(pt, abt, out=hbuf))
    for sizes, batch in (("default", 256), ("reference", 64)):
        kk, pp, _ = SIZES[sizes]
        z = torch.randn(batch, kk, pp, generator=g)
        grad, std = torch.randn(batch, kk, pp, generator=g), torch.rand(batch, kk, 1) + 1
        inner = 20 if sizes == "default" else 5
        pair(f"pairs' std {tuple(z.shape)}: var_mean / norm",
             lambda: torch.var_mean(z, -1, unbiased=False, keepdim=True),
             lambda: torch.linalg.vector_norm(z, dim=-1, keepdim=True), inner)
        pair(f"pairs' backward, elementwise part {tuple(z.shape)}: with the centring / without",
             lambda: (grad - grad.mean(-1, keepdim=True)).sub_(
                 z * (grad * z).mean(-1, keepdim=True)).div_(std),
             lambda: torch.addcmul(grad, z, torch.linalg.vecdot(grad, z, dim=-1).unsqueeze(-1),
                                   value=-1.0 / pp).div_(std), inner)
    return res


def _plain_step(w1, b1, w2, b2, wo, ms, vs, ab, abt, perm, inverse, bc1, bc2, lr: float):
    """One Adam ascent step of two-layer statistics networks, in plain torch operations."""
    n2, h, k = w1.shape[0], w2.shape[1], ab.shape[1]
    n = n2 // 2
    pt1 = torch.bmm(w2, w1)
    c1 = torch.bmm(w2, b1.unsqueeze(-1)).squeeze(-1) + b2
    both = (torch.bmm(pt1, abt) + c1.unsqueeze(-1)).view(n, 2, h, k)
    ha, hb = both[:, 0], both[:, 1]
    u, v = ha + hb, ha + hb[:, :, perm]
    ru, rv = u.clamp(min=0), v.clamp(min=0)
    t_joint = (wo.unsqueeze(-1) * ru).sum(1)
    t_marg = (wo.unsqueeze(-1) * rv).sum(1)
    lse = torch.logsumexp(t_marg, 1)
    mi = t_joint.mean(1) - (lse - math.log(k))
    soft = torch.exp(t_marg - lse.unsqueeze(1))
    g_out = ru.mean(2) - (rv * soft.unsqueeze(1)).sum(2)
    g_u = (u > 0).to(u.dtype) * wo.unsqueeze(-1) / k
    g_v = -(v > 0).to(u.dtype) * wo.unsqueeze(-1) * soft.unsqueeze(1)
    g_h = torch.stack([g_u + g_v, g_u + g_v[:, :, inverse]], 1).view(n2, h, k)
    g_pt = torch.bmm(g_h, ab)
    g_c = g_h.sum(2)
    grads = [torch.bmm(w2.transpose(1, 2), g_pt), (g_c.unsqueeze(-1) * w2).sum(1),
             torch.bmm(g_pt, w1.transpose(1, 2)) + g_c.unsqueeze(-1) * b1.unsqueeze(1), g_c,
             g_out]
    out = []
    for w, g, m, s in zip((w1, b1, w2, b2, wo), grads, ms, vs):
        g = -g  # ascent
        m = m + (g - m) * 0.1
        s = s * 0.999 + g * g * 0.001
        out.append((w - lr / bc1 * m / (s.sqrt() / bc2 + 1e-8), m, s))
    return mi, out


def compiled(repeats):
    res = []
    for group in (16, 64, 256):
        fx, fy, perms, p, hidden, init = _problem("default", group)
        inverses = torch.argsort(perms, 1)
        nets = FusedStatisticsNetworks(group, p, hidden, init=init, lr=1e-3)
        ab = torch.stack([fx, fy], 1).reshape(2 * group, *fx.shape[1:])
        abt = ab.transpose(1, 2).contiguous()
        flat = [w.reshape(-1, *w.shape[2:]) for w in nets.theta[:-1]] + [nets.theta[-1]]
        step = torch.compile(_plain_step, dynamic=False)

        def run(fn):
            ws = [w.clone() for w in flat]
            ms, vs = [torch.zeros_like(w) for w in ws], [torch.zeros_like(w) for w in ws]
            for j in range(20):
                bc1 = torch.tensor(1 - 0.9 ** (j + 1))
                bc2 = torch.tensor(math.sqrt(1 - 0.999 ** (j + 1)))
                _, out = fn(*ws, ms, vs, ab, abt, perms[j], inverses[j], bc1, bc2, 1e-3)
                ws, ms, vs = [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]

        t0 = time.perf_counter()
        run(step)
        compile_s = time.perf_counter() - t0
        row = {"networks": group, "compile_seconds": compile_s,
               "plain_eager_ms": best_ms(lambda: run(_plain_step), repeats),
               "plain_compiled_ms": best_ms(lambda: run(step), repeats),
               "engine_ms": best_ms(lambda: nets.train(fx, fy, perms[:20]), repeats)}
        print(f"compile, {group} networks, 20 steps: plain eager {row['plain_eager_ms']:.1f} ms, "
              f"compiled {row['plain_compiled_ms']:.1f} ms (compiling {compile_s:.1f} s), "
              f"engine {row['engine_ms']:.1f} ms", flush=True)
        res.append(row)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="groups,kernels,compile")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                  "bench_mine_step.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    payload = {"benchmark": "bench_mine_step", "environment": environment()}
    parts = args.part.split(",")
    if "groups" in parts:
        payload["groups"] = groups(args.repeats)
        write_json(args.out, payload)
    if "kernels" in parts:
        payload["kernels"] = kernels(args.repeats)
        write_json(args.out, payload)
    if "compile" in parts:
        payload["compile"] = compiled(args.repeats)
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
