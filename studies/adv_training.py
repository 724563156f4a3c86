"""Adversarial training through ``UAEAugmenter``: clean and PGD-robust accuracy on digits.

For each seed, digits is split (stratified) into training and test rows and
a small CNN ``ClassifierNet`` (flattened 8x8 images) is trained

* without augmentation, for ``(1 + ratio) x epochs`` epochs on the original
  rows -- the same number of optimiser steps as the augmented models, which
  train ``epochs`` epochs on ``(1 + ratio) x`` as many rows;
* through ``UAEAugmenter(clf, attack=A, ratio=1.0)`` (fit, attack every
  training row once against that first model, retrain from scratch on the
  union with labels copied) for A in: supervised ``MinMaxMINE``, ``PGD``
  (L-infinity), ``CarliniWagnerL2``, ``GaussianNoise`` (every row's noise
  rescaled to the PGD ``eps`` in L-infinity) and ``Duplicate`` (copies).

Every final model is then scored on the test rows: clean accuracy and
robust accuracy under a white-box PGD attack on *that* model (L-infinity,
20 steps of ``eps / 8``, no random start) for each evaluation ``eps``,
and accuracy on the PGD examples of the test rows made against the
no-augmentation model of the seed (a transfer attack for the others).
Reports mean +- std over seeds and, per method, the paired difference to
no augmentation (mean +- std over seeds, wins, paired t-test p-value).
Nothing is tuned; the test rows are used for scoring only.

Note that this is *static* adversarial augmentation: the examples are made
once against the first model, not regenerated during training (Madry-style
adversarial training), which is what ``UAEAugmenter`` does.

Usage::

    python -m studies.adv_training [--quick] [--seeds 3]
        [--out studies/results/adv_training.json]
"""

import argparse
import os
import time

import numpy as np
from scipy import stats
from sklearn.model_selection import train_test_split

from studies._common import RESULTS, environment, write_json

from sk_uae import UAEAugmenter, UAEGenerator
from sk_uae.attacks import PGD, CarliniWagnerL2, Duplicate, GaussianNoise, MinMaxMINE
from sk_uae.datasets import load_digits_images
from sk_uae.metrics import robust_accuracy
from sk_uae.models import ClassifierNet, CNNClassifierModule

N_TEST = 447
TRAIN_EPS = 0.1
EVAL_EPS = (0.1, 0.2)
RATIO = 1.0


def make_clf(epochs, seed):
    return ClassifierNet(CNNClassifierModule, max_epochs=epochs, lr=3e-3, batch_size=128,
                         random_state=seed)


def training_attacks(quick):
    """The attacks used for augmentation, by method name (budgets stated in the docs)."""
    return {
        "minmax_mine": MinMaxMINE(eps=TRAIN_EPS, max_iter=10 if quick else 40),
        "pgd": PGD(eps=TRAIN_EPS, eps_step=TRAIN_EPS / 8, max_iter=20),
        "cw_l2": CarliniWagnerL2(binary_search_steps=2 if quick else 5,
                                 max_iter=10 if quick else 50),
        "gaussian": GaussianNoise(eps=TRAIN_EPS, norm="linf"),
        "duplicate": Duplicate(),
    }


def eval_attack(eps):
    return PGD(eps=eps, eps_step=eps / 8, max_iter=20, random_init=False)


def score(model, X, y, seed, transfer):
    """Clean accuracy, white-box PGD robust accuracy, accuracy on the transferred examples."""
    out = {"clean": float(np.mean(model.predict(X) == y))}
    for eps in EVAL_EPS:
        out[f"pgd_{eps}"] = robust_accuracy(model, X, y, eval_attack(eps), batch_size=256,
                                            random_state=seed)
    for eps, X_adv in transfer.items():
        out[f"transfer_{eps}"] = float(np.mean(model.predict(X_adv) == y))
    return out


def run_seed(X, y, seed, epochs, quick, n_train=None):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=N_TEST, stratify=y,
                                              random_state=seed)
    if n_train is not None:
        X_tr, y_tr = X_tr[:n_train], y_tr[:n_train]
    res = {"n_train": int(len(X_tr)), "n_test": int(len(X_te)), "methods": {}}
    t0 = time.perf_counter()
    base = make_clf(int(round((1 + RATIO) * epochs)), seed).fit(X_tr, y_tr)
    seconds = time.perf_counter() - t0
    # PGD examples of the test rows made against the no-augmentation model,
    # scored on every final model (a black-box transfer attack for them)
    transfer = {eps: UAEGenerator(base, eval_attack(eps), prefit=True, batch_size=256,
                                  random_state=seed).fit(X_te).generate(X_te, y_te,
                                                                        return_info=False)
                for eps in EVAL_EPS}
    res["methods"]["none"] = {"seconds": seconds, "epochs": int(round((1 + RATIO) * epochs)),
                              **score(base, X_te, y_te, seed, transfer)}
    print(f"seed {seed} none {res['methods']['none']}", flush=True)
    for name, attack in training_attacks(quick).items():
        t0 = time.perf_counter()
        aug = UAEAugmenter(make_clf(epochs, seed), attack=attack, ratio=RATIO, batch_size=256,
                           random_state=seed).fit(X_tr, y_tr)
        info = aug.uae_info_
        entry = {
            "seconds": time.perf_counter() - t0,
            "epochs": epochs,
            "n_train_samples": aug.n_train_samples_,
            "train_success_rate": aug.uae_success_rate_,
            "train_linf_mean": float(np.mean(info["distortion_linf"])),
            "train_l2_mean": float(np.mean(info["distortion_l2"])),
            **score(aug.estimator_, X_te, y_te, seed, transfer),
        }
        res["methods"][name] = entry
        print(f"seed {seed} {name} {entry}", flush=True)
    return res


def summarise(per_seed):
    names = list(per_seed[0]["methods"])
    metrics = (["clean"] + [f"pgd_{eps}" for eps in EVAL_EPS]
               + [f"transfer_{eps}" for eps in EVAL_EPS])
    summary = {}
    for name in names:
        s = {}
        for m in metrics:
            v = np.array([r["methods"][name][m] for r in per_seed])
            base = np.array([r["methods"]["none"][m] for r in per_seed])
            d = v - base
            s[m] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
            if name != "none":
                p = float(stats.ttest_rel(v, base).pvalue) if len(v) > 1 and d.std() > 0 else None
                s[m]["diff_vs_none"] = {
                    "mean": float(d.mean()),
                    "std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                    "wins": int(np.sum(d > 0)), "losses": int(np.sum(d < 0)),
                    "ttest_rel_p": p,
                }
        for k in ("train_success_rate", "train_linf_mean", "train_l2_mean", "seconds"):
            if k in per_seed[0]["methods"][name]:
                s[k] = float(np.mean([r["methods"][name][k] for r in per_seed]))
        summary[name] = s
    return summary


def print_table(summary):
    metrics = (["clean"] + [f"pgd_{eps}" for eps in EVAL_EPS]
               + [f"transfer_{eps}" for eps in EVAL_EPS])
    print("| method | " + " | ".join(metrics) + " |")
    print("|---" * (len(metrics) + 1) + "|")
    for name, s in summary.items():
        cells = []
        for m in metrics:
            c = f"{s[m]['mean']:.3f} +- {s[m]['std']:.3f}"
            if "diff_vs_none" in s[m]:
                d = s[m]["diff_vs_none"]
                c += f" ({d['mean']:+.3f} +- {d['std']:.3f}, {d['wins']}/{d['wins'] + d['losses']})"
            cells.append(c)
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, small budgets")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--out", default=os.path.join(RESULTS, "adv_training.json"))
    args = p.parse_args(argv)
    seeds = list(range(1 if args.quick else args.seeds))
    epochs = 2 if args.quick else args.epochs
    n_train = 300 if args.quick else None
    X, y = load_digits_images()
    t0 = time.perf_counter()
    per_seed = [run_seed(X, y, seed, epochs, args.quick, n_train) for seed in seeds]
    summary = summarise(per_seed)
    print_table(summary)
    payload = {
        "environment": environment(),
        "quick": args.quick,
        "seeds": seeds,
        "epochs_augmented": epochs,
        "epochs_none": int(round((1 + RATIO) * epochs)),
        "ratio": RATIO,
        "model": {"module": "CNNClassifierModule", "lr": 3e-3, "batch_size": 128},
        "train_attacks": {k: {"class": type(a).__name__, **a.get_params()}
                          for k, a in training_attacks(args.quick).items()},
        "eval_attack": {str(e): eval_attack(e).get_params() for e in EVAL_EPS},
        "per_seed": per_seed,
        "summary": summary,
        "total_seconds": time.perf_counter() - t0,
    }
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
