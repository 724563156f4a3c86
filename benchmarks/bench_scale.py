"""Scale: memory and time of generate_to on N and 10N rows, throughput, n_jobs 1 vs 2.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py [--quick] [--out PATH]

Rows are digits (d = 64) tiled to the wanted size; the attack is a small
MinMax MINE (the figures are about the streaming and parallel machinery,
not about attack quality). Peak memory is measured in a fresh subprocess per
size: ``ru_maxrss`` (whole process, torch included) and the tracemalloc peak
(Python and numpy allocations), for ``generate_to`` from a memory-mapped
input and, for contrast, for the in-memory ``generate``. Wall times of the
two are then measured side by side in this process, without tracemalloc,
alternating, two repetitions each (the ratios use the faster repetition).
"""

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, environment, write_json  # noqa: E402

CHILD = r"""
import json, pickle, resource, sys, time, tracemalloc
import numpy as np
import torch
torch.set_num_threads(1)
mode, gen_path, x_path, out_dir, shard = sys.argv[1:6]
with open(gen_path, "rb") as fh:
    gen = pickle.load(fh)
X = np.load(x_path, mmap_mode="r")
tracemalloc.start()
t0 = time.perf_counter()
if mode == "generate_to":
    res = gen.generate_to(out_dir, X, shard_size=int(shard))
else:
    res = gen.generate(np.asarray(X), return_info=False)
wall = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"wall_s": wall, "tracemalloc_peak_mb": peak / 2**20,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "checksum": float(np.asarray(res[:50], dtype=np.float64).sum())}))
"""


def make_generator(X_fit, attack_kw):
    from sk_uae import UAEGenerator
    from sk_uae.attacks import MinMaxMINE
    from sk_uae.models import AutoencoderNet, DenseAutoencoder

    ae = AutoencoderNet(DenseAutoencoder, module__hidden_units=16, max_epochs=5, lr=1e-2,
                        random_state=0)
    return UAEGenerator(ae, MinMaxMINE(**attack_kw), batch_size=128, random_state=0).fit(X_fit)


def tiled(X, n):
    reps = -(-n // len(X))
    return np.ascontiguousarray(np.tile(X, (reps, 1))[:n])


def run_child(mode, gen_path, x_path, out_dir, shard):
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, gen_path, x_path, out_dir,
                           str(shard)], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rate(fn, n_rows):
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": wall, "rows_per_s_wall": n_rows / wall, "cpu_s": cpu}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "bench_scale.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from sk_uae.datasets import load_digits_images

    X_all, _ = load_digits_images()
    n = 400 if args.quick else 2000
    shard = 256
    attack_kw = dict(eps=0.3, max_iter=8, n_mine_steps=5, n_pairs=16, pair_dim=8,
                     mine_hidden_sizes=(16, 4))
    gen = make_generator(X_all[:600], attack_kw)
    result = {"environment": environment(), "quick": args.quick, "n": n, "shard_size": shard,
              "attack": attack_kw, "model": "DenseAutoencoder(16), digits d=64"}

    with tempfile.TemporaryDirectory() as tmp:
        gen_path = os.path.join(tmp, "gen.pkl")
        with open(gen_path, "wb") as fh:
            pickle.dump(gen, fh)
        memory = {}
        for size in (n, 10 * n):
            x_path = os.path.join(tmp, f"X_{size}.npy")
            np.save(x_path, tiled(X_all, size))
            for mode in ("generate_to", "generate"):
                out_dir = os.path.join(tmp, f"out_{mode}_{size}")
                r = run_child(mode, gen_path, x_path, out_dir, shard)
                r["rows_per_s_wall"] = size / r["wall_s"]
                memory[f"{mode}_{size}"] = r
                print(mode, size, r, flush=True)
        for mode in ("generate_to", "generate"):
            for key in ("maxrss_mb", "tracemalloc_peak_mb"):
                memory[f"{mode}_{key}_ratio_10n_over_n"] = (
                    memory[f"{mode}_{10 * n}"][key] / memory[f"{mode}_{n}"][key])
        result["memory"] = memory

        # wall time side by side, in this process and without tracemalloc (which slows
        # the child runs above by a varying amount): generate and generate_to alternated
        timing = {}
        for size in (n, 10 * n):
            Xs = tiled(X_all, size)
            for rep in range(2):
                out_dir = os.path.join(tmp, f"timing_{size}_{rep}")
                t_gen = rate(lambda: gen.generate(Xs), size)["wall_s"]
                t_to = rate(lambda: gen.generate_to(out_dir, Xs, shard_size=shard), size)["wall_s"]
                timing[f"{size}_rep{rep}"] = {"generate_s": t_gen, "generate_to_s": t_to,
                                              "generate_to_over_generate": t_to / t_gen}
                print("timing", size, rep, timing[f"{size}_rep{rep}"], flush=True)
        for mode in ("generate", "generate_to"):
            timing[f"{mode}_ratio_10n_over_n"] = (
                min(timing[f"{10 * n}_rep{r}"][f"{mode}_s"] for r in range(2))
                / min(timing[f"{n}_rep{r}"][f"{mode}_s"] for r in range(2)))
        result["wall_time"] = timing

        X = tiled(X_all, n)
        by_batch = {}
        for bs in (16, 64, 256):
            gen.set_params(batch_size=bs)
            by_batch[bs] = rate(lambda: gen.generate(X), n)
            print("batch", bs, by_batch[bs], flush=True)
        gen.set_params(batch_size=128)
        result["throughput_by_batch_size"] = by_batch

        jobs = {}
        for n_jobs in (1, 2):
            gen.set_params(n_jobs=n_jobs)
            first = rate(lambda: gen.generate(X), n)  # includes loky worker start-up
            warm = rate(lambda: gen.generate(X), n)
            jobs[n_jobs] = {"first_call": first, "warm": warm}
            print("n_jobs", n_jobs, jobs[n_jobs], flush=True)
        gen.set_params(n_jobs=None)
        jobs["speedup_warm_2_over_1"] = (jobs[1]["warm"]["wall_s"] / jobs[2]["warm"]["wall_s"])
        result["n_jobs"] = jobs
    write_json(args.out, result)


if __name__ == "__main__":
    main()
