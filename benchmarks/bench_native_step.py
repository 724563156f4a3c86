"""The compiled MINE step against the torch one, side by side in one process.

Times what the attack calls once per MinMax iteration, for one batch of
statistics networks: ``train`` (20 Adam steps) and ``estimate_and_grad`` (the
bound and its gradient in the ``x'`` pairs), with
``FusedStatisticsNetworks(native=True)`` and ``native=False`` on the same
pairs and weights, alternating, best of ``--repeats``; one torch thread, and
the compiled step also with two. For the compiled step also the
matrix-product FLOPs of a network's step and their rate against the
measured rate of a 1024 x 1024 float32 matmul on one thread.
Also the time of a first build of the library (compiler run, into an empty
cache folder).

With ``--march x86-64-v2,x86-64-v3,native`` it times instead, per
instruction-set level and in a fresh process each, the compiled step built
for that level (``SK_UAE_NATIVE_MARCH``) against the torch step with torch's
own kernels capped to the same level (``ATEN_CPU_CAPABILITY``,
``MKL_ENABLE_INSTRUCTIONS``, ``ONEDNN_MAX_CPU_ISA``), ``train`` (20 steps) at
the default sizes (batch 256) and the reference sizes (batch 16), one torch
thread, alternating, best of ``--repeats``; and what ``"auto"`` resolves to
there. It writes ``bench_native_step_levels.json``.

Usage::

    python benchmarks/bench_native_step.py [--repeats 7] [--out PATH]
    python benchmarks/bench_native_step.py --march x86-64-v2,x86-64-v3,native [--repeats 7]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, best_seconds, environment, matmul_rate, write_json  # noqa: E402

from sk_uae.mine import FusedStatisticsNetworks, StatisticsNetworks, _native  # noqa: E402

CASES = [  # (sizes, batch, K, p, hidden)
    ("default", 256, 64, 32, (32, 10)),
    ("default", 1024, 64, 32, (32, 10)),
    ("reference", 64, 500, 128, (512, 10)),
    ("reference", 256, 500, 128, (512, 10)),
]
N_STEPS = 20


def step_flops(k, p, hidden):
    """Matrix-product FLOPs of one network's training step, both branches.

    The forward composes the two dense layers (``h2 x h1 x p``) and applies
    them to the ``K`` pairs (``h2 x p x K``); the backward carries the
    statistics' gradient to the composed map (``h2 x K x p``) and on to both
    layers (two ``h2 x h1 x p``). Elementwise work is not counted.
    """
    h1, h2 = hidden
    return 2 * 2 * (3 * h2 * h1 * p + 2 * h2 * p * k)


def build_seconds():
    """A first build of the library into an empty cache folder (seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("SK_UAE_CACHE_DIR")
        os.environ["SK_UAE_CACHE_DIR"] = tmp
        try:
            _native._library = _native._UNSET
            t0 = time.perf_counter()
            built = _native.library() is not None
            seconds = time.perf_counter() - t0
        finally:
            if old is None:
                os.environ.pop("SK_UAE_CACHE_DIR")
            else:
                os.environ["SK_UAE_CACHE_DIR"] = old
        _native._library = _native._UNSET
    return built, seconds


def bench_case(sizes, batch, k, p, hidden, repeats, rate):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(batch, k, p, generator=g)
    b = 0.5 * a + torch.randn(batch, k, p, generator=g)
    init = StatisticsNetworks.initial_parameters(p, hidden, generator=g)
    perms = torch.stack([torch.randperm(k, generator=g) for _ in range(N_STEPS + 1)])
    lr = 1e-3 if sizes == "default" else 1.5e-5
    nets = {name: FusedStatisticsNetworks(batch, p, hidden, init=init, lr=lr, native=native)
            for name, native in (("native", True), ("torch", False))}
    times = {f"{name}_{part}": float("inf") for name in nets for part in ("train", "grad")}
    threads = torch.get_num_threads()
    for _ in range(repeats):  # alternating, so that both see the same machine
        for name, n in nets.items():
            times[f"{name}_train"] = min(times[f"{name}_train"], best_seconds(
                lambda n=n: n.train(a, b, perms[:N_STEPS]), 1))
            times[f"{name}_grad"] = min(times[f"{name}_grad"], best_seconds(
                lambda n=n: n.estimate_and_grad(a, b, perms[N_STEPS]), 1))
    # both trained the same steps: their bounds differ by float32 rounding only
    mi = {name: n.estimate(a, b, perms[N_STEPS]) for name, n in nets.items()}
    torch.set_num_threads(2)
    try:
        times["native_train_2_threads"] = best_seconds(
            lambda: nets["native"].train(a, b, perms[:N_STEPS]), repeats)
    finally:
        torch.set_num_threads(threads)
    row = {"sizes": sizes, "batch_size": batch, "n_pairs": k, "pair_dim": p,
           "hidden_sizes": list(hidden), "mine_steps": N_STEPS,
           "seconds": times,
           "train_speedup": times["torch_train"] / times["native_train"],
           "grad_speedup": times["torch_grad"] / times["native_grad"],
           "two_threads_speedup": times["native_train"] / times["native_train_2_threads"],
           "us_per_network_step_native": 1e6 * times["native_train"] / (batch * N_STEPS),
           "us_per_network_step_torch": 1e6 * times["torch_train"] / (batch * N_STEPS),
           "flops_per_network_step": step_flops(k, p, hidden),
           "native_step_flops_per_second":
               step_flops(k, p, hidden) * batch * N_STEPS / times["native_train"],
           "max_bound_difference": float((mi["native"] - mi["torch"]).abs().max())}
    row["matmul_rate_fraction"] = row["native_step_flops_per_second"] / rate
    print(f"{sizes:9s} batch {batch:5d}: train {1e3 * times['torch_train']:8.1f} ms torch, "
          f"{1e3 * times['native_train']:8.1f} ms native ({row['train_speedup']:.2f}x; "
          f"{row['us_per_network_step_native']:.1f} us per network-step), 2 threads "
          f"{row['two_threads_speedup']:.2f}x; estimate_and_grad "
          f"{1e3 * times['torch_grad']:.1f} vs {1e3 * times['native_grad']:.1f} ms "
          f"({row['grad_speedup']:.2f}x); bounds differ by {row['max_bound_difference']:.1e}",
          flush=True)
    print(f"{'':9s} compiled: {row['flops_per_network_step'] / 1e6:.2f} MFLOP per network-step at "
          f"{row['native_step_flops_per_second'] / 1e9:.1f} GFLOP/s, "
          f"{100 * row['matmul_rate_fraction']:.0f} % of the matmul rate", flush=True)
    return row


LEVEL_CASES = [  # (sizes, batch, K, p, hidden)
    ("default", 256, 64, 32, (32, 10)),
    ("reference", 16, 500, 128, (512, 10)),
]
# torch's own kernels capped to a level: ATen's dispatch (read once, at
# import), MKL's and oneDNN's (read at their first call); "native" caps nothing
TORCH_CAPS = {
    "x86-64-v2": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                  "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "x86-64-v3": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                  "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "x86-64-v4": {"ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
                  "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "native": {},
}


def level_worker(level, repeats):
    """One level's timings, in this process (run by :func:`levels` with its environment)."""
    from sk_uae.mine._engines import resolve_engine

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    built = _native.library() is not None
    out = {"level": level, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "built": built, "build_or_load_seconds": time.perf_counter() - t0,
           "vector_bytes": _native.vector_bytes(),
           "auto_engine": resolve_engine("auto"), "cases": []}
    if not built:
        return out
    for sizes, batch, k, p, hidden in LEVEL_CASES:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(batch, k, p, generator=g)
        b = 0.5 * a + torch.randn(batch, k, p, generator=g)
        init = StatisticsNetworks.initial_parameters(p, hidden, generator=g)
        perms = torch.stack([torch.randperm(k, generator=g) for _ in range(N_STEPS)])
        lr = 1e-3 if sizes == "default" else 1.5e-5
        nets = {name: FusedStatisticsNetworks(batch, p, hidden, init=init, lr=lr, native=native)
                for name, native in (("native", True), ("torch", False))}
        times = {name: float("inf") for name in nets}
        for _ in range(repeats):  # alternating, so that both see the same machine
            for name, n in nets.items():
                times[name] = min(times[name], best_seconds(lambda n=n: n.train(a, b, perms), 1))
        row = {"sizes": sizes, "batch_size": batch, "n_pairs": k, "pair_dim": p,
               "hidden_sizes": list(hidden), "mine_steps": N_STEPS,
               "native_ms": 1e3 * times["native"], "torch_ms": 1e3 * times["torch"],
               "speedup": times["torch"] / times["native"]}
        out["cases"].append(row)
    return out


def levels(names, repeats, out_path):
    payload = {"environment": environment(), "repeats": repeats, "command": " ".join(
        ["python benchmarks/bench_native_step.py", "--march", ",".join(names), "--repeats",
         str(repeats)]), "levels": []}
    import sk_uae

    # the workers import the sk_uae this process imported (not another copy on the path)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(sk_uae.__file__)))
    python_path = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory() as cache:
        for level in names:
            env = dict(os.environ, SK_UAE_CACHE_DIR=cache, SK_UAE_NATIVE_MARCH=level,
                       PYTHONPATH=python_path, **TORCH_CAPS.get(level, {}))
            run = subprocess.run([sys.executable, os.path.abspath(__file__), "--level-worker",
                                  level, "--repeats", str(repeats)], env=env, check=True,
                                 capture_output=True, text=True)
            row = json.loads(run.stdout.strip().splitlines()[-1])
            row["torch_caps"] = TORCH_CAPS.get(level, {})
            payload["levels"].append(row)
            for case in row["cases"]:
                print(f"{level:10s} ({row['vector_bytes']} B vectors, torch "
                      f"{row['torch_cpu_capability']:7s}) {case['sizes']:9s} "
                      f"batch {case['batch_size']:4d}: compiled {case['native_ms']:8.1f} ms, "
                      f"torch {case['torch_ms']:8.1f} ms, {case['speedup']:.2f}x; "
                      f"auto runs {row['auto_engine']!r}", flush=True)
            if not row["built"]:
                print(f"{level:10s}: the compiled step was not built "
                      f"({run.stderr.strip()[-300:]})", flush=True)
            write_json(out_path, payload)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=None, help="default: benchmarks/results/"
                   "bench_native_step.json, with --march bench_native_step_levels.json")
    p.add_argument("--march", default=None,
                   help="comma-separated levels (x86-64-v2, x86-64-v3, x86-64-v4, native) to "
                   "time the compiled step built for each against torch capped to it")
    p.add_argument("--level-worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.level_worker:
        print(json.dumps(level_worker(args.level_worker, args.repeats)))
        return
    results = os.path.join(ROOT, "benchmarks", "results")
    if args.march:
        levels([m.strip() for m in args.march.split(",") if m.strip()], args.repeats,
               args.out or os.path.join(results, "bench_native_step_levels.json"))
        return
    args.out = args.out or os.path.join(results, "bench_native_step.json")
    torch.set_num_threads(1)
    built, seconds = build_seconds()
    print(f"first build of the compiled step: {seconds:.1f} s (built: {built})")
    if _native.library() is None:
        sys.exit("the compiled MINE step could not be built here")
    rate = matmul_rate()
    print(f"measured float32 matmul rate (one thread, 1024^2): {rate / 1e9:.1f} GFLOP/s")
    payload = {"environment": environment(), "build_seconds": seconds,
               "matmul_flops_per_second": rate, "cases": []}
    for case in CASES:
        payload["cases"].append(bench_case(*case, repeats=args.repeats, rate=rate))
        write_json(args.out, payload)


if __name__ == "__main__":
    main()
