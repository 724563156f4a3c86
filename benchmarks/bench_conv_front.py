"""The MINE conv front of the reference preset: time per Adam step, side by side.

Times one training step of ``B`` statistics networks with the reference's
Conv2D(16, 2) front on MNIST-sized first-layer maps (16 channels of 28x28,
widths (512, 10)) in three variants, in one process:

* ``composed_foreach`` -- the dense layers composed before they meet the
  pairs (what the dense-only networks do) and torch's multi-tensor Adam;
* ``direct_foreach`` -- the dense layers applied in turn;
* ``direct_fused`` -- applied in turn, and torch's fused Adam kernel (what
  :class:`~sk_uae.mine.StatisticsNetworks` does with a conv front);
* ``fused_engine`` -- :class:`~sk_uae.mine.FusedStatisticsNetworks` with the
  front: written-out gradients into buffers kept between steps, the same
  fused Adam kernel.

Then the first dense layer's three products for one network (both branches,
16 pairs of 11,664 values, 512 units) in the layouts and with the output
buffers that the choice was made on: the weight gradient into a fresh
tensor (what autograd does) and into a kept buffer, and the products with
the weights stored ``(inputs, units)`` and transposed.

The gradient in the pairs (once per attack iteration) is timed for the
autograd networks and the fused engine too. With ``--attack-rows N`` it also
times whole reference-preset attacks (``MinMaxMINE.reference()``, both
engines) of ``N`` MNIST rows on the reference's conv autoencoder, the cost a
study pays per row.

Usage::

    python benchmarks/bench_conv_front.py [--batch 8] [--steps 5] [--attack-rows 0]
        [--out benchmarks/results/bench_conv_front.json]
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (DEFAULT_MNIST, ROOT, best_seconds, environment, portable,  # noqa: E402
                     write_json)

from sk_uae import UAEGenerator  # noqa: E402
from sk_uae.attacks import MinMaxMINE  # noqa: E402
from sk_uae.mine import FusedStatisticsNetworks, StatisticsNetworks  # noqa: E402


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


def _time_products(repeats):
    n, k, p, h = 2, 16, 11664, 512
    g = torch.Generator().manual_seed(1)
    z, g_h = torch.randn(n, k, p, generator=g), torch.randn(n, k, h, generator=g)
    w = torch.randn(n, p, h, generator=g)
    wt = w.transpose(1, 2).contiguous()
    grad_w, grad_z = torch.empty(n, p, h), torch.empty(n, k, p)
    cases = {
        "weight_gradient_fresh_tensor": lambda: torch.bmm(z.transpose(1, 2), g_h),
        "weight_gradient_kept_buffer": lambda: torch.bmm(z.transpose(1, 2), g_h, out=grad_w),
        "forward_weights_inputs_by_units": lambda: torch.bmm(z, w),
        "forward_weights_transposed": lambda: torch.bmm(z, wt.transpose(1, 2)),
        "input_gradient_weights_inputs_by_units":
            lambda: torch.bmm(g_h, w.transpose(1, 2), out=grad_z),
        "input_gradient_weights_transposed": lambda: torch.bmm(g_h, wt, out=grad_z),
    }
    out = {}
    for name, fn in cases.items():
        best = out[name] = best_seconds(fn, repeats)
        print(f"{name:42s} {best * 1e3:7.2f} ms", flush=True)
    return out


def _time_grad(nets, a, b, perm, steps):
    def grad():
        if isinstance(nets, FusedStatisticsNetworks):
            return nets.estimate_and_grad(a, b, perm)[1]
        bb = b.clone().requires_grad_(True)
        return torch.autograd.grad(nets.estimate(a, bb, perm).sum(), bb)[0]

    grad()
    t0 = time.perf_counter()
    for _ in range(steps):
        grad()
    return (time.perf_counter() - t0) / steps


def _time_attacks(n_rows, mnist_dir):
    from sk_uae.datasets import load_mnist_idx
    from sk_uae.evaluation import make_model

    X, _ = load_mnist_idx(mnist_dir)
    model = make_model("reconstruction", "conv", X.shape[1], (1, 28, 28), 1, 0).fit(X[:500])
    out = {}
    for engine in ("autograd", "fused"):
        gen = UAEGenerator(model, MinMaxMINE.reference(mine_backend=engine), prefit=True,
                           batch_size=n_rows, random_state=0).fit(X[:500])
        t0 = time.perf_counter()
        X_adv, info = gen.generate(X[:n_rows])
        sec = time.perf_counter() - t0
        out[engine] = {"seconds_per_row": sec / n_rows,
                       "success_rate": float(info["success"].mean()), "X_adv": X_adv}
        print(f"attack, {engine:8s} {sec / n_rows:8.1f} s per row", flush=True)
    diff = float(abs(out["fused"].pop("X_adv") - out["autograd"].pop("X_adv")).max())
    return {"rows": n_rows, "engines": out, "max_abs_difference": diff,
            "speedup": out["autograd"]["seconds_per_row"] / out["fused"]["seconds_per_row"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--attack-rows", type=int, default=0)
    ap.add_argument("--mnist-dir", default=DEFAULT_MNIST)
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
    grad_seconds = {}
    for name, cls, fused in (("composed_foreach", _Composed, False),
                             ("direct_foreach", StatisticsNetworks, False),
                             ("direct_fused", StatisticsNetworks, True),
                             ("fused_engine", FusedStatisticsNetworks, True)):
        nets = cls(n, h * w, (512, 10), init=init, lr=1.5e-5, conv_front=front)
        sec = _time(nets, a, b, perm, args.steps, fused)
        rows[name] = {"seconds_per_step": sec, "seconds_per_row_step": sec / n,
                      "fused_adam": bool(nets._fused_adam)}
        print(f"{name:18s} {sec / n * 1e3:8.1f} ms per row and step", flush=True)
        if name in ("direct_fused", "fused_engine"):
            grad_seconds[name] = _time_grad(nets, a, b, perm, args.steps) / n
            print(f"{'':18s} {grad_seconds[name] * 1e3:8.1f} ms per row: gradient in the pairs",
                  flush=True)
        del nets
    base = rows["composed_foreach"]["seconds_per_step"]
    for r in rows.values():
        r["speedup_vs_composed_foreach"] = base / r["seconds_per_step"]
    per_row_attack = {name: rows[name]["seconds_per_row_step"] * 41 * 20
                      + grad_seconds[name] * 41 for name in grad_seconds}
    print("a 40-iteration attack, estimated: " + ", ".join(
        f"{k} {v:.0f} s per row" for k, v in per_row_attack.items()))
    products = _time_products(max(3, args.steps))
    attacks = _time_attacks(args.attack_rows, args.mnist_dir) if args.attack_rows else None
    write_json(args.out, {"benchmark": "bench_conv_front", "args": portable(vars(args)),
                          "environment": environment(), "variants": rows,
                          "pairs_gradient_seconds_per_row": grad_seconds,
                          "first_layer_products_seconds": products,
                          "attack_seconds_per_row_estimate": per_row_attack,
                          "attacks": attacks})


if __name__ == "__main__":
    main()
