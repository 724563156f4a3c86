"""The batched MinMax MINE engine against per-sample loops (``bench_attack.py --part loops``).

For digits and MNIST, with one fitted sparse autoencoder and the default
``MinMaxMINE`` hyperparameters: samples per CPU second of the engine at batch
sizes 1, 32 and 256 (batch 1 *is* the per-sample loop of the reference code,
through our engine), of an independent plain per-sample implementation
(``tests/reference_minmax.py``), and the time of one MinMax iteration relative
to one PGD-style gradient step on the same model and batch.
"""

import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, environment, load, sparse_ae, write_json  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
from reference_minmax import reference_minmax  # noqa: E402

from sk_uae.attacks import MinMaxMINE, ReconstructionObjective  # noqa: E402


def _timed(fn):
    """Wall and CPU seconds of ``fn()``; with one torch thread the CPU time is the
    steadier figure on a shared machine, and the speedups below use it."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - w0, time.process_time() - c0), out


def engine_rate(attack, objective, X, batch, n_rows):
    rows = torch.as_tensor(X[:n_rows])
    attack.run(rows[:batch], objective, seed=0)  # warm-up
    (wall, cpu), _ = _timed(lambda: [attack.run(rows[s:s + batch], objective, seed=0)
                                     for s in range(0, n_rows, batch)])
    return {"batch_size": batch, "n_samples": n_rows, "wall_seconds": wall, "cpu_seconds": cpu,
            "samples_per_second": n_rows / cpu, "samples_per_wall_second": n_rows / wall}


def reference_rate(attack, reconstruct, X, n_rows):
    def run():
        for i in range(n_rows):
            reference_minmax(torch.as_tensor(X[i]), reconstruct, eps=attack.eps,
                             max_iter=attack.max_iter, n_mine_steps=20,
                             n_pairs=attack.n_pairs, pair_dim=attack.pair_dim,
                             hidden_sizes=attack.mine_hidden_sizes, mine_lr=attack.mine_lr)
    (wall, cpu), _ = _timed(run)
    return {"n_samples": n_rows, "wall_seconds": wall, "cpu_seconds": cpu,
            "samples_per_second": n_rows / cpu, "samples_per_wall_second": n_rows / wall}


def pgd_step_seconds(reconstruct, x, repeats):
    def step():
        xa = x.clone().requires_grad_(True)
        loss = (x - reconstruct(xa)).pow(2).sum()
        (g,) = torch.autograd.grad(loss, xa)
        return (xa.detach() + 0.01 * g.sign()).clamp(0, 1)
    step()
    (_, cpu), _ = _timed(lambda: [step() for _ in range(repeats)])
    return cpu / repeats


def bench_dataset(name, args):
    n_rows = {1: 8 if args.quick else 16, 32: 64 if args.quick else 128, 256: 256}
    data = load(name, args.mnist_dir, n_train=2000, n_eval=256)
    if data is None:
        print(f"{name}: data not found, skipped")
        return None
    X_train, X_eval = data
    ae = sparse_ae(X_train.shape[1], epochs=5 if args.quick else 20).fit(X_train)
    module = ae.module_.eval()
    reconstruct = lambda v: module(v)[0]  # noqa: E731
    objective = ReconstructionObjective(reconstruct)
    attack = MinMaxMINE(max_iter=10 if args.quick else 40).fit(X_train)
    result = {"n_features": X_train.shape[1], "attack": attack.get_params(), "engine": []}
    for batch in (1, 32, 256):
        r = engine_rate(attack, objective, X_eval, batch, n_rows[batch])
        result["engine"].append(r)
        print(f"{name} engine batch {batch:4d}: {r['samples_per_second']:8.2f} samples/s")
    ref = reference_rate(attack, reconstruct, X_eval, n_rows[1])
    result["plain_per_sample_loop"] = ref
    print(f"{name} plain per-sample loop: {ref['samples_per_second']:8.2f} samples/s")
    base = result["engine"][0]["samples_per_second"]
    result["speedup_vs_engine_batch1"] = {r["batch_size"]: r["samples_per_second"] / base
                                          for r in result["engine"]}
    result["speedup_vs_plain_loop"] = {r["batch_size"]: r["samples_per_second"]
                                       / ref["samples_per_second"] for r in result["engine"]}
    x = torch.as_tensor(X_eval[:256])
    iteration = result["engine"][2]["cpu_seconds"] / attack.max_iter  # one batch of 256
    pgd = pgd_step_seconds(reconstruct, x, repeats=20)
    result["minmax_iteration_seconds_b256"] = iteration
    result["pgd_step_seconds_b256"] = pgd
    result["minmax_iteration_over_pgd_step"] = iteration / pgd
    print(f"{name} speedup at 256: {result['speedup_vs_engine_batch1'][256]:.1f}x vs batch 1, "
          f"{result['speedup_vs_plain_loop'][256]:.1f}x vs plain loop; one MinMax iteration = "
          f"{iteration / pgd:.1f} PGD steps")
    return result


def main(args):
    payload = {"environment": environment(), "quick": args.quick, "datasets": {}}
    for name in args.datasets.split(","):
        res = bench_dataset(name, args)
        if res is not None:
            payload["datasets"][name] = res
    write_json(args.out or os.path.join(ROOT, "benchmarks", "results",
                                        "bench_attack_loops.json"), payload)
