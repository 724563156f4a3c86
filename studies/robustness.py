"""Robustness of models trained with and without adversarial examples, at equal optimiser steps.

For each data set (digits; an MNIST subset) and model (the sparse
autoencoder and the contrastive MLP encoder of :func:`sk_uae.evaluation.make_model`;
on digits also a small CNN classifier), each seed draws its own
stratified train/test split and trains the model with every method:

``none``        no augmentation, ``epochs`` epochs;
``uae_static``  :class:`~sk_uae.UAEAugmenter` with ``MinMaxMINE`` (examples made
                once against a first model, retrain from scratch on the rows
                and their UAEs), ``epochs // 2`` epochs;
``noise``       the same static augmentation with Gaussian noise rescaled to the
                UAEs' mean L-infinity distortion of the same seed (as
                :func:`~sk_uae.evaluation.compare_augmentations` matches it),
                ``epochs // 2`` epochs;
``pgd_online``  :class:`~sk_uae.AdversarialTraining` (``every="batch"``,
                ``ratio=1``) with PGD on the model's own objective, ``epochs`` epochs;
``uae_online``  the same callback with ``MinMaxMINE`` (supervised on the
                classifier), ``epochs`` epochs.
``uae_static_step``, ``uae_online_step``  the same with ``MinMaxMINE(lr=0.25)``:
                a step of a quarter of eps per iteration, PGD's step (the default
                ``lr=0.1`` reaches at most half of eps in 5 iterations).

**Equal optimiser steps.** The callback appends each batch's examples to
the batch, so an online method takes the steps of ``none`` at the same
epochs; a static method trains on twice the rows, so it gets half the
epochs (``ceil(2n / B) * epochs / 2`` against ``ceil(n / B) * epochs``
steps, equal up to one batch an epoch). The steps of every final model are
counted from its skorch history and recorded (``steps``). The first fit of
a static method (the model the examples are made against) is not part of
the final model; its cost is in the wall time ``seconds``.

Every final model is attacked on the test rows by
:func:`sk_uae.metrics.robustness_curve` at eps 0, 0.05, 0.1, 0.2 (PGD on the
model's own objective, 10 steps of eps / 4; MinMax MINE of 10 iterations for
the autoencoder's UAE success rate). Training attacks use eps 0.1 and 5
iterations. Nothing is tuned: library defaults everywhere else, and the
test rows are used for scoring only. Reports mean +- std over seeds and,
per method, the paired difference to ``none`` with a paired t-test
(``scipy.stats.ttest_rel``) for each (model, eps, metric).

Results are keyed by ``dataset/model/method/seed`` and written to the JSON
after each one, each with the ``settings`` it ran with (epochs, training eps
and iterations, rows); a rerun skips the keys already there with the same
settings. Several processes may write one JSON (e.g. one per ``--models``):
each write merges the file's results under a lock.

Usage::

    python -m studies.robustness [--quick] [--seeds 5] [--datasets digits,mnist]
        [--models autoencoder,contrastive,classifier]
        [--methods none,uae_static,noise,pgd_online,uae_online,uae_static_step,uae_online_step]
        [--epochs 10] [--mnist-train 2000 --mnist-test 1000] [--threads 1]
        [--out studies/results/robustness.json] [--report]
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from scipy import stats
from sklearn.model_selection import train_test_split

from studies._common import DEFAULT_MNIST, RESULTS, environment, portable, write_json

from sk_uae import AdversarialTraining, UAEAugmenter
from sk_uae.attacks import PGD, MinMaxMINE
from sk_uae.datasets import load_digits_images, load_mnist_idx
from sk_uae.evaluation import (_history_sum, _samples_seen, _steps, baseline_attack, make_model,
                                training_attack)
from sk_uae.metrics import robustness_curve
from sk_uae.models import ClassifierNet, CNNClassifierModule

METHODS = ("none", "uae_static", "noise", "pgd_online", "uae_online", "uae_static_step",
           "uae_online_step")
MODELS = ("autoencoder", "contrastive", "classifier")
CLASSIFIER_DATASETS = ("digits",)  # the CNN classifier runs on digits only
EVAL_EPS = (0.0, 0.05, 0.1, 0.2)
MEASURES = {"autoencoder": ("reconstruction_error", "uae_success_rate"),
            "contrastive": ("probe_accuracy", "shift_cosine", "shift_l2"),
            "classifier": ("accuracy",)}
GREATER_IS_BETTER = {"reconstruction_error": False, "uae_success_rate": False,
                     "probe_accuracy": True, "shift_cosine": False, "shift_l2": False,
                     "accuracy": True}
DIGITS_TEST = 450


def load_data(name, mnist_dir):
    """(X, y, image_shape), or None when the MNIST files are absent."""
    if name == "digits":
        X, y = load_digits_images()
        return X, y, (1, 8, 8)
    if name != "mnist":
        raise ValueError(f"data set {name!r} is not known; expected digits or mnist")
    if not os.path.isfile(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")):
        return None
    X, y = load_mnist_idx(mnist_dir)
    return X, y, (1, 28, 28)


def datasets(names, mnist_dir):
    """``(name, X, y, image_shape)`` of each named data set (comma-separated) that is here."""
    for name in names.split(","):
        data = load_data(name, mnist_dir)
        if data is None:
            print(f"{name}: data not found, skipped")
            continue
        yield (name, *data)


def split(X, y, n_train, n_test, seed):
    """A stratified train/test split of ``n_train + n_test`` rows drawn with ``seed``."""
    n_train = min(n_train, len(X) - n_test)
    return train_test_split(X, y, train_size=n_train, test_size=n_test, stratify=y,
                            random_state=seed)


def make_net(model, n_features, shape, epochs, seed):
    if model == "classifier":
        return ClassifierNet(CNNClassifierModule, module__input_shape=shape, max_epochs=epochs,
                             lr=3e-3, batch_size=128, random_state=seed)
    task, name = {"autoencoder": ("reconstruction", "sparse"),
                  "contrastive": ("contrastive", "mlp")}[model]
    return make_model(task, name, n_features, shape, epochs, seed)


def train_attack(method, cfg):
    """The training attack of a method; ``*_step``: MinMax MINE with PGD's step (eps / 4)."""
    attack = training_attack(method.split("_")[0], cfg["train_eps"], cfg["train_iter"])
    if method.endswith("_step"):
        attack.set_params(lr=0.25)  # a step of a quarter of eps per iteration, as PGD's
    return attack


def fit_method(method, model, X_tr, y_tr, shape, cfg, seed, uae_record):
    """Fit one method; returns (fitted model to attack, record)."""
    epochs, half = cfg["epochs"], max(1, cfg["epochs"] // 2)
    y_fit = y_tr if model in ("classifier",) else None
    d = X_tr.shape[1]
    t0 = time.perf_counter()
    record = {}
    if method in ("none", "pgd_online", "uae_online", "uae_online_step"):
        net = make_net(model, d, shape, epochs, seed)
        if method != "none":
            attack = train_attack(method, cfg)
            net.set_params(callbacks=[("adversarial", AdversarialTraining(
                attack, every="batch", ratio=1.0, batch_size=256, random_state=seed))])
        net.fit(X_tr, y_fit)
        fitted, final = net, net
        record["epochs"] = epochs
        if method != "none":
            record.update({k: _history_sum(net, k) for k in
                           ("adv_rows", "adv_iterations", "adv_seconds")})
            # share of the examples that met the attack's goal, over the epochs
            record["adv_success"] = float(np.mean([e["adv_success"] for e in net.history]))
    else:
        if method.startswith("uae_static"):
            attack = train_attack(method, cfg)
        else:
            attack = baseline_attack("noise", uae_record["distortion_linf_units_mean"],
                                     eps_scale=uae_record["eps_scale"])
        fitted = UAEAugmenter(make_net(model, d, shape, half, seed), attack, ratio=1.0,
                              batch_size=256, random_state=seed).fit(X_tr, y_fit)
        final = fitted.estimator_
        record["epochs"] = half
        record["train_success_rate"] = float(fitted.uae_success_rate_)
        info = fitted.uae_info_
        record["distortion_linf_mean"] = float(np.mean(info["distortion_linf"]))
        if method == "uae_static":
            scale = getattr(fitted.generator_.attack_, "eps_scale_", None)
            record["uae"] = {
                "distortion_linf_units_mean": float(np.mean(info["distortion_linf_units"])),
                "eps_scale": "none" if scale is None else np.asarray(scale).tolist()}
    record["seconds"] = time.perf_counter() - t0
    record["steps"], record["rows_seen"] = _steps(final), _samples_seen(final)
    return fitted, record


def curve_of(fitted, model, X_te, y_te, seed):
    t0 = time.perf_counter()
    curve = robustness_curve(
        fitted, X_te, None if model == "autoencoder" else y_te,
        attack=PGD(eps=0.1, eps_step=0.025, max_iter=10), uae_attack=MinMaxMINE(max_iter=10),
        eps=EVAL_EPS, metrics=MEASURES[model], batch_size=256, random_state=seed)
    out = {m: [None if not np.isfinite(v) else float(v) for v in curve[m]]
           for m in MEASURES[model]}
    out["seconds"] = time.perf_counter() - t0
    return out


def summarise(results, seeds_wanted=None):
    """Per dataset/model: per method and measure and eps, mean, std, diff vs none, paired p."""
    groups = {}
    for key, rec in results.items():
        dataset, model, method, seed = key.split("/")
        groups.setdefault(f"{dataset}/{model}", {}).setdefault(method, {})[int(seed)] = rec
    summary = {}
    for group, by_method in groups.items():
        model = group.split("/")[1]
        base = by_method.get("none", {})
        out = {}
        for method, by_seed in by_method.items():
            seeds = sorted(by_seed)
            s = {"n_seeds": len(seeds),
                 "seconds": float(np.mean([by_seed[k]["seconds"] for k in seeds])),
                 "steps": float(np.mean([by_seed[k]["steps"] for k in seeds]))}
            if "adv_seconds" in by_seed[seeds[0]]:
                s["adv_seconds"] = float(np.mean([by_seed[k]["adv_seconds"] for k in seeds]))
            for m in MEASURES[model]:
                for i, eps in enumerate(EVAL_EPS):
                    v = np.array([by_seed[k]["curve"][m][i] for k in seeds], dtype=float)
                    if np.all(np.isnan(v)):
                        continue
                    cell = {"mean": float(v.mean()),
                            "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
                    paired = [k for k in seeds if k in base]
                    if method != "none" and paired:
                        a = np.array([by_seed[k]["curve"][m][i] for k in paired], dtype=float)
                        b = np.array([base[k]["curve"][m][i] for k in paired], dtype=float)
                        dd = a - b
                        p = (float(stats.ttest_rel(a, b).pvalue)
                             if len(dd) > 1 and np.std(dd) > 0 else None)
                        cell["diff_vs_none"] = {"mean": float(dd.mean()),
                                                "std": float(dd.std(ddof=1)) if len(dd) > 1
                                                else 0.0, "n": len(dd), "ttest_rel_p": p}
                    s[f"{m}@{eps}"] = cell
            out[method] = s
        summary[group] = out
    return summary


def print_tables(summary, measures=None):
    """Markdown tables: per data set, model and measure, mean +- std and the paired diff to none."""
    for group, by_method in summary.items():
        model = group.split("/")[1]
        for m in MEASURES[model]:
            if measures and m not in measures:
                continue
            arrow = "higher" if GREATER_IS_BETTER[m] else "lower"
            print(f"\n{group}: {m} ({arrow} is better); cells: mean +- std over seeds "
                  "(paired difference to none, t-test p)")
            print("| method | seeds | steps | fit s | attack s | "
                  + " | ".join("clean" if e == 0 else f"eps {e}" for e in EVAL_EPS) + " |")
            print("|---" * (5 + len(EVAL_EPS)) + "|")
            for method in METHODS:
                if method not in by_method:
                    continue
                s = by_method[method]
                cells = []
                for eps in EVAL_EPS:
                    c = s.get(f"{m}@{eps}")
                    if c is None or (eps == 0 and m.startswith(("shift", "uae"))):
                        cells.append("-")
                        continue
                    txt = f"{c['mean']:.4f} +- {c['std']:.4f}"
                    d = c.get("diff_vs_none")
                    if d is not None:
                        p = "n/a" if d["ttest_rel_p"] is None else f"{d['ttest_rel_p']:.2g}"
                        txt += f" ({d['mean']:+.4f}, p {p})"
                    cells.append(txt)
                adv = f"{s['adv_seconds']:.1f}" if "adv_seconds" in s else "-"
                print(f"| {method} | {s['n_seeds']} | {s['steps']:.0f} | {s['seconds']:.1f} | "
                      f"{adv} | " + " | ".join(cells) + " |")


def save(out, payload, new):
    """Merge ``new`` results into the JSON on disk (other runs may write it too) and write it."""
    import fcntl

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(out):
            with open(out) as fh:
                payload["results"] = json.load(fh)["results"]
        payload["results"].update(new)
        payload["summary"] = summarise(payload["results"])
        write_json(out, payload)
    return payload


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, tiny data, 2 epochs")
    p.add_argument("--seeds", default="5", help="a count (5: seeds 0-4) or a list (0,3)")
    p.add_argument("--datasets", default="digits,mnist")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-eps", type=float, default=0.1)
    p.add_argument("--train-iter", type=int, default=5)
    p.add_argument("--mnist-train", type=int, default=2000)
    p.add_argument("--mnist-test", type=int, default=1000)
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST)
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--out", default=None)
    p.add_argument("--report", action="store_true", help="print the tables of --out and exit")
    p.add_argument("--measures", default=None, help="with --report: the measures to print")
    args = p.parse_args(argv)
    out = args.out or os.path.join(RESULTS, "robustness_quick.json" if args.quick
                                   else "robustness.json")
    if args.threads:
        torch.set_num_threads(args.threads)
    payload = {"results": {}}
    if os.path.isfile(out):
        with open(out) as fh:
            payload = json.load(fh)
    if args.report:
        print_tables(summarise(payload["results"]),
                     args.measures.split(",") if args.measures else None)
        return
    seeds = ([0] if args.quick else list(range(int(args.seeds))) if "," not in args.seeds
             else [int(s) for s in args.seeds.split(",")])
    cfg = {"epochs": 2 if args.quick else args.epochs, "train_eps": args.train_eps,
           "train_iter": 2 if args.quick else args.train_iter, "eval_eps": list(EVAL_EPS)}
    methods = [m for m in METHODS if m in args.methods.split(",")]
    payload.update({"environment": environment(), "args": portable(vars(args)),
                    "methods": list(METHODS), "eval_eps": list(EVAL_EPS),
                    "step_rule": "none and the online methods train `epochs` epochs (the "
                                 "callback appends each batch's examples to that batch); the "
                                 "static methods `epochs // 2` epochs on twice the rows; steps "
                                 "counted from the final model's history"})
    for name, X, y, shape in datasets(args.datasets, args.mnist_dir):
        n_train, n_test = ((200, 100) if args.quick else
                           (len(X) - DIGITS_TEST, DIGITS_TEST) if name == "digits"
                           else (args.mnist_train, args.mnist_test))
        for model in args.models.split(","):
            if model == "classifier" and name not in CLASSIFIER_DATASETS:
                continue
            settings = {**cfg, "n_train": n_train, "n_test": n_test}
            for seed in seeds:
                X_tr, X_te, y_tr, y_te = split(X, y, n_train, n_test, seed)
                # noise is matched to the UAEs of the seed: uae_static runs first
                order = list(methods)
                if "noise" in order and "uae_static" not in order:
                    order.insert(order.index("noise"), "uae_static")
                for method in order:
                    key = f"{name}/{model}/{method}/{seed}"
                    done = payload["results"].get(key)
                    if done is not None and done.get("settings") == settings:
                        continue
                    uae_key = f"{name}/{model}/uae_static/{seed}"
                    uae = payload["results"].get(uae_key, {}).get("uae")
                    fitted, record = fit_method(method, model, X_tr, y_tr, shape, cfg, seed, uae)
                    record["curve"] = curve_of(fitted, model, X_te, y_te, seed)
                    record["settings"] = settings
                    payload["results"][key] = record
                    main_m = MEASURES[model][0]
                    print(f"{key}: fit {record['seconds']:.1f} s, {record['steps']} steps, "
                          f"curve {record['curve']['seconds']:.1f} s, {main_m} "
                          + ", ".join("-" if v is None else f"{v:.4f}"
                                      for v in record["curve"][main_m]), flush=True)
                    save(out, payload, {key: record})
    payload = save(out, payload, {})
    print_tables(payload["summary"])


if __name__ == "__main__":
    main()
