"""The paper's protocol beside the equal-step one, with the reference's attack.

For each autoencoder (the reference's conv AE and its sparse one), each seed
(its own split of the MNIST rows), the model is trained ``E`` epochs on the
training rows (the *original* model, the one attacked), every training row
gets one augmented copy per method, and a fresh model (seed + 1) is trained
``E`` epochs on the 1:1 union. The held-out reconstruction error of each
retrained model is compared with two references:

* protocol **paper** -- ``none`` trained ``E`` epochs: the retrained model
  has twice the optimiser steps of the original (the comparison the paper's
  tables make);
* protocol **equal-step** -- ``none`` trained ``2E`` epochs (as
  :mod:`sk_uae.evaluation` and ``sk-uae augment``).

Methods: ``duplicate``; ``start`` (every row plus the random start the
reference UAE starts from, clipped, no attack step: ``MinMaxMINE.reference``
with ``lr=0``); ``noise`` and ``pgd`` (Gaussian noise and a PGD "high-loss"
perturbation matched to the reference UAEs' mean L-infinity);
``uae_reference`` (``MinMaxMINE.reference()``) and ``uae_default``
(``MinMaxMINE()``).

The steps of :class:`~sk_uae.UAEAugmenter` (fit, attack every row, retrain
from scratch with seed + 1) are written out here so that the six methods of
a seed share one first fit and their augmented rows can be kept: every
finished (model, seed, method) is written to the JSON at once and the rows
to a cache folder beside it, so an interrupted run resumes, and the UAEs'
distance from their starts can be measured.

Usage::

    python -m studies.reproduce [--models sparse,conv] [--seeds 3]
        [--n-train 8000] [--n-test 2000] [--epochs 20] [--batch-size 64]
        [--n-train-conv N] [--no-conv-front] [--front-rows N] [--n-jobs J]
        [--merge other.json] [--cache DIR]
        [--out studies/results/reproduce.json]
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from scipy import stats

from studies._common import DEFAULT_MNIST, RESULTS, environment, portable, write_json

from sk_uae import UAEGenerator
from sk_uae.attacks import MinMaxMINE
from sk_uae.datasets import load_mnist_idx
from sk_uae.evaluation import baseline_attack, make_model

METHODS = ("none", "none_2x", "duplicate", "start", "noise", "pgd", "uae_reference",
           "uae_default")
AUGMENTED = METHODS[2:]
IMAGE_SHAPE = (1, 28, 28)


def attack_for(method, uae_linf, conv_front=True):
    if method == "uae_reference":
        return MinMaxMINE.reference() if conv_front else MinMaxMINE.reference(
            mine_conv_front=None)
    if method == "uae_default":
        return MinMaxMINE()
    if method == "start":  # the reference's starts, no step and no MINE training
        return MinMaxMINE.reference(lr=0.0, max_iter=1, n_mine_steps=0, pairs="random_projection",
                                    mine_conv_front=None, n_pairs=2, pair_dim=2,
                                    mine_hidden_sizes=(2, 2))
    return baseline_attack(method, uae_linf)


def split(X, seed, n_train, n_test):
    idx = np.random.RandomState(seed).permutation(len(X))
    return X[idx[:n_train]], X[idx[n_train:n_train + n_test]]


def mse(model, X):
    return float(np.mean((model.predict(X) - X) ** 2))


def distortion(X_adv, X):
    d = (X_adv - X).astype(np.float64)
    return {"linf_mean": float(np.abs(d).max(1).mean()),
            "l2_mean": float(np.linalg.norm(d, axis=1).mean())}


def run_one(record_key, done, out, cache, model_name, seed, X_train, X_test, epochs,
            batch_size, verbose, conv_front=True):
    """Run every method of one (model, seed) that is not in ``done``."""
    tag = f"{model_name}_s{seed}"

    def fresh(ep, s):
        return make_model("reconstruction", model_name, X_train.shape[1], IMAGE_SHAPE, ep, s)

    def save(method, rec):
        done[f"{record_key}/{method}"] = rec
        write_json(out, payload(done))

    need = [m for m in METHODS if f"{record_key}/{m}" not in done]
    if not need:
        return
    for method, ep in (("none", epochs), ("none_2x", 2 * epochs)):
        if method in need:
            t0 = time.perf_counter()
            score = mse(fresh(ep, seed + 1).fit(X_train), X_test)
            save(method, {"score": score, "epochs": ep, "rows": len(X_train),
                          "seconds": time.perf_counter() - t0})
    if not any(m in need for m in AUGMENTED):
        return
    t0 = time.perf_counter()
    original = fresh(epochs, seed).fit(X_train)  # the attacked model
    fit_seconds = time.perf_counter() - t0
    uae_linf = None
    starts = None
    order = ["uae_reference", "start", "uae_default", "duplicate", "noise", "pgd"]
    for method in order:
        path = os.path.join(cache, f"{tag}_{method}.npz")
        key = f"{record_key}/{method}"
        if key in done and method not in ("uae_reference", "start"):
            continue
        if method in ("noise", "pgd") and uae_linf is None:
            uae_linf = done[f"{record_key}/uae_reference"]["uae"]["linf_mean"]
        t0 = time.perf_counter()
        if os.path.isfile(path):
            with np.load(path) as z:
                X_adv, success = z["X_adv"], z["success"]
            attack_seconds = float(done.get(key, {}).get("attack_seconds", np.nan))
        else:
            gen = UAEGenerator(original, attack_for(method, uae_linf, conv_front), prefit=True,
                               batch_size=batch_size, random_state=seed,
                               verbose=verbose).fit(X_train)
            X_adv, info = gen.generate(X_train)
            success = np.asarray(info["success"])
            attack_seconds = time.perf_counter() - t0
            np.savez(path, X_adv=X_adv, success=success)
        if method == "uae_reference":
            uae_linf = distortion(X_adv, X_train)["linf_mean"]
        if method == "start":
            starts = X_adv
        if key in done:
            continue
        t1 = time.perf_counter()
        final = fresh(epochs, seed + 1).fit(np.vstack([X_train, X_adv]).astype(np.float32))
        rec = {"score": mse(final, X_test), "epochs": epochs, "rows": 2 * len(X_train),
               "attack_seconds": attack_seconds, "retrain_seconds": time.perf_counter() - t1,
               "first_fit_seconds": fit_seconds}
        if method.startswith("uae") or method == "start":
            rec["uae"] = {"success_rate": float(np.mean(success)), **distortion(X_adv, X_train)}
        save(method, rec)
    # how far the reference attack moved the rows from the starts it drew
    ref_key = f"{record_key}/uae_reference"
    if starts is not None and "from_start" not in done[ref_key].get("uae", {}):
        with np.load(os.path.join(cache, f"{tag}_uae_reference.npz")) as z:
            done[ref_key]["uae"]["from_start"] = distortion(z["X_adv"], starts)
        write_json(out, payload(done))


def front_rows(record_key, done, out, cache, model_name, seed, X_train, X_test, epochs,
               batch_size, n_rows, verbose, n_jobs=None, shard_size=8):
    """The full preset (with the conv front) on the first ``n_rows`` training rows.

    The conv front costs tens of seconds per row on a CPU core, so the
    study's ``uae_reference`` on the conv AE may run without it
    (``--no-conv-front``); this attacks ``n_rows`` rows of the same model
    with the full preset and compares them with the same rows' UAEs
    without it and with their starts (both recomputed for those rows when
    the study's cache lacks them). The attack streams to the cache folder
    shard by shard (``generate_to``), so an interrupted run resumes. When
    ``n_rows`` covers every training row, a fresh model is also retrained
    on the union and scored, as the study's methods are.
    """
    key = f"{record_key}/front_rows"
    n_rows = min(n_rows, len(X_train))
    if key in done and done[key]["rows"] == n_rows:
        return
    tag = f"{model_name}_s{seed}"

    def fresh(ep, s):
        return make_model("reconstruction", model_name, X_train.shape[1], IMAGE_SHAPE, ep, s)

    original = fresh(epochs, seed).fit(X_train)
    X = X_train[:n_rows]

    def rows_of(method):  # the study's cached rows, or the same rows recomputed
        path = os.path.join(cache, f"{tag}_{method}.npz")
        if os.path.isfile(path):
            with np.load(path) as z:
                return z["X_adv"][:n_rows], z["success"][:n_rows]
        gen = UAEGenerator(original, attack_for(method, None, conv_front=False), prefit=True,
                           batch_size=256, random_state=seed).fit(X_train)
        X_adv, info = gen.generate(X)
        return X_adv, np.asarray(info["success"])

    starts, _ = rows_of("start")
    no_front, ok = rows_of("uae_reference")
    t0 = time.perf_counter()
    gen = UAEGenerator(original, MinMaxMINE.reference(), prefit=True, batch_size=batch_size,
                       random_state=seed, verbose=verbose, n_jobs=n_jobs).fit(X_train)
    X_adv, info = gen.generate_to(os.path.join(cache, f"{tag}_front_{n_rows}"), X,
                                  shard_size=shard_size, return_info=True)
    X_adv = np.asarray(X_adv)
    rec = {"rows": n_rows, "attack_seconds": time.perf_counter() - t0, "n_jobs": n_jobs,
           "with_front": {"success_rate": float(np.mean(info["success"])),
                          **distortion(X_adv, X), "from_start": distortion(X_adv, starts),
                          "from_no_front": distortion(X_adv, no_front)},
           "without_front": {"success_rate": float(np.mean(ok)), **distortion(no_front, X),
                             "from_start": distortion(no_front, starts)}}
    if n_rows == len(X_train):
        t1 = time.perf_counter()
        final = fresh(epochs, seed + 1).fit(np.vstack([X_train, X_adv]).astype(np.float32))
        rec["score"] = mse(final, X_test)
        rec["retrain_seconds"] = time.perf_counter() - t1
        # the same seed's study scores, for paired comparisons
        rec["diff"] = {m: rec["score"] - done[f"{record_key}/{m}"]["score"]
                       for m in ("none", "none_2x", "start", "uae_reference", "duplicate",
                                 "noise")
                       if f"{record_key}/{m}" in done}
    done[key] = rec
    write_json(out, payload(done))


def summarize(done):
    """Per model: mean +- std per method, and paired tests under both protocols."""
    models = sorted({k.split("/")[0] for k in done})
    out = {}
    for model in models:
        seeds = sorted({int(k.split("/")[1][1:]) for k in done if k.startswith(model + "/")})
        full = [s for s in seeds if all(f"{model}/s{s}/{m}" in done for m in METHODS)]
        if not full:
            continue
        scores = {m: np.array([done[f"{model}/s{s}/{m}"]["score"] for s in full])
                  for m in METHODS}
        summary = {"seeds": full,
                   "mean": {m: float(v.mean()) for m, v in scores.items()},
                   "std": {m: float(v.std(ddof=1)) if len(v) > 1 else 0.0
                           for m, v in scores.items()}}
        for protocol, ref in (("paper", "none"), ("equal_step", "none_2x")):
            summary[protocol] = {}
            for m in AUGMENTED:
                diff = scores[m] - scores[ref]
                p = float(stats.ttest_rel(scores[m], scores[ref]).pvalue) if len(full) > 1 \
                    else float("nan")
                summary[protocol][m] = {"diff_mean": float(diff.mean()),
                                        "better_in": int((diff < 0).sum()), "of": len(full),
                                        "p": p}
        pairs = {}
        for a, b in (("uae_reference", "start"), ("uae_reference", "duplicate"),
                     ("uae_reference", "uae_default"), ("start", "duplicate")):
            diff = scores[a] - scores[b]
            p = float(stats.ttest_rel(scores[a], scores[b]).pvalue) if len(full) > 1 \
                else float("nan")
            pairs[f"{a}_vs_{b}"] = {"diff_mean": float(diff.mean()),
                                    "better_in": int((diff < 0).sum()), "p": p}
        summary["pairs"] = pairs
        attack = {}
        for m in ("start", "uae_reference", "uae_default"):
            recs = [done[f"{model}/s{s}/{m}"]["uae"] for s in full]
            attack[m] = {k: float(np.mean([r[k] for r in recs]))
                         for k in ("success_rate", "linf_mean", "l2_mean")}
            if all("from_start" in r for r in recs):
                attack[m]["from_start"] = {
                    k: float(np.mean([r["from_start"][k] for r in recs]))
                    for k in ("linf_mean", "l2_mean")}
        summary["attack"] = attack
        out[model] = summary
    return out


_ARGS = {}


def payload(done):
    return {"benchmark": "bench_reproduce", "args": _ARGS, "environment": environment(),
            "records": done, "summary": summarize(done)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="sparse,conv")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--n-train-conv", type=int, default=None,
                    help="training rows for the conv AE (its conv-front attack is slow)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--no-conv-front", action="store_true",
                    help="uae_reference without the MINE conv front (a departure: the front "
                         "costs minutes per row on a CPU core)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    ap.add_argument("--verbose", type=int, default=0)
    ap.add_argument("--front-rows", type=int, default=0,
                    help="after the study, attack this many training rows of each seed's conv "
                         "AE with the full preset, conv front included (all of them: also "
                         "retrain on the union and score)")
    ap.add_argument("--n-jobs", type=int, default=None,
                    help="worker processes of the conv-front attack (--front-rows)")
    ap.add_argument("--cache", default=None,
                    help="folder of the cached augmented rows (default: beside --out)")
    ap.add_argument("--merge", default="",
                    help="comma-separated JSON files of other runs whose records join --out's "
                         "(e.g. runs of the two models in two processes)")
    ap.add_argument("--out", default=os.path.join(RESULTS, "reproduce.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    X, _ = load_mnist_idx(args.mnist_dir)
    done = {}
    if os.path.isfile(args.out):
        with open(args.out) as fh:
            done = json.load(fh)["records"]
    for other in filter(None, args.merge.split(",")):
        with open(other) as fh:
            done.update(json.load(fh)["records"])
    cache = args.cache or os.path.splitext(args.out)[0] + "_cache"
    os.makedirs(cache, exist_ok=True)
    _ARGS.update(portable(vars(args)))
    for model in args.models.split(","):
        n_train = args.n_train_conv if model == "conv" and args.n_train_conv else args.n_train
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            X_train, X_test = split(X, seed, n_train, args.n_test)
            t0 = time.perf_counter()
            run_one(f"{model}/s{seed}", done, args.out, cache, model, seed, X_train, X_test,
                    args.epochs, args.batch_size, args.verbose,
                    conv_front=not args.no_conv_front)
            print(f"{model} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
            if args.front_rows and model == "conv":
                t0 = time.perf_counter()
                front_rows(f"{model}/s{seed}", done, args.out, cache, model, seed, X_train,
                           X_test, args.epochs, args.batch_size, args.front_rows, args.verbose,
                           n_jobs=args.n_jobs)
                print(f"{model} seed {seed}, conv front: {time.perf_counter() - t0:.0f} s",
                      flush=True)
    summary = summarize(done)
    for model, s in summary.items():
        print(f"\n{model} ({len(s['seeds'])} seeds): test MSE mean +- std")
        for m in METHODS:
            print(f"  {m:14s} {s['mean'][m]:.5f} +- {s['std'][m]:.5f}")
        for protocol in ("paper", "equal_step"):
            print(f"  {protocol}: " + ", ".join(
                f"{m} {v['diff_mean']:+.5f} ({v['better_in']}/{v['of']}, p={v['p']:.3f})"
                for m, v in s[protocol].items()))
        print("  attack:", json.dumps(s["attack"]))
    write_json(args.out, payload(done))


if __name__ == "__main__":
    main()
