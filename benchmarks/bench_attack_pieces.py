"""The pieces of one MinMax iteration, timed alone: MINE steps, pairs, the model's loss.

For each engine (autograd and fused): 20 MINE steps plus the bound's gradient
in the pairs, the pairs' forward and backward, and the attacked model's loss
forward and backward, on MNIST (the shared IDX files), best of ``--repeats``;
one torch thread. Prints milliseconds per iteration.

    python benchmarks/bench_attack_pieces.py --sizes default --batch 256
    python benchmarks/bench_attack_pieces.py --sizes reference --batch 64 --repeats 2
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import DEFAULT_MNIST, best_seconds, load, sparse_ae  # noqa: E402

from sk_uae.attacks import ReconstructionObjective  # noqa: E402
from sk_uae.mine import (FusedStatisticsNetworks, RandomProjectionPairs,  # noqa: E402
                         StatisticsNetworks)

SIZES = {"default": (64, 32, (32, 10)), "reference": (500, 128, (512, 10))}


def best(fn, repeats):
    return best_seconds(fn, repeats) * 1e3  # ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", choices=sorted(SIZES), default="default")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    X_train, X_eval = load("mnist", args.mnist_dir, n_train=2000, n_eval=args.batch)
    module = sparse_ae(784, epochs=3).fit(X_train).module_.eval()
    objective = ReconstructionObjective(lambda v: module(v)[0])
    x = torch.as_tensor(X_eval[: args.batch])
    k, dim, hidden = SIZES[args.sizes]
    g = torch.Generator().manual_seed(0)
    pairs = RandomProjectionPairs(784, k, dim, generator=g)
    init = StatisticsNetworks.initial_parameters(dim, hidden, generator=g)
    perms = [torch.randperm(k, generator=g) for _ in range(21)]
    delta = torch.zeros_like(x).requires_grad_(True)
    ctx = objective.prepare(x)
    fx, fy = pairs(x), pairs(x).detach()
    autograd_nets = StatisticsNetworks(len(x), dim, hidden, init=init, lr=1e-3)
    fused_nets = FusedStatisticsNetworks(len(x), dim, hidden, init=init, lr=1e-3)

    def mine_autograd():
        for perm in perms[:20]:
            autograd_nets.step(fx, fy, perm)
        fyg = fy.clone().requires_grad_(True)
        torch.autograd.grad(autograd_nets.estimate(fx, fyg, perms[20]).sum(), fyg)

    def mine_fused():
        fused_nets.train(fx, fy, perms[:20])
        fused_nets.estimate_and_grad(fx, fy, perms[20])

    def pairs_autograd():
        out = pairs((x + delta).clamp(0, 1))
        torch.autograd.grad(out, delta, torch.ones_like(out))

    def pairs_fused():
        out, cache = pairs.forward_for_backward((x + delta.detach()).clamp(0, 1))
        pairs.backward(torch.ones_like(out), cache)

    def model():
        f = objective.loss((x + delta).clamp(0, 1), x, ctx)
        torch.autograd.grad(f.sum(), delta)

    r = args.repeats
    print(f"MNIST, {args.sizes} MINE sizes, batch {args.batch}, ms per MinMax iteration:")
    print(f"  MINE (20 steps + gradient in the pairs): autograd {best(mine_autograd, r):.1f}, "
          f"fused {best(mine_fused, r):.1f}")
    print(f"  pairs forward + backward: autograd {best(pairs_autograd, r):.1f}, "
          f"fused {best(pairs_fused, r):.1f}")
    print(f"  model loss forward + backward: {best(model, r):.1f}")


if __name__ == "__main__":
    main()
