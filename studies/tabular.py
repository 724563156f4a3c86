"""Tabular data: UAE augmentation of real tables, with and without feature constraints.

Part 1 (``compare``): reconstruction with the dense autoencoder (the model of
``make_model("reconstruction", "dense", ...)``) on two real tables, test MSE
on held-out rows in the encoded, scaled space, at an equal optimiser-step
budget (the protocol of :func:`sk_uae.evaluation.compare_augmentations`,
re-implemented here because that function takes no ``constraints``):

* ``none`` trains as many optimiser steps on the training rows (the epochs
  that give them; ``2 * epochs`` when the rows fill whole batches);
* ``duplicate``, ``noise``, ``pgd``, ``uae`` train ``epochs`` epochs on the
  training rows plus one example per row (ratio 1, retraining from scratch);
  ``noise`` and ``pgd`` are matched to the UAEs' mean L-infinity distortion
  in the units of the attack's ``eps_scale`` (``baseline_attack``).

Tables:

* ``breast_cancer`` (scikit-learn, 569 x 30, numeric): ``MinMaxScaler``
  fitted on the training split; constraints: per-column bounds = the
  training range (``lower=0``, ``upper=1`` in the scaled space).
* ``fair`` (statsmodels ``datasets.fair``, a random subset of rows):
  ``occupation``/``occupation_husb`` nominal codes as strings (one-hot),
  ``religious``/``rate_marriage``/``educ`` integers, ``age``/``yrs_married``/
  ``children``/``affairs`` floats; ``make_table_encoder`` (min-max, one-hot)
  fitted on the training split; constraints
  ``FeatureConstraints.from_column_transformer(encoder, df_train,
  immutable=["age"])`` (one-hot groups, integer grids, ranges, age fixed).
  Run with and without constraints; the examples of every run are checked
  against the constraints (for the unconstrained runs: how many break them).

Part 2 (``grid``): a 2 x 2 ``GridSearchCV`` of ``UAEAugmenter`` over
``attack__eps`` and ``attack__max_iter`` (cv=3) on the standardised breast
cancer table, with and without ``memory=`` (a temporary folder): the number
of first fits (counted by a skorch callback from the rows each training
starts with), wall time and the four ``mean_test_score`` values.

The JSON is written after every finished entry; a rerun skips finished
entries (``--fresh`` starts over).

Usage::

    python -m studies.tabular [--seeds 5] [--epochs 20] [--max-iter 20]
        [--fair-rows 1500] [--grid-epochs 10,100] [--parts compare,grid] [--fresh]
        [--out studies/results/tabular.json]
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from studies._common import RESULTS, environment, write_json

from sk_uae import FeatureConstraints, UAEAugmenter
from sk_uae.attacks import MinMaxMINE
from sk_uae.evaluation import (METHODS, _none_epochs, _samples_seen, _steps,
                               baseline_attack)
from sk_uae.constraints import _broken
from sk_uae.metrics import constraint_satisfaction
from sk_uae.models import AutoencoderNet, DenseAutoencoder
from sk_uae.tabular import make_table_encoder


class RecordingNet(AutoencoderNet):
    """An ``AutoencoderNet`` that keeps the rows of its last ``fit`` (to read the examples)."""

    def fit(self, X, y=None, **fit_params):
        self.fit_rows_ = np.asarray(X)
        return super().fit(X, y, **fit_params)


def dense_ae(n_features, epochs, seed, cls=AutoencoderNet, **kw):
    """The net of ``make_model("reconstruction", "dense", ...)`` (same parameters)."""
    return cls(DenseAutoencoder, module__hidden_units=64 if n_features <= 64 else 128, lr=1e-2,
               batch_size=128, max_epochs=epochs, random_state=seed, **kw)


# ----------------------------------------------------------------- data
def load_breast_cancer_split(seed, n_test=0.3):
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data
    X_tr, X_te = train_test_split(X, test_size=n_test, random_state=seed)
    scaler = MinMaxScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    d = X_tr.shape[1]
    # bounds = the training range per column (0 and 1 after the scaler)
    c = FeatureConstraints(lower=X_tr.min(0).tolist(), upper=X_tr.max(0).tolist())
    info = {"n_train": len(X_tr), "n_test": len(X_te), "n_features": d,
            "constraints": "lower/upper = per-column training range (0/1 after MinMaxScaler)"}
    return X_tr.astype(np.float32), X_te.astype(np.float32), c, info


def fair_table():
    import pandas as pd
    import statsmodels.api as sm

    df = sm.datasets.fair.load_pandas().data.copy()
    for col in ("occupation", "occupation_husb"):
        df[col] = df[col].astype(int).astype(str)
    for col in ("religious", "rate_marriage", "educ"):
        df[col] = df[col].astype(np.int64)
    for col in ("age", "yrs_married", "children", "affairs"):
        df[col] = df[col].astype(np.float64)
    return pd.DataFrame(df)


def load_fair_split(seed, n_rows, n_test=1 / 3):
    df = fair_table()
    df = df.iloc[np.random.RandomState(seed).permutation(len(df))[:n_rows]].reset_index(drop=True)
    df_tr, df_te = train_test_split(df, test_size=n_test, random_state=seed)
    # the one-hot encoder errors on a category the training split lacks: drop such test rows
    keep = np.ones(len(df_te), dtype=bool)
    for col in ("occupation", "occupation_husb"):
        keep &= df_te[col].isin(set(df_tr[col])).to_numpy()
    df_te = df_te[keep]
    enc = make_table_encoder(df_tr).fit(df_tr)
    X_tr = np.asarray(enc.transform(df_tr), dtype=np.float32)
    X_te = np.asarray(enc.transform(df_te), dtype=np.float32)
    c = FeatureConstraints.from_column_transformer(enc, df_tr, immutable=["age"])
    cf = clone(c).fit(X_tr.astype(np.float64))
    info = {"n_train": len(X_tr), "n_test": len(X_te), "n_test_dropped_unseen": int((~keep).sum()),
            "n_features": X_tr.shape[1],
            "constraints": "from_column_transformer(encoder, df_train, immutable=['age'])",
            "constraint_summary": {
                "immutable": int(cf.immutable_.sum()), "integer": int(cf.integer_.sum()),
                "one_hot_groups": [len(g) for g in cf.one_hot_groups_],
                "bounded": int(np.isfinite(cf.lower_).sum())}}
    return X_tr, X_te, c, info


# ------------------------------------------------------------- compare
def run_method(method, X_tr, X_te, constraints, seed, epochs, attack, uae_record, check):
    """One method; ``constraints`` go to the augmenter (or None), ``check`` judges the examples."""
    n, d = X_tr.shape
    t0 = time.perf_counter()
    if method == "none":  # the epochs that give the augmented methods' optimiser steps
        none_epochs = _none_epochs(dense_ae(d, epochs, seed, RecordingNet), n, epochs, 1.0,
                                   "scratch")
        aug = UAEAugmenter(dense_ae(d, none_epochs, seed, RecordingNet), ratio=0.0,
                           random_state=seed).fit(X_tr)
    else:
        if method == "uae":
            atk = attack
        else:
            atk = baseline_attack(method, uae_record["distortion_linf_units_mean"],
                                  eps_scale=uae_record["eps_scale"])
        aug = UAEAugmenter(dense_ae(d, epochs, seed, RecordingNet), atk, ratio=1.0,
                           constraints=constraints, random_state=seed).fit(X_tr)
    rec = {"test_mse": float(np.mean((aug.estimator_.predict(X_te) - X_te) ** 2)),
           "samples_seen": _samples_seen(aug.estimator_), "steps": _steps(aug.estimator_)}
    if method != "none":
        X_adv = aug.estimator_.fit_rows_[n:]
        X_cl = X_tr[aug.augment_indices_]
        c_fit = clone(check).fit(X_tr.astype(np.float64))
        rec["constraint_satisfaction"] = constraint_satisfaction(X_adv, X_cl, c_fit)
        # share of rows breaking each kind of constraint (a private helper of the library)
        broken = _broken(c_fit._arrays(), X_adv.astype(np.float64), X_cl.astype(np.float64))
        rec["rows_breaking"] = {k: float(v.any(1).mean()) for k, v in broken.items()
                                if v.any()}
        if "constraints_satisfied" in aug.uae_info_:
            rec["constraints_satisfied_info"] = float(
                np.mean(aug.uae_info_["constraints_satisfied"]))
        rec["success_rate"] = aug.uae_success_rate_
        rec["distortion_linf_mean"] = float(np.abs(X_adv - X_cl).max(1).mean())
        rec["changed_rows"] = float(np.mean(np.any(X_adv != X_cl, axis=1)))
        if "distortion_linf_units" in aug.uae_info_:
            rec["distortion_linf_units_mean"] = float(
                aug.uae_info_["distortion_linf_units"].mean())
        if method == "uae":
            scale = getattr(aug.generator_.attack_, "eps_scale_", None)
            rec["eps_scale"] = "none" if scale is None else np.asarray(scale).tolist()
    rec["seconds"] = time.perf_counter() - t0
    return rec


def part_compare(args, payload, save):
    res = payload.setdefault("compare", {})
    attack = MinMaxMINE(max_iter=args.max_iter)
    payload["compare_settings"] = {
        "epochs_augmented": args.epochs, "epochs_none": 2 * args.epochs, "ratio": 1.0,
        "retrain": "scratch", "attack": repr(attack), "fair_rows": args.fair_rows,
        "model": "dense AE as make_model('reconstruction', 'dense'): hidden 64, lr 1e-2, "
                 "batch 128, output_activation auto",
        "seeds": args.seeds, "metric": "test reconstruction MSE in the encoded, scaled space"}
    runs = [("breast_cancer", "bounds"), ("breast_cancer", "unconstrained"),
            ("fair", "constrained"), ("fair", "unconstrained")]
    order = ["uae"] + [m for m in METHODS if m != "uae"]
    for seed in range(args.seeds):
        for name, variant in runs:
            key = f"{name}/{variant}/seed{seed}"
            entry = res.setdefault(key, {"methods": {}})
            if all(m in entry["methods"] for m in order):
                continue
            if name == "breast_cancer":
                X_tr, X_te, c, info = load_breast_cancer_split(seed)
            else:
                X_tr, X_te, c, info = load_fair_split(seed, args.fair_rows)
            entry["data"] = info
            use = c if variant != "unconstrained" else None
            for m in order:
                if m in entry["methods"]:
                    continue
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rec = run_method(m, X_tr, X_te, use, seed, args.epochs, attack,
                                     entry["methods"].get("uae"), check=c)
                rec["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:90]}"
                                          for w in caught})
                entry["methods"][m] = rec
                print(f"{key} {m}: mse {rec['test_mse']:.5f} sat "
                      f"{rec.get('constraint_satisfaction')} succ {rec.get('success_rate')} "
                      f"linf {rec.get('distortion_linf_mean')} ({rec['seconds']:.1f}s)",
                      flush=True)
                save()
    # summary over seeds
    summary = {}
    for name, variant in runs:
        keys = [k for k in res if k.startswith(f"{name}/{variant}/")]
        done = [res[k] for k in keys if all(m in res[k]["methods"] for m in order)]
        if not done:
            continue
        s = {}
        for m in METHODS:
            vals = {f: [e["methods"][m][f] for e in done if f in e["methods"][m]]
                    for f in ("test_mse", "constraint_satisfaction", "success_rate",
                              "distortion_linf_mean")}
            s[m] = {f: {"mean": float(np.mean(v)), "std": float(np.std(v))}
                    for f, v in vals.items() if v}
        mses = np.array([[e["methods"][m]["test_mse"] for m in METHODS] for e in done])
        s["rank_of_uae_per_seed"] = [int((row < row[METHODS.index("uae")]).sum()) + 1
                                     for row in mses]
        s["n_seeds"] = len(done)
        summary[f"{name}/{variant}"] = s
    payload["compare_summary"] = summary
    save()


# ---------------------------------------------------------------- grid
FIT_SIZES = []


class CountFits(Callback):
    """Records the number of rows every training of a net starts with (in this process)."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        FIT_SIZES.append(int(len(X)))


def part_grid(args, payload, save):
    from sklearn.datasets import load_breast_cancer

    res = payload.setdefault("grid", {})
    X = StandardScaler().fit_transform(load_breast_cancer().data).astype(np.float32)
    cv = KFold(3)
    first_sizes = {len(tr) for tr, _ in cv.split(X)} | {len(X)}
    grid = {"attack__eps": [0.1, 0.3], "attack__max_iter": [10, 20]}
    payload["grid_settings"] = {
        "data": "breast cancer, StandardScaler on all 569 rows", "cv": "KFold(3)",
        "grid": grid, "estimator": "UAEAugmenter(dense AE <epochs> epochs, MinMaxMINE(), "
                                   "random_state=0)", "n_jobs": 1,
        "refit": True, "scoring": "UAEAugmenter.score (negative reconstruction MSE)",
        "first_fit": "a training that starts on a fold's training rows or all rows (refit); "
                     "the others start on the doubled rows"}
    for epochs in [int(e) for e in str(args.grid_epochs).split(",")]:
        for mem in ("no_memory", "memory"):
            label = f"epochs{epochs}/{mem}"
            if label in res:
                continue
            FIT_SIZES.clear()
            with tempfile.TemporaryDirectory() as tmp:
                est = dense_ae(X.shape[1], epochs, 0, callbacks=[CountFits()])
                aug = UAEAugmenter(est, MinMaxMINE(), random_state=0,
                                   memory=tmp if mem == "memory" else None)
                t0 = time.perf_counter()
                gs = GridSearchCV(aug, grid, cv=cv, n_jobs=1).fit(X)
                wall = time.perf_counter() - t0
            first = sum(s in first_sizes for s in FIT_SIZES)
            scores = [float(v) for v in gs.cv_results_["mean_test_score"]]
            res[label] = {
                "wall_seconds": wall, "first_fits": first, "final_fits": len(FIT_SIZES) - first,
                "fit_sizes": list(FIT_SIZES),
                "params": [dict(p) for p in gs.cv_results_["params"]],
                "mean_test_score": scores,
                "std_test_score": [float(v) for v in gs.cv_results_["std_test_score"]],
                "mean_fit_time": [float(v) for v in gs.cv_results_["mean_fit_time"]],
                "best_params": gs.best_params_,
                "scores_all_distinct": len(set(np.round(scores, 10))) == len(scores)}
            print(f"grid {label}: {wall:.1f}s, first fits {first}, final "
                  f"{len(FIT_SIZES) - first}, scores {scores}", flush=True)
            save()
        a, b = res.get(f"epochs{epochs}/memory"), res.get(f"epochs{epochs}/no_memory")
        if a and b:
            res[f"epochs{epochs}/same_scores_with_and_without_memory"] = bool(np.allclose(
                a["mean_test_score"], b["mean_test_score"], rtol=0, atol=1e-7))
            save()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--max-iter", type=int, default=20)
    p.add_argument("--fair-rows", type=int, default=1500)
    p.add_argument("--grid-epochs", default="10,100",
                   help="epochs of the autoencoder, one grid search pair per value")
    p.add_argument("--parts", default="compare,grid")
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--out", default=os.path.join(RESULTS, "tabular.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    payload = {}
    if os.path.isfile(args.out) and not args.fresh:
        with open(args.out) as fh:
            payload = json.load(fh)
    import pandas
    import sklearn
    import skorch
    import statsmodels

    import sk_uae
    payload["environment"] = {**environment(), "sklearn": sklearn.__version__,
                              "skorch": skorch.__version__, "pandas": pandas.__version__,
                              "statsmodels": statsmodels.__version__,
                              "numpy": np.__version__,
                              "sk_uae": getattr(sk_uae, "__version__", None),
                              "load_caveat": "2-core machine shared with other processes; "
                                             "wall times are indicative only",
                              "loadavg_at_start": list(os.getloadavg())}
    payload.pop("command", None)
    payload.setdefault("commands", []).append(  # one per run or resume
        ("python -m studies.tabular " + " ".join(argv or sys.argv[1:])).strip())
    walls = payload.setdefault("part_seconds", {})

    def save():
        write_json(args.out, payload)

    for part, fn in (("compare", part_compare), ("grid", part_grid)):
        if part not in args.parts.split(","):
            continue
        t0 = time.perf_counter()
        fn(args, payload, save)
        walls[part] = walls.get(part, 0.0) + time.perf_counter() - t0  # summed over resumes
        save()


if __name__ == "__main__":
    main()
