"""Throughput of the MinMax MINE engines: the native and fused ones against autograd.

For digits and MNIST (when the IDX files are at hand), one fitted sparse
autoencoder, at the default MINE sizes (``MinMaxMINE()``: 64 projections to 32
dims, widths (32, 10)) and at the reference's (500 projections to 128 dims,
widths (512, 10), MINE lr 1.5e-5), at batch 64, 256 and 1024, measures in one
run, side by side:

* samples/s of ``minmax_mine(..., mine_backend="native")`` (the compiled
  MINE step), of ``mine_backend="fused"`` (the same written-out step in
  torch) and of ``mine_backend="autograd"`` (the engine before the fused
  networks), and their ratios;
* the matmul FLOPs of one MinMax iteration per sample (counted by
  ``torch.utils.flop_counter`` for the fused and autograd engines; the
  native step does the fused one's arithmetic outside torch, where the
  counter does not see it), and the share of the machine's measured
  float32 matmul rate that each of the two written-out engines reaches;
* the peak memory of each run above the process's memory before it.

Every (data, sizes, batch, engine) runs in a fresh process, the engines
one after the other, ``--repeats`` times at the default sizes
(``--reference-repeats`` times, default once, at the reference's); the best
time counts (the steadier figure on a shared machine). A run is an attack
of ``--iterations`` MinMax iterations (default 5) whose callback stamps the
time of every evaluation; the time from the first stamp to the last over
the number of iterations is the cost of an iteration without the set-up
(draws, first allocations, the first MINE training), and the rate of the
full 40-iteration attack is the batch over 40 such iterations (the cost of
an iteration does not change along an attack). Torch uses one thread.

``--baseline REV`` adds a third engine: the package as it was at git
revision ``REV`` (exported with ``git archive`` into a temporary folder and
imported first in its children), run with that revision's defaults, so that
a speed-up can be stated against the code of an earlier day in the same
run; the engines of today are then compared with it as well.

``--part loops`` runs the older comparison of the batched engine with a
plain per-sample loop (``tests/reference_minmax.py``).

Usage::

    python benchmarks/bench_attack.py [--quick] [--datasets digits,mnist] [--baseline REV]
        [--engines autograd,fused,native] [--out PATH]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (DEFAULT_MNIST, ROOT, environment, load, matmul_rate,  # noqa: E402
                     sparse_ae, write_json)

import sk_uae  # noqa: E402
from sk_uae.attacks import ReconstructionObjective, minmax_mine  # noqa: E402

SIZES = {
    "default": dict(n_pairs=64, pair_dim=32, mine_hidden_sizes=(32, 10), mine_lr=1e-3),
    "reference": dict(n_pairs=500, pair_dim=128, mine_hidden_sizes=(512, 10), mine_lr=1.5e-5),
}
FULL_ITERATIONS = 40
BACKENDS = ("autograd", "fused", "native")
COUNTED = ("autograd", "fused")  # the engines whose FLOPs the counter sees


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak():
    """Reset the kernel's peak-RSS mark of this process; False where it cannot.

    A child's ``ru_maxrss`` starts at its parent's resident size (the fork
    copies it), so without a reset a small child reports the parent's peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_bytes():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _objective(model_path, n_features):
    # the rows are in [0, 1]: the output activation the fit resolved "auto" to
    ae = sparse_ae(n_features, epochs=1).set_params(
        module__input_dim=n_features, module__output_activation="sigmoid").initialize()
    ae.module_.load_state_dict(torch.load(model_path))
    module = ae.module_.eval()
    return ReconstructionObjective(lambda v: module(v)[0])


def child(spec):
    """One timed run in this (fresh) process; prints a JSON line."""
    torch.set_num_threads(1)
    X = torch.load(spec["rows"])[: spec["batch"]]
    objective = _objective(spec["model"], X.shape[1])
    kw = dict(SIZES[spec["sizes"]], seed=0)
    if spec["backend"] != "baseline":  # the earlier revision runs with its own defaults
        kw["mine_backend"] = spec["backend"]
    minmax_mine(X[:4], objective, max_iter=1, **kw)  # warm-up: kernels
    peak_reset = _reset_peak()
    base = _rss_bytes()
    # the stamps of the evaluations: the time between the first and the last
    # is whole iterations, without the set-up; no second run to subtract
    stamps = []
    start = time.perf_counter()
    res = minmax_mine(X, objective, max_iter=spec["iterations"],
                      callback=lambda t, **_: stamps.append(time.perf_counter()), **kw)
    wall = time.perf_counter() - start
    peak = _peak_bytes()
    native = None
    if spec["backend"] == "native":  # did the compiled step run, or its torch fallback?
        from sk_uae.mine import _native

        native = _native.library() is not None
    print(json.dumps({"wall_seconds": wall, "native_step_built": native,
                      "setup_seconds": stamps[0] - start,
                      "seconds_per_iteration": (stamps[-1] - stamps[0]) / (len(stamps) - 1),
                      "peak_rss_bytes": peak, "peak_above_start_bytes": max(0, peak - base),
                      "peak_reset": peak_reset,
                      "success_rate": float(res.success.float().mean()),
                      # which package the child imported: the exported one for the baseline
                      "exported_package": "baseline" in sk_uae.__file__.split(os.sep)}))


def _run_child(spec, baseline_dir=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if spec["backend"] == "baseline":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [baseline_dir,
                                                         env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_revision(rev, tmp):
    """The package at git revision ``rev``, in a folder of ``tmp``; its path."""
    folder = os.path.join(tmp, "baseline")
    os.makedirs(folder)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "sk_uae"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


def flops_per_sample(model_path, rows_path, sizes, n_features):
    """Matmul FLOPs of one MinMax iteration per sample (fused and autograd engines)."""
    from torch.utils.flop_counter import FlopCounterMode

    X = torch.load(rows_path)[:4]
    objective = _objective(model_path, n_features)
    out = {}
    for backend in COUNTED:
        counts = []
        for iterations in (1, 2):  # the difference is one iteration, without the set-up
            with FlopCounterMode(display=False) as counter:
                minmax_mine(X, objective, max_iter=iterations, mine_backend=backend, seed=0,
                            **SIZES[sizes])
            counts.append(counter.get_total_flops())
        out[backend] = (counts[1] - counts[0]) / X.shape[0]
    return out


def bench_dataset(name, args, tmp, rate):
    data = load(name, args.mnist_dir, n_train=2000, n_eval=max(args.batches))
    if data is None:
        print(f"{name}: data not found, skipped")
        return None
    X_train, X_eval = data
    ae = sparse_ae(X_train.shape[1], epochs=5 if args.quick else 20).fit(X_train)
    model_path, rows_path = os.path.join(tmp, f"{name}.pt"), os.path.join(tmp, f"{name}_rows.pt")
    torch.save(ae.module_.state_dict(), model_path)
    torch.save(torch.as_tensor(X_eval), rows_path)
    result = {"n_features": X_train.shape[1], "runs": []}
    for sizes in args.sizes:
        flops = flops_per_sample(model_path, rows_path, sizes, X_train.shape[1])
        repeats = args.repeats if sizes == "default" else args.reference_repeats
        for batch in args.batches:
            best = {}
            engines = tuple(args.engines) + (("baseline",) if args.baseline else ())
            for _ in range(repeats):
                for backend in engines:  # side by side
                    spec = dict(rows=rows_path, model=model_path, batch=batch, sizes=sizes,
                                backend=backend, iterations=args.iterations)
                    r = _run_child(spec, args.baseline_dir)
                    if (backend not in best or r["seconds_per_iteration"]
                            < best[backend]["seconds_per_iteration"]):
                        best[backend] = r
            row = {"sizes": sizes, "batch_size": batch, "iterations_timed": args.iterations,
                   "runs_per_engine": repeats,
                   "flops_per_sample_iteration": flops["fused"],
                   "flops_per_sample_iteration_autograd": flops["autograd"]}
            for backend, r in best.items():
                per_iteration = r["seconds_per_iteration"]
                row[backend] = {
                    **r,
                    "samples_per_second": batch / (per_iteration * FULL_ITERATIONS),
                    "matmul_rate_fraction": flops["fused"] * batch / per_iteration / rate}
            rates = {e: row[e]["samples_per_second"] for e in engines}
            # every engine against every other, measured in this run
            row["ratios"] = {f"{a}/{b}": rates[a] / rates[b] for a in engines for b in engines
                             if a != b}
            if "fused" in rates and "autograd" in rates:
                row["speedup"] = rates["fused"] / rates["autograd"]
            line = ", ".join(f"{e} {rates[e]:8.2f}" for e in engines)
            ratios = ", ".join(f"{k} {v:.2f}x" for k, v in row["ratios"].items()
                               if k.split("/")[1] in ("autograd", "baseline")
                               or k == "native/fused")
            print(f"{name} {sizes:9s} batch {batch:5d}: samples/s {line}; {ratios}; "
                  f"{flops['fused'] / 1e9:.3f} GFLOP per sample-iteration; peak MiB above "
                  + ", ".join(f"{e} +{row[e]['peak_above_start_bytes'] / 2**20:.0f}"
                              for e in engines), flush=True)
            if args.baseline:
                base = rates["baseline"]
                for e in args.engines:
                    row[f"{e}_over_baseline"] = rates[e] / base
                if "fused" in rates:
                    row["speedup_over_baseline"] = rates["fused"] / base
            result["runs"].append(row)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: one batch size, 1 repeat")
    p.add_argument("--datasets", default="digits,mnist")
    p.add_argument("--sizes", default="default,reference")
    p.add_argument("--batches", default="64,256,1024")
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--reference-repeats", type=int, default=1,
                   help="runs of each engine at the reference sizes (the best counts)")
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    p.add_argument("--part", choices=["engines", "loops"], default="engines")
    p.add_argument("--baseline", default=None,
                   help="git revision whose package runs beside the two engines")
    p.add_argument("--engines", default=",".join(BACKENDS),
                   help="engines of today to run, side by side (autograd, fused, native)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    torch.set_num_threads(1)
    if args.part == "loops":
        from bench_attack_loops import main as loops

        return loops(args)
    args.sizes = args.sizes.split(",")
    args.engines = args.engines.split(",")
    if not set(args.engines) <= set(BACKENDS):
        p.error(f"--engines: expected some of {','.join(BACKENDS)}; got {args.engines}")
    args.batches = [int(b) for b in args.batches.split(",")]
    if min(args.repeats, args.reference_repeats, args.iterations) < 1:
        p.error(f"--repeats, --reference-repeats and --iterations: expected at least 1 each; "
                f"got {args.repeats}, {args.reference_repeats} and {args.iterations}")
    if args.quick:
        args.batches, args.repeats, args.iterations = args.batches[:1], 1, 2
        args.reference_repeats = 1
    out = args.out or os.path.join(ROOT, "benchmarks", "results", "bench_attack.json")
    rate = matmul_rate()
    print(f"measured float32 matmul rate (one thread, 1024^2): {rate / 1e9:.1f} GFLOP/s")
    payload = {"environment": environment(), "matmul_flops_per_second": rate,
               "full_attack_iterations": FULL_ITERATIONS, "sizes": SIZES, "datasets": {}}
    if args.baseline:
        payload["baseline"] = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", args.baseline], check=True, capture_output=True,
            text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        args.baseline_dir = export_revision(args.baseline, tmp) if args.baseline else None
        for name in args.datasets.split(","):
            res = bench_dataset(name, args, tmp, rate)
            if res is not None:
                payload["datasets"][name] = res
                write_json(out, payload)  # as it goes: a long run keeps what it measured
    write_json(out, payload)


if __name__ == "__main__":
    main()
