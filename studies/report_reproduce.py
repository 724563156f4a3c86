"""Print the tables of docs/results.md's "The paper's protocol" from bench_reproduce JSON.

Usage::

    python -m studies.report_reproduce [studies/results/reproduce.json ...]
"""

import json
import os
import sys

import numpy as np
from scipy import stats

from studies._common import RESULTS
from studies.reproduce import AUGMENTED, METHODS, summarize


def _p(p):
    return "n/a" if p != p else (f"{p:.3f}" if p >= 0.001 else f"{p:.0e}")


def main(paths):
    records = {}
    for path in paths or [os.path.join(RESULTS, "reproduce.json")]:
        with open(path) as fh:
            records.update(json.load(fh)["records"])
    for model, s in summarize(records).items():
        n = len(s["seeds"])
        print(f"\n{model}: test reconstruction MSE over {n} seeds (mean +- std)\n")
        print("| method | MSE | paper: vs `none` (E epochs) "
              "| equal-step: vs `none_2x` (2E epochs) |")
        print("|---|---|---|---|")
        for m in METHODS:
            row = f"| {m} | {s['mean'][m]:.5f} +- {s['std'][m]:.5f} |"
            if m in AUGMENTED:
                for protocol in ("paper", "equal_step"):
                    v = s[protocol][m]
                    row += (f" {v['diff_mean']:+.5f}, better in {v['better_in']}/{v['of']}, "
                            f"p = {_p(v['p'])} |")
            else:
                row += " | |"
            print(row)
        print("\n| comparison | difference | better in | p |\n|---|---|---|---|")
        for name, v in s["pairs"].items():
            print(f"| {name} | {v['diff_mean']:+.5f} | {v['better_in']}/{n} | {_p(v['p'])} |")
        print("\n| rows | success | mean Linf | mean L2 | from the start: Linf, L2 |")
        print("|---|---|---|---|---|")
        for m, a in s["attack"].items():
            fs = a.get("from_start")
            fs = f"{fs['linf_mean']:.4f}, {fs['l2_mean']:.3f}" if fs else ""
            print(f"| {m} | {a['success_rate']:.3f} | {a['linf_mean']:.4f} | {a['l2_mean']:.3f} "
                  f"| {fs} |")
    _front_rows(records)


def _front_rows(records):
    # the full preset (conv front included) on some or all rows of a seed
    for key in sorted(k for k in records if k.endswith("/front_rows")):
        r = records[key]
        print(f"\n{key}: {r['rows']} rows, attack {r['attack_seconds']:.0f} s "
              f"(n_jobs {r.get('n_jobs')})\n")
        print("| UAEs | success | mean Linf | mean L2 | from the start: Linf, L2 |")
        print("|---|---|---|---|---|")
        for side in ("with_front", "without_front"):
            a, fs = r[side], r[side]["from_start"]
            print(f"| {side.replace('_', ' ')} | {a['success_rate']:.3f} | {a['linf_mean']:.4f} "
                  f"| {a['l2_mean']:.3f} | {fs['linf_mean']:.4f}, {fs['l2_mean']:.3f} |")
        if "from_no_front" in r["with_front"]:
            d = r["with_front"]["from_no_front"]
            print(f"\nwith against without the front: Linf {d['linf_mean']:.4f}, "
                  f"L2 {d['l2_mean']:.3f}")
        if "score" in r:
            print(f"retrained on the union: test MSE {r['score']:.5f}; minus the same seed's "
                  + ", ".join(f"{m} {v:+.5f}" for m, v in r["diff"].items()))
    _front_paired(records)


def _front_paired(records):
    # paired over the seeds whose every training row was attacked with the front
    by_model = {}
    for key, r in records.items():
        if key.endswith("/front_rows") and "diff" in r:
            by_model.setdefault(key.split("/")[0], []).append(r)
    for model, recs in sorted(by_model.items()):
        n = len(recs)
        print(f"\n{model}, with the conv front on every row, {n} seed(s): retrained MSE "
              "minus the same seed's\n")
        print("| method | difference (mean) | front better in | p |\n|---|---|---|---|")
        for m in recs[0]["diff"]:
            d = np.array([r["diff"][m] for r in recs if m in r["diff"]])
            p = float(stats.ttest_1samp(d, 0.0).pvalue) if len(d) > 1 else float("nan")
            print(f"| {m} | {d.mean():+.5f} | {(d < 0).sum()}/{len(d)} | {_p(p)} |")
        print()
        for side in ("with_front", "without_front"):
            print(f"{side.replace('_', ' ')}: success "
                  f"{np.mean([r[side]['success_rate'] for r in recs]):.3f}, Linf "
                  f"{np.mean([r[side]['linf_mean'] for r in recs]):.4f}, from the start "
                  f"{np.mean([r[side]['from_start']['linf_mean'] for r in recs]):.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
