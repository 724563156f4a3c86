"""Why the UAE success rate of a robustness curve may not move with the budget.

The robustness study's digits autoencoder has a UAE success rate (MinMax
MINE, 10 iterations) of about 0.27 at eps 0.05, 0.1 and 0.2 alike, while on
MNIST it grows with eps. This study attacks the study's ``none`` model (the
sparse autoencoder of :func:`sk_uae.evaluation.make_model`, 10 epochs, the
same stratified split) on its test rows at eps 0.02-0.4 (units of each
column's range) and records, per budget:

``success``       MinMax MINE's success rate with the defaults (10 iterations);
``success_50``    the same with 50 iterations;
``success_c0.1``, ``success_c1``  the same with ``initial_const`` 0.1 and 1
                  (the default is 1e-3): the weight of the loss term ``c * f``
                  next to the MI term from the first iteration;
``descent``       the share of rows for which one signed step of the full
                  budget *down* the reconstruction error (no MI term) gives a
                  loss no higher than the clean row's: whether a low-loss
                  example exists within the budget at all;
``fail_loss``     the median loss increase ``f`` of the rows that failed;
``linf``          the mean L-infinity distance of the examples, in units of eps.

Usage::

    python -m studies.uae_budget [--seeds 1] [--datasets digits,mnist] [--mnist-test 256]
        [--out studies/results/uae_budget.json]
"""

import argparse
import os
import time

import numpy as np
import torch

from sk_uae.attacks import MinMaxMINE
from studies._common import DEFAULT_MNIST, RESULTS, environment, portable, write_json
from studies.robustness import DIGITS_TEST, datasets, make_net, split

BUDGETS = (0.02, 0.05, 0.1, 0.2, 0.4)
VARIANTS = {"success": {}, "success_50": {"max_iter": 50},
            "success_c0.1": {"initial_const": 0.1}, "success_c1": {"initial_const": 1.0}}


def descent_share(net, X, eps):
    """Share of rows whose reconstruction error one signed descent step of size eps lowers."""
    module = net.module_.eval()
    x = torch.as_tensor(X)
    unit = torch.as_tensor(np.ptp(X, axis=0), dtype=x.dtype)

    def error(z):
        out = module(z)
        return (x - (out[0] if isinstance(out, tuple) else out)).pow(2).sum(1)

    z = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(error(z).sum(), z)
    with torch.no_grad():
        stepped = (x - eps * unit * grad.sign()).clamp(0, 1)
        return float((error(stepped) <= error(x)).float().mean())


def one_budget(net, X, eps, seed):
    row = {"eps": eps}
    for name, params in VARIANTS.items():
        attack = MinMaxMINE(eps=eps, max_iter=10).set_params(**params).fit(X)
        _, info = attack.perturb(net, X, seed=seed, batch_size=256)
        row[name] = float(np.mean(info["success"]))
        if name == "success":
            failed = ~info["success"]
            row["fail_loss"] = float(np.median(info["loss"][failed])) if failed.any() else None
            row["linf"] = float(np.mean(info["distortion_linf_units"]) / eps)
    row["descent"] = descent_share(net, X, eps)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1")
    p.add_argument("--datasets", default="digits,mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--mnist-train", type=int, default=2000)
    p.add_argument("--mnist-test", type=int, default=256)
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    p.add_argument("--out", default=os.path.join(RESULTS, "uae_budget.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = []
    for name, X, y, shape in datasets(args.datasets, args.mnist_dir):
        n_train, n_test = ((len(X) - DIGITS_TEST, DIGITS_TEST) if name == "digits"
                           else (args.mnist_train, args.mnist_test))
        for seed in range(args.seeds):
            X_tr, X_te, _, _ = split(X, y, n_train, n_test, seed)
            start = time.perf_counter()
            net = make_net("autoencoder", X.shape[1], shape, args.epochs, seed).fit(X_tr)
            rows = [one_budget(net, X_te, eps, seed) for eps in BUDGETS]
            runs.append({"dataset": name, "seed": seed, "n_test": len(X_te), "rows": rows,
                         "seconds": time.perf_counter() - start})
            for r in rows:
                print(name, seed, {k: (round(v, 4) if isinstance(v, float) else v)
                                   for k, v in r.items()}, flush=True)
    write_json(args.out, {"study": "uae_budget", "args": portable(vars(args)),
                          "environment": environment(), "runs": runs})


if __name__ == "__main__":
    main()
