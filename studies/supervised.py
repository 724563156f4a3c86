"""Supervised attacks on a small CNN: MinMax MINE against PGD and Carlini-Wagner L2.

On digits and MNIST (when the IDX files are at hand), trains a
``ClassifierNet(CNNClassifierModule)`` on a training split, takes held-out
rows that it classifies correctly, and attacks them (untargeted) with

* ``MinMaxMINE`` in supervised mode (margin objective, MI maximised, dual
  update of ``c``), for each ``eps`` of a small grid;
* ``PGD`` (L-infinity, no random start, step ``eps / 10``), same grid;
* ``CarliniWagnerL2`` (9 binary-search steps x 100 Adam steps; unbounded in
  L-infinity, so run once).

Per attack it reports the success rate (re-checked with the classifier's own
``predict``), and over the successful rows the mean L-infinity and L2
distortion, SSIM and the attack-free MINE yardstick
(:func:`sk_uae.metrics.mine_similarity`). For each ``eps`` it also compares
MinMax MINE and PGD on the rows where *both* succeed (equal rows, equal
budget box). Higher SSIM / MI means more similar to the clean input.

Usage::

    python -m studies.supervised [--quick] [--out PATH]
"""

import argparse
import os
import time

import numpy as np

from studies._common import DEFAULT_MNIST, RESULTS, environment, write_json

from sk_uae import UAEGenerator
from sk_uae.attacks import PGD, CarliniWagnerL2, MinMaxMINE
from sk_uae.datasets import load_digits_images, load_mnist_idx
from sk_uae.metrics import distortion, mine_similarity, ssim
from sk_uae.models import ClassifierNet, CNNClassifierModule

CONFIG = {
    "digits": dict(n_train=1400, shape=(8, 8), epochs=20, eps=(0.05, 0.1, 0.2)),
    "mnist": dict(n_train=4000, shape=(28, 28), epochs=8, eps=(0.05, 0.1, 0.2)),
}


def load_labelled(name, mnist_dir):
    if name == "digits":
        return load_digits_images()
    if not os.path.isfile(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")):
        return None
    return load_mnist_idx(mnist_dir)


def attack_stats(clf, X, y, X_adv, info, shape, seconds):
    ok = clf.predict(X_adv) != y
    out = {
        "seconds": seconds,
        "success_rate": float(info["success"].mean()),
        "misclassified_rate_independent": float(ok.mean()),
        "success_not_misclassified": int(np.sum(info["success"] & ~ok)),
    }
    if ok.any():
        out.update(
            linf_mean=distortion(X[ok], X_adv[ok], norm="linf"),
            l2_mean=distortion(X[ok], X_adv[ok], norm="l2"),
            ssim_mean=ssim(X[ok], X_adv[ok], shape),
            mine_mean=mine_similarity(X[ok], X_adv[ok]),
        )
    return out, ok


def run_attack(clf, X, y, attack, shape, seed=0):
    gen = UAEGenerator(clf, attack=attack, prefit=True, batch_size=128, random_state=seed).fit(X)
    t0 = time.perf_counter()
    X_adv, info = gen.generate(X, y)
    return (X_adv,) + attack_stats(clf, X, y, X_adv, info, shape, time.perf_counter() - t0)


def common_rows(X, a, ok_a, b, ok_b, shape):
    both = ok_a & ok_b
    if not both.any():
        return {"n_rows": 0}
    res = {"n_rows": int(both.sum())}
    for tag, Z in (("minmax", a), ("pgd", b)):
        res[f"{tag}_linf"] = distortion(X[both], Z[both], norm="linf")
        res[f"{tag}_l2"] = distortion(X[both], Z[both], norm="l2")
        res[f"{tag}_ssim"] = ssim(X[both], Z[both], shape)
        res[f"{tag}_mine"] = mine_similarity(X[both], Z[both])
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n-eval", type=int, default=256)
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    p.add_argument("--out", default=os.path.join(RESULTS, "supervised.json"))
    args = p.parse_args(argv)
    n_eval = 32 if args.quick else args.n_eval
    minmax_iter = 20 if args.quick else 200
    cw = CarliniWagnerL2(binary_search_steps=3 if args.quick else 9,
                         max_iter=20 if args.quick else 100)
    payload = {"environment": environment(), "n_eval": n_eval, "minmax_max_iter": minmax_iter,
               "cw": cw.get_params(), "datasets": {}}
    for name, cfg in CONFIG.items():
        data = load_labelled(name, args.mnist_dir)
        if data is None:
            print(f"{name}: data not found, skipped")
            continue
        X, y = data
        idx = np.random.RandomState(0).permutation(len(X))
        train, rest = idx[:cfg["n_train"]], idx[cfg["n_train"]:]
        t0 = time.perf_counter()
        clf = ClassifierNet(CNNClassifierModule, max_epochs=2 if args.quick else cfg["epochs"],
                            lr=3e-3, random_state=0).fit(X[train], y[train])
        fit_s = time.perf_counter() - t0
        correct = rest[clf.predict(X[rest]) == y[rest]]
        acc = float(np.mean(clf.predict(X[rest]) == y[rest]))
        Xe, ye = X[correct[:n_eval]], y[correct[:n_eval]]
        entry = {"n_train": int(len(train)), "clean_accuracy": acc, "fit_seconds": fit_s,
                 "n_attacked": int(len(Xe)), "eps": {}}
        _, entry["cw_l2"], _ = run_attack(clf, Xe, ye, cw, cfg["shape"])
        print(name, "cw", entry["cw_l2"])
        for eps in cfg["eps"]:
            mm = MinMaxMINE(eps=eps, max_iter=minmax_iter)
            pgd = PGD(eps=eps, eps_step=eps / 10, max_iter=40)
            Xm, sm, okm = run_attack(clf, Xe, ye, mm, cfg["shape"])
            Xp, sp, okp = run_attack(clf, Xe, ye, pgd, cfg["shape"])
            entry["eps"][str(eps)] = {"minmax_mine": sm, "pgd_linf": sp,
                                      "both_successful": common_rows(Xe, Xm, okm, Xp, okp,
                                                                     cfg["shape"])}
            print(name, eps, entry["eps"][str(eps)])
        payload["datasets"][name] = entry
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
