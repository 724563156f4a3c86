"""Markdown table of ``bench_attack.py`` JSON (the performance page's engine table).

    python benchmarks/report_attack.py [benchmarks/results/bench_attack.json]

One column of samples/s per engine the run measured (autograd, fused, native
and the baseline revision where there was one), then the ratios of the
fastest engine of today to the others, the FLOPs and the peak memory.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINES = ("autograd", "fused", "native", "baseline")


def main(path=None):
    path = path or os.path.join(HERE, "results", "bench_attack.json")
    with open(path) as fh:
        payload = json.load(fh)
    rate = payload["matmul_flops_per_second"]
    print(f"measured float32 matmul rate: {rate / 1e9:.1f} GFLOP/s (one thread)\n")
    base = payload.get("baseline")
    rows = [(name, row) for name, result in payload["datasets"].items()
            for row in result["runs"]]
    engines = [e for e in ENGINES if any(e in row for _, row in rows)]
    label = {e: (base[:7] if e == "baseline" and base else e) for e in engines}
    top = "native" if "native" in engines else "fused"
    others = [e for e in engines if e != top]
    print("| data | MINE sizes | batch | "
          + " | ".join(f"{label[e]} samples/s" for e in engines) + " | "
          + " | ".join(f"{top} / {label[e]}" for e in others)
          + f" | GFLOP per sample-iteration | {top}: share of matmul rate | peak MiB above "
          "start, " + " / ".join(label[e] for e in engines if e != "baseline") + " |")
    print("|---|---|---|" + "---|" * (len(engines) + len(others) + 3))
    for name, row in rows:
        speed = {e: row[e]["samples_per_second"] for e in engines}
        print(f"| {name} | {row['sizes']} | {row['batch_size']} | "
              + " | ".join(f"{speed[e]:.2f}" for e in engines) + " | "
              + " | ".join(f"**{speed[top] / speed[e]:.2f}x**" for e in others) + " | "
              f"{row['flops_per_sample_iteration'] / 1e9:.3f} | "
              f"{100 * row[top]['matmul_rate_fraction']:.1f} % | "
              + " / ".join(f"{row[e]['peak_above_start_bytes'] / 2**20:.0f}"
                           for e in engines if e != "baseline") + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
