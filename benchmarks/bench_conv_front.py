"""The MINE conv front of the reference preset: time per Adam step, side by side.

Times one training step of ``B`` statistics networks with the reference's
Conv2D(16, 2) front on MNIST-sized first-layer maps (16 channels of 28x28,
widths (512, 10)) in three variants, in one process:

* ``composed_foreach`` -- the dense layers composed before they meet the
  pairs (what the dense-only networks do) and torch's multi-tensor Adam;
* ``direct_foreach`` -- the dense layers applied in turn;
* ``direct_fused`` -- applied in turn, and torch's fused Adam kernel (what
  :class:`~sk_uae.mine.StatisticsNetworks` does with a conv front).

Usage::

    python benchmarks/bench_conv_front.py [--batch 8] [--steps 5]
        [--out benchmarks/results/bench_conv_front.json]
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, environment, portable, write_json  # noqa: E402

from sk_uae.mine import StatisticsNetworks  # noqa: E402


class _Composed(StatisticsNetworks):
    def _branch(self, params, z):
        z = self._front(params[0], params[1], z)
        w, b = params[2], params[3]
        for w_next, b_next in zip(params[4::2], params[5::2]):
            b = (b.unsqueeze(-1) * w_next).sum(1) + b_next
            w = torch.bmm(w, w_next)
        return torch.baddbmm(b.unsqueeze(1), z, w)


def _time(nets, a, b, perm, steps, fused):
    nets._fused_adam = None if fused else False
    nets.step(a, b, perm)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        nets.step(a, b, perm)
    return (time.perf_counter() - t0) / steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                  "bench_conv_front.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    n, k, h, w = args.batch, 16, 28, 28
    front = (16, 2, (h, w))
    g = torch.Generator().manual_seed(0)
    init = StatisticsNetworks.initial_parameters(h * w, (512, 10), generator=g, conv_front=front)
    a, b = torch.randn(n, k, h * w, generator=g), torch.randn(n, k, h * w, generator=g)
    perm = torch.randperm(k, generator=g)
    rows = {}
    for name, cls, fused in (("composed_foreach", _Composed, False),
                             ("direct_foreach", StatisticsNetworks, False),
                             ("direct_fused", StatisticsNetworks, True)):
        nets = cls(n, h * w, (512, 10), init=init, lr=1.5e-5, conv_front=front)
        sec = _time(nets, a, b, perm, args.steps, fused)
        rows[name] = {"seconds_per_step": sec, "seconds_per_row_step": sec / n,
                      "fused_adam": bool(nets._fused_adam)}
        print(f"{name:18s} {sec / n * 1e3:8.1f} ms per row and step", flush=True)
    base = rows["composed_foreach"]["seconds_per_step"]
    for r in rows.values():
        r["speedup_vs_composed_foreach"] = base / r["seconds_per_step"]
    per_row_attack = rows["direct_fused"]["seconds_per_row_step"] * 41 * 21
    print(f"a 40-iteration attack: about {per_row_attack:.0f} s per row on one core")
    write_json(args.out, {"benchmark": "bench_conv_front", "args": portable(vars(args)),
                          "environment": environment(), "variants": rows,
                          "attack_seconds_per_row_estimate": per_row_attack})


if __name__ == "__main__":
    main()
