"""Does UAE augmentation help? Every baseline at an equal step budget, over seeds.

For each task and data set: the attack's hyperparameters are tuned on a
validation split carved out of the training rows of the first seed (never
the test rows), then every method of :mod:`sk_uae.evaluation` (none at an
equal step budget, duplicated rows, matched Gaussian noise, matched PGD
"high-loss" perturbations, UAEs) is trained and scored on held-out rows for
each seed (each seed draws its own split). Reports mean +- std and a paired
t-test of UAE against the best baseline.

Usage::

    python -m studies.augment [--quick] [--seeds 5] [--datasets digits,mnist]
        [--tasks reconstruction] [--mnist-train 8000 --mnist-test 2000] [--tune-rows 2000]
        [--ratio 1.0] [--retrain scratch|continue]
        [--out studies/results/augment.json]
"""

import argparse
import itertools
import os
import time

import numpy as np
from scipy import stats
from sklearn.model_selection import train_test_split

from studies._common import DEFAULT_MNIST, RESULTS, environment, write_json

from sk_uae.attacks import MinMaxMINE
from sk_uae.datasets import load_digits_images, load_mnist_idx
from sk_uae.evaluation import METHODS, TASKS, compare_augmentations, step_budget

DEFAULT_MODEL = {"reconstruction": "sparse", "representation": "concrete",
                 "contrastive": "mlp"}


def load(name, mnist_dir, n_train, n_test):
    if name == "digits":
        X, y = load_digits_images()
        return X, y, (1, 8, 8), min(n_train, len(X) - n_test), n_test
    if not os.path.isfile(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")):
        return None
    X, y = load_mnist_idx(mnist_dir)
    return X, y, (1, 28, 28), n_train, n_test


def tune(X, y, task, model, shape, grid, epochs, seed, ratio, retrain):
    """Pick the attack setting with the best validation metric of the UAE method."""
    higher = TASKS[task].higher_is_better
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=0.25, random_state=seed)
    results = []
    for params in grid:
        attack = MinMaxMINE(**params)
        res = compare_augmentations(X_fit, X_val, y_fit, y_val, task=task, model=model,
                                    methods=("uae",), epochs=epochs, ratio=ratio,
                                    retrain=retrain, attack=attack, image_shape=shape,
                                    seed=seed)
        results.append({"params": params, "validation": res["scores"]["uae"],
                        "success_rate": res["uae"]["success_rate"]})
        print(f"  tune {params}: validation {res['scores']['uae']:.5f}, "
              f"success {res['uae']['success_rate']:.2f}")
    best = (max if higher else min)(results, key=lambda r: r["validation"])
    return best["params"], results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--datasets", default="digits,mnist")
    p.add_argument("--tasks", default="reconstruction")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--mnist-train", type=int, default=2000)
    p.add_argument("--mnist-test", type=int, default=1000)
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    p.add_argument("--tune-rows", type=int, default=None,
                   help="tune the attack on this many of the first seed's training rows "
                        "(default: all of them)")
    p.add_argument("--ratio", type=float, default=1.0, help="fraction of rows augmented")
    p.add_argument("--retrain", default="scratch", choices=("scratch", "continue"))
    p.add_argument("--out", default=os.path.join(RESULTS, "augment.json"))
    args = p.parse_args(argv)
    seeds = range(1 if args.quick else args.seeds)
    epochs = 3 if args.quick else args.epochs
    grid = [dict(eps=e, lr=lr, max_iter=5 if args.quick else 40)
            for e, lr in itertools.product((0.1, 0.3), (0.01, 0.1))]
    if args.quick:
        grid = grid[:2]
    payload = {"environment": environment(), "epochs": epochs, "methods": METHODS,
               "ratio": args.ratio, "retrain": args.retrain,
               "step_budget": step_budget(args.retrain),
               "results": {}}
    for task, name in itertools.product(args.tasks.split(","), args.datasets.split(",")):
        data = load(name, args.mnist_dir, 200 if args.quick else args.mnist_train,
                    100 if args.quick else (450 if name == "digits" else args.mnist_test))
        if data is None:
            print(f"{name}: data not found, skipped")
            continue
        X, y, shape, n_train, n_test = data
        model = DEFAULT_MODEL[task]
        print(f"== {task} / {name} / {model}: {n_train} train, {n_test} test rows")
        t0 = time.perf_counter()
        idx_tr, _ = train_test_split(np.arange(len(X)), train_size=n_train, test_size=n_test,
                                     random_state=0)
        idx_tune = idx_tr[:args.tune_rows] if args.tune_rows else idx_tr
        best, tuning = tune(X[idx_tune], y[idx_tune], task, model, shape, grid, epochs, seed=0,
                            ratio=args.ratio, retrain=args.retrain)
        attack = MinMaxMINE(**best)
        runs = []
        for seed in seeds:
            idx_train, idx_test = train_test_split(np.arange(len(X)), train_size=n_train,
                                                   test_size=n_test, random_state=seed)
            res = compare_augmentations(X[idx_train], X[idx_test], y[idx_train], y[idx_test],
                                        task=task, model=model, epochs=epochs, ratio=args.ratio,
                                        retrain=args.retrain, attack=attack, image_shape=shape,
                                        seed=seed)
            runs.append({"seed": seed, "scores": res["scores"],
                         "samples_seen": res["samples_seen"], "uae": res["uae"]})
            print(f"  seed {seed}: " + ", ".join(f"{m} {v:.5f}" for m, v in res["scores"].items()))
        higher = TASKS[task].higher_is_better
        summary = {m: {"mean": float(np.mean([r["scores"][m] for r in runs])),
                       "std": float(np.std([r["scores"][m] for r in runs]))} for m in METHODS}
        baselines = [m for m in METHODS if m != "uae"]
        best_base = (max if higher else min)(baselines, key=lambda m: summary[m]["mean"])
        uae_s = np.array([r["scores"]["uae"] for r in runs])
        base_s = np.array([r["scores"][best_base] for r in runs])
        test = None
        if len(runs) > 1 and np.any(uae_s != base_s):
            t = stats.ttest_rel(uae_s, base_s)
            test = {"t": float(t.statistic), "p": float(t.pvalue)}
        gain = (uae_s - base_s) if higher else (base_s - uae_s)
        payload["results"][f"{task}/{name}"] = {
            "model": model, "metric": TASKS[task].metric, "higher_is_better": higher,
            "n_train": int(n_train), "n_test": int(n_test), "n_tune": int(len(idx_tune)),
            "tuned_attack": best,
            "tuning": tuning, "summary": summary, "best_baseline": best_base,
            "uae_gain_over_best_baseline_mean": float(gain.mean()),
            "paired_t_test_uae_vs_best_baseline": test, "runs": runs,
            "seconds": time.perf_counter() - t0,
        }
        print("  summary: " + ", ".join(f"{m} {summary[m]['mean']:.5f}+-{summary[m]['std']:.5f}"
                                         for m in METHODS))
        print(f"  UAE vs best baseline ({best_base}): gain {gain.mean():+.5f}, test {test}")
        write_json(args.out, payload)  # after every task and data set: partial runs keep results
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
