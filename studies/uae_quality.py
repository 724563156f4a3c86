"""What the UAEs of MinMax MINE are: success, similarity, and the goal checked independently.

On digits and MNIST (when the IDX files are at hand), for a sparse autoencoder
fitted on a training split, attacks held-out rows with ``MinMaxMINE`` and
reports per seed:

* the success rate (an iterate with ``f == 0`` and ``MI > 0``);
* the attack's own MI of the successful UAEs;
* the reconstruction goal ``||x - AE(x')||^2 <= ||x - AE(x)||^2`` re-checked
  with the fitted net's ``predict`` (an independent forward pass);
* Gaussian noise of the same per-sample L-infinity distortion as each UAE:
  how often it meets the same goal, and the MI of both measured by one
  attack-free yardstick (:func:`sk_uae.mine.estimate_mi`, fresh networks,
  same settings for both).

``--reference-config`` adds one run with the reference code's MINE settings
(Adam 1.5e-5, widths (512, 10), 500 projections to 128 dimensions) on fewer
rows, to show what they give.

Usage::

    python -m studies.uae_quality [--quick] [--reference-config] [--out PATH]
"""

import argparse
import os
import time

import numpy as np

from studies._common import DEFAULT_MNIST, RESULTS, environment, load, sparse_ae, write_json

from sk_uae import UAEGenerator
from sk_uae.attacks import MinMaxMINE
from sk_uae.mine import estimate_mi

REFERENCE_MINE = dict(mine_lr=1.5e-5, mine_hidden_sizes=(512, 10), n_pairs=500, pair_dim=128)


def matched_noise(X, linf, rng):
    """Gaussian noise rescaled so each row's L-infinity norm equals ``linf``."""
    g = rng.randn(*X.shape)
    g *= (linf / np.maximum(np.abs(g).max(1), 1e-12))[:, None]
    return np.clip(X + g, 0, 1).astype(np.float32)


def run_one(ae, X, attack, seed):
    gen = UAEGenerator(ae, attack=attack, prefit=True, batch_size=256, random_state=seed)
    t0 = time.perf_counter()
    X_adv, info = gen.fit(X).generate(X)
    seconds = time.perf_counter() - t0
    ok = info["success"]
    err = lambda Z: ((X - ae.predict(Z)) ** 2).sum(1)  # noqa: E731
    e_clean, e_adv = err(X), err(X_adv)
    noise = matched_noise(X, info["distortion_linf"], np.random.RandomState(seed))
    e_noise = err(noise)
    mi_adv = estimate_mi(X, X_adv, random_state=seed)
    mi_noise = estimate_mi(X, noise, random_state=seed)
    tol = 1e-5
    return {
        "seed": seed, "n": int(len(X)), "seconds": seconds,
        "success_rate": float(ok.mean()),
        "attack_mi_successful_mean": float(info["mi"][ok].mean()) if ok.any() else None,
        "goal_holds_independent_check_successful": float(np.mean(e_adv[ok] <= e_clean[ok] + tol))
        if ok.any() else None,
        "goal_holds_uae_all": float(np.mean(e_adv <= e_clean + tol)),
        "goal_holds_matched_noise": float(np.mean(e_noise <= e_clean + tol)),
        "recon_error_ratio_uae": float(np.mean(e_adv / e_clean)),
        "recon_error_ratio_noise": float(np.mean(e_noise / e_clean)),
        "distortion_linf_mean": float(info["distortion_linf"].mean()),
        "distortion_l2_mean_uae": float(info["distortion_l2"].mean()),
        "distortion_l2_mean_noise": float(np.sqrt(((noise - X) ** 2).sum(1)).mean()),
        "yardstick_mi_uae_successful": float(mi_adv[ok].mean()) if ok.any() else None,
        "yardstick_mi_noise_same_rows": float(mi_noise[ok].mean()) if ok.any() else None,
        "yardstick_mi_uae_lower_fraction": float(np.mean(mi_adv[ok] < mi_noise[ok]))
        if ok.any() else None,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reference-config", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    p.add_argument("--out", default=os.path.join(RESULTS, "uae_quality.json"))
    args = p.parse_args(argv)
    n_eval = 64 if args.quick else 512
    seeds = range(1 if args.quick else args.seeds)
    payload = {"environment": environment(), "attack": MinMaxMINE().get_params(),
               "datasets": {}}
    for name in ("digits", "mnist"):
        data = load(name, args.mnist_dir, n_train=4000, n_eval=n_eval)
        if data is None:
            print(f"{name}: data not found, skipped")
            continue
        X_train, X_eval = data
        ae = sparse_ae(X_train.shape[1], epochs=5 if args.quick else 30).fit(X_train)
        attack = MinMaxMINE(max_iter=10 if args.quick else 40)
        runs = [run_one(ae, X_eval, attack, s) for s in seeds]
        entry = {"n_train": len(X_train), "runs": runs}
        for r in runs:
            print(name, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
        if args.reference_config:
            ref_attack = MinMaxMINE(max_iter=attack.max_iter, **REFERENCE_MINE)
            ref = run_one(ae, X_eval[:64], ref_attack, 0)
            entry["reference_mine_settings"] = {"settings": REFERENCE_MINE, **ref}
            print(name, "reference MINE settings:", ref)
        payload["datasets"][name] = entry
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
