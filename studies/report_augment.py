"""Markdown tables of a ``bench_augment.py`` JSON: mean +- std and paired tests.

For every task and data set in each file: the tuned attack, the UAEs'
success and distortion, mean +- std of every method over the seeds, and a
paired t-test of UAE against each baseline (mean difference, seeds where UAE
is better, p-value).

Usage::

    python -m studies.report_augment studies/results/augment_digits.json [...]
"""

import argparse
import json

import numpy as np
from scipy import stats


def report(path):
    with open(path) as fh:
        payload = json.load(fh)
    lines = [f"## {path}", "",
             f"ratio {payload.get('ratio', 1.0)}, retrain {payload.get('retrain', 'scratch')}, "
             f"{payload['epochs']} epochs; step budget {payload['step_budget']}", ""]
    methods = payload["methods"]
    for key, res in payload["results"].items():
        runs = res["runs"]
        higher = res["higher_is_better"]
        scores = {m: np.array([r["scores"][m] for r in runs]) for m in methods}
        success = [r["uae"]["success_rate"] for r in runs]
        linf = [r["uae"]["distortion_linf_mean"] for r in runs]
        lines += [f"### {key} ({res['model']}, {res['n_train']} train / {res['n_test']} test, "
                  f"{len(runs)} seeds, {res['seconds'] / 60:.0f} min)", "",
                  f"tuned attack {res['tuned_attack']}; UAE success {min(success):.2f}-"
                  f"{max(success):.2f}, mean L-infinity {min(linf):.3f}-{max(linf):.3f}", "",
                  "| " + " | ".join(methods) + " |", "|" + "---|" * len(methods),
                  "| " + " | ".join(f"{scores[m].mean():.5f} +- {scores[m].std():.5f}"
                                    for m in methods) + " |", ""]
        for m in methods:
            if m == "uae" or len(runs) < 2:
                continue
            diff = scores["uae"] - scores[m]
            better = int(np.sum(diff > 0 if higher else diff < 0))
            p = stats.ttest_rel(scores["uae"], scores[m]).pvalue if np.any(diff) else 1.0
            lines.append(f"* UAE vs {m}: {diff.mean():+.5f}, better in {better}/{len(runs)} "
                         f"seeds, p = {p:.2g}")
        if runs and "samples_seen" in runs[0]:
            seen = {m: runs[0]["samples_seen"][m] for m in methods}
            lines.append(f"* training rows seen per method (seed 0): {seen}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", help="JSON files written by bench_augment.py")
    for path in p.parse_args(argv).files:
        print(report(path))


if __name__ == "__main__":
    main()
