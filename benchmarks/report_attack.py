"""Markdown table of ``bench_attack.py`` JSON (the performance page's engine table).

    python benchmarks/report_attack.py [benchmarks/results/bench_attack.json]
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(path=None):
    path = path or os.path.join(HERE, "results", "bench_attack.json")
    with open(path) as fh:
        payload = json.load(fh)
    rate = payload["matmul_flops_per_second"]
    print(f"measured float32 matmul rate: {rate / 1e9:.1f} GFLOP/s (one thread)\n")
    base = payload.get("baseline")
    extra = (f" {base[:7]} samples/s | fused / {base[:7]} |" if base else "")
    print("| data | MINE sizes | batch | autograd samples/s | fused samples/s | fused / autograd "
          f"|{extra} GFLOP per sample-iteration | fused: share of matmul rate | peak MiB above "
          "start, autograd / fused |")
    print("|---|---|---|---|---|---|" + ("---|---|" if base else "") + "---|---|---|")
    for name, result in payload["datasets"].items():
        for row in result["runs"]:
            a, f = row["autograd"], row["fused"]
            cells = ""
            if base:
                cells = (f" {row['baseline']['samples_per_second']:.2f} | "
                         f"**{row['speedup_over_baseline']:.2f}x** |")
            print(f"| {name} | {row['sizes']} | {row['batch_size']} | "
                  f"{a['samples_per_second']:.2f} | {f['samples_per_second']:.2f} | "
                  f"**{row['speedup']:.2f}x** |{cells} "
                  f"{row['flops_per_sample_iteration'] / 1e9:.3f} | "
                  f"{100 * f['matmul_rate_fraction']:.1f} % | "
                  f"{a['peak_above_start_bytes'] / 2**20:.0f} / "
                  f"{f['peak_above_start_bytes'] / 2**20:.0f} |")

if __name__ == "__main__":
    main(*sys.argv[1:])
