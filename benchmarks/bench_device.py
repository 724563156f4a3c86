"""Throughput of the MinMax MINE attack on one device, and its share of the matmul peak.

For an MNIST-sized sparse autoencoder (784 -> 128) and the default attack
budget (``MinMaxMINE()``: 40 iterations, 20 MINE steps each), measures samples
per second at several batch sizes, counts the floating-point operations of
one attack with ``torch.utils.flop_counter.FlopCounterMode``, and compares the
achieved FLOP rate with the device's measured dense matmul rate (float32,
square products). On a GPU this is the figure of the scale issue; on a CPU it
runs too (small batches), which checks the script.

``--sizes default,reference`` runs the attack at the library's MINE sizes
and at the reference code's (those of ``MinMaxMINE.reference()``: 500
projections to 128 dimensions, widths (512, 10), MINE lr 1.5e-5), one row per
(sizes, batch).

Usage (from the repository root)::

    python -m benchmarks.bench_device [--device cuda|cpu|auto] [--batches 256,1024,4096]
        [--sizes default,reference] [--repeats 2] [--quick]
        [--out benchmarks/results/bench_device.json]

Rows are MNIST test images when the IDX files are at hand, otherwise random
images in [0, 1] of the same size (the throughput does not depend on the
pixel values; the JSON records which).
"""

import argparse
import os
import time

import numpy as np
import torch

from sk_uae.attacks import MinMaxMINE, ReconstructionObjective
from sk_uae.utils import resolve_device
from studies._common import DEFAULT_MNIST, ROOT, environment, sparse_ae, write_json


# the MINE sizes of the library's two presets: MinMaxMINE() and MinMaxMINE.reference()
SIZES = {"default": {},
         "reference": {k: v for k, v in MinMaxMINE.reference().get_params().items()
                       if k in ("n_pairs", "pair_dim", "mine_hidden_sizes", "mine_lr")}}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device, n=4096, repeats=10):
    """Measured float32 FLOP/s of an ``n x n`` matmul on ``device``."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def load_rows(n, mnist_dir):
    from sk_uae.datasets import load_mnist_idx

    if os.path.isfile(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")):
        X, _ = load_mnist_idx(mnist_dir)
        reps = -(-n // len(X))
        return np.tile(X, (reps, 1))[:n], "MNIST test images"
    return np.random.RandomState(0).rand(n, 784).astype(np.float32), "random images"


def attack_flops(attack, objective, x, device):
    """FLOPs of one attack run on ``x`` (counted on the device, not timed)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        attack.run(x, objective, seed=0)
    _sync(device)
    return counter.get_total_flops()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--batches", default=None, help="comma-separated batch sizes")
    p.add_argument("--sizes", default="default", help="comma-separated: default, reference")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="10 iterations, small batches")
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                 "bench_device.json"))
    args = p.parse_args(argv)
    unknown = set(args.sizes.split(",")) - set(SIZES)
    if unknown:
        p.error(f"--sizes: unknown {sorted(unknown)}; expected a comma-separated subset of "
                f"{sorted(SIZES)}")
    device = torch.device(resolve_device(args.device))
    gpu = device.type == "cuda"
    default_batches = "256,1024,4096" if gpu else ("16,64" if args.quick else "64,256")
    batches = [int(b) for b in (args.batches or default_batches).split(",")]

    X, source = load_rows(max(batches) + 2000, args.mnist_dir)
    ae = sparse_ae(784, epochs=2 if args.quick else 10).set_params(device=str(device))
    ae.fit(X[-2000:])
    module = ae.module_.eval()
    objective = ReconstructionObjective(lambda v: module(v)[0])
    peak = matmul_rate(device, n=4096 if gpu else 1024, repeats=20 if gpu else 3)
    print(f"{device}: measured float32 matmul rate {peak / 1e12:.2f} TFLOP/s", flush=True)

    rows, attacks = [], {}
    for sizes in args.sizes.split(","):
        kw = dict(SIZES[sizes], **({"max_iter": 10} if args.quick else {}))
        attack = attacks[sizes] = MinMaxMINE(**kw).fit(X[-2000:])
        for batch in batches:
            x = torch.as_tensor(X[:batch], device=device)
            attack.run(x[: min(batch, 16)], objective, seed=0)  # warm-up (kernels, allocator)
            flops = attack_flops(attack, objective, x, device)
            if gpu:
                torch.cuda.reset_peak_memory_stats(device)
            _sync(device)
            t0 = time.perf_counter()
            for r in range(args.repeats):
                res = attack.run(x, objective, seed=r)
            _sync(device)
            seconds = (time.perf_counter() - t0) / args.repeats
            row = {"sizes": sizes, "batch_size": batch, "seconds_per_batch": seconds,
                   "samples_per_second": batch / seconds, "flops_per_batch": flops,
                   "achieved_flops_per_second": flops / seconds,
                   "fraction_of_matmul_peak": flops / seconds / peak,
                   "success_rate": float(res.success.float().mean())}
            if gpu:
                row["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
            rows.append(row)
            print(f"{sizes} batch {batch}: {row['samples_per_second']:.1f} samples/s, "
                  f"{row['achieved_flops_per_second'] / 1e9:.1f} GFLOP/s "
                  f"({100 * row['fraction_of_matmul_peak']:.2f} % of the matmul rate)",
                  flush=True)
            write_json(args.out, _payload(args, device, gpu, source, attacks, peak, rows))

    write_json(args.out, _payload(args, device, gpu, source, attacks, peak, rows))


def _payload(args, device, gpu, source, attacks, peak, rows):
    env = environment()
    if gpu:
        env["gpu"] = torch.cuda.get_device_name(device)
    return {
        "environment": env, "device": str(device), "rows": source,
        "model": "SparseAutoencoder(784 -> 128)",
        "attacks": {sizes: a.get_params() for sizes, a in attacks.items()},
        "matmul_flops_per_second": peak, "results": rows,
        "note": "flops counted by torch.utils.flop_counter (matmuls and convolutions only)",
    }


if __name__ == "__main__":
    main()
