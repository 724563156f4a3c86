"""Benchmark of LMNN-PL: 3-NN accuracy, certified accuracy and fit time.

Methods: Euclidean, LMNN (LMNNPL with perturbation_weight=0), LMNN-PL and
scikit-learn's NeighborhoodComponentsAnalysis, on wine, breast cancer, iris,
digits and an MNIST subset (PCA to 50 dimensions), over random stratified
70/30 splits. Hyperparameters are chosen by 3-fold cross-validation on the
training part only. A second part times metric-learn 0.7's LMNN against LMNNPL
on the same split (metric-learn runs in its own virtualenv, in a subprocess,
because it needs scikit-learn < 1.6); it is skipped when that cannot be set up.

    python -m studies.metric [--quick] [--out PATH]
"""

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from studies._common import DEFAULT_MNIST, RESULTS, ROOT

MNIST_DIR = Path(DEFAULT_MNIST)
VENV = Path(ROOT) / "studies" / ".venv-metric-learn"
RADII = [0.05, 0.1, 0.15, 0.2, 0.3]


def load_mnist(folder, n_samples=None, random_state=0):
    """MNIST images (flattened, uint8 as float) and labels from gzip IDX files,
    optionally a stratified random subset of ``n_samples``."""
    folder = Path(folder)

    def read(name):
        with gzip.open(folder / name, "rb") as f:
            data = f.read()
        ndim = data[3]
        shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)

    X = read("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float64)
    y = read("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if n_samples is not None and n_samples < len(y):
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=n_samples, stratify=y,
                                      random_state=random_state)
    return X, y


def datasets(quick):
    from sklearn import datasets as skd

    out = {
        "wine": skd.load_wine(return_X_y=True),
        "breast_cancer": skd.load_breast_cancer(return_X_y=True),
        "iris": skd.load_iris(return_X_y=True),
        "digits": skd.load_digits(return_X_y=True),
    }
    if (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        out["mnist_pca50"] = load_mnist(MNIST_DIR, n_samples=600 if quick else 2000)
    else:
        print("MNIST files not found; skipping the MNIST subset", file=sys.stderr)
    if quick:
        out = {k: out[k] for k in ("wine", "iris", "mnist_pca50") if k in out}
    return out


def preprocessing(name):
    """Unfitted preprocessing: PCA to 50 dims for MNIST, then scale and L2-normalise."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    steps = [PCA(50, random_state=0)] if name.startswith("mnist") else []
    return make_pipeline(*steps, StandardScaler(), Normalizer())


def methods(quick, max_iter):
    """name -> (unfitted metric learner or None, inner-CV grid)."""
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    from sk_uae.metric_learning import LMNNPL

    lmnn = LMNNPL(perturbation_weight=0.0, solver="factor", max_iter=max_iter)
    lmnnpl = LMNNPL(solver="factor", max_iter=max_iter)
    grids = {
        "lmnn": {"pull_weight": [0.25, 0.5]},
        "lmnnpl": {"perturbation_weight": [1.0, 30.0], "min_margin": [0.1]},
    }
    if quick:
        grids = {"lmnn": {"pull_weight": [0.5]},
                 "lmnnpl": {"perturbation_weight": [1.0, 10.0], "min_margin": [0.1]}}
    return {
        "euclidean": (None, {}),
        "lmnn": (lmnn, grids["lmnn"]),
        "lmnnpl": (lmnnpl, grids["lmnnpl"]),
        "nca": (NeighborhoodComponentsAnalysis(random_state=0), {}),
    }


def evaluate_split(X_train, y_train, X_test, y_test, learner, grid, seed):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    from sk_uae.metric_learning import certified_accuracy, certified_radius

    record = {"params": {}, "fit_time": 0.0}
    metric = None
    if learner is not None:
        if any(len(v) > 1 for v in grid.values()):
            pipe = Pipeline([("metric", clone(learner)), ("knn", KNeighborsClassifier(3))])
            search = GridSearchCV(pipe, {f"metric__{k}": v for k, v in grid.items()},
                                  cv=StratifiedKFold(3, shuffle=True, random_state=seed))
            search.fit(X_train, y_train)
            record["params"] = {k.split("__", 1)[1]: v
                                for k, v in search.best_params_.items()}
        else:
            record["params"] = {k: v[0] for k, v in grid.items()}
        model = clone(learner).set_params(**record["params"])
        start = time.perf_counter()
        model.fit(X_train, y_train)
        record["fit_time"] = time.perf_counter() - start
        L = model.components_
        metric = L.T @ L
        Z_train, Z_test = X_train @ L.T, X_test @ L.T
    else:
        Z_train, Z_test = X_train, X_test
    knn = KNeighborsClassifier(3).fit(Z_train, y_train)
    record["accuracy"] = float(knn.score(Z_test, y_test))
    radii = certified_radius(X_train, y_train, X_test, y_test, metric=metric,
                             n_neighbors=3)
    record["certified_accuracy"] = dict(zip(map(str, RADII),
                                            certified_accuracy(radii, RADII).tolist()))
    return record


def benchmark_accuracy(data, n_splits, quick, max_iter, checkpoint=None):
    from sklearn.model_selection import train_test_split

    results = {}
    for name, (X, y) in data.items():
        results[name] = {m: [] for m in methods(quick, max_iter)}
        for split in range(n_splits):
            X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                                      random_state=split)
            prep = preprocessing(name).fit(X_tr)
            X_tr, X_te = prep.transform(X_tr), prep.transform(X_te)
            for method, (learner, grid) in methods(quick, max_iter).items():
                rec = evaluate_split(X_tr, y_tr, X_te, y_te, learner, grid, split)
                results[name][method].append(rec)
                print(f"{name:14s} split {split:2d} {method:9s} acc {rec['accuracy']:.3f} "
                      f"cert@0.1 {rec['certified_accuracy']['0.1']:.3f} "
                      f"fit {rec['fit_time']:.2f}s {rec['params']}", flush=True)
            if checkpoint is not None:
                checkpoint(results)
    return results


ML_SCRIPT = """
import sys, time, json, numpy as np
from metric_learn import LMNN
d = sys.argv[1]
X, y = np.load(d + '/X_train.npy'), np.load(d + '/y_train.npy')
start = time.perf_counter()
model = LMNN(n_neighbors=3, random_state=0).fit(X, y)
elapsed = time.perf_counter() - start
np.save(d + '/L.npy', model.components_)
json.dump({'fit_time': elapsed, 'n_iter': int(getattr(model, 'n_iter_', -1))},
          open(d + '/ml.json', 'w'))
"""


def metric_learn_python():
    """Python of a virtualenv with metric-learn 0.7 (created when missing), or None."""
    python = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "metric-learn==0.7.0",
                            "scikit-learn<1.6", "numpy", "scipy"], check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"metric-learn virtualenv unavailable ({exc}); skipping", file=sys.stderr)
            return None
    ok = subprocess.run([str(python), "-c", "import metric_learn"], capture_output=True)
    return python if ok.returncode == 0 else None


def benchmark_speed(data, max_iter, timeout):
    """LMNNPL (both solvers, with and without the perturbation term) vs metric-learn."""
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    from sk_uae.metric_learning import LMNNPL

    python = metric_learn_python()
    out = {}
    for name, (X, y) in data.items():
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=0)
        prep = preprocessing(name).fit(X_tr)
        X_tr, X_te = prep.transform(X_tr), prep.transform(X_te)

        def score(L):
            knn = KNeighborsClassifier(3).fit(X_tr @ L.T, y_tr)
            return float(knn.score(X_te @ L.T, y_te))

        rows = {}
        for label, params in {
            "lmnn_pgd": dict(perturbation_weight=0.0, solver="pgd"),
            "lmnn_factor": dict(perturbation_weight=0.0, solver="factor"),
            "lmnnpl_pgd": dict(solver="pgd"),
            "lmnnpl_factor": dict(solver="factor"),
        }.items():
            model = LMNNPL(max_iter=max_iter, **params)
            start = time.perf_counter()
            model.fit(X_tr, y_tr)
            rows[label] = {"fit_time": time.perf_counter() - start,
                           "accuracy": score(model.components_),
                           "objective": float(model.objective_curve_[-1]),
                           "n_iter": int(model.n_iter_)}
        if python is not None:
            with tempfile.TemporaryDirectory() as tmp:
                np.save(f"{tmp}/X_train.npy", X_tr)
                np.save(f"{tmp}/y_train.npy", y_tr)
                try:
                    subprocess.run([str(python), "-c", ML_SCRIPT, tmp], check=True,
                                   timeout=timeout, env=dict(os.environ))
                    info = json.load(open(f"{tmp}/ml.json"))
                    info["accuracy"] = score(np.load(f"{tmp}/L.npy"))
                except subprocess.TimeoutExpired:
                    info = {"fit_time": None, "timeout_s": timeout}
                except subprocess.CalledProcessError as exc:
                    info = {"fit_time": None, "error": str(exc)}
            rows["metric_learn_lmnn"] = info
        out[name] = rows
        print(name, json.dumps(rows), flush=True)
    return out


def summarise(results):
    summary = {}
    for name, per_method in results.items():
        summary[name] = {}
        for method, recs in per_method.items():
            acc = [r["accuracy"] for r in recs]
            cert = {e: [r["certified_accuracy"][e] for r in recs] for e in map(str, RADII)}
            summary[name][method] = {
                "accuracy_mean": float(np.mean(acc)), "accuracy_std": float(np.std(acc)),
                "certified_accuracy_mean": {e: float(np.mean(v)) for e, v in cert.items()},
                "fit_time_mean": float(np.mean([r["fit_time"] for r in recs])),
            }
    return summary


def markdown(summary, speed):
    lines = ["| data | method | 3-NN acc. | " + " | ".join(f"cert@{e}" for e in RADII)
             + " | fit s |", "|" + "---|" * (4 + len(RADII))]
    for name, per_method in summary.items():
        for method, s in per_method.items():
            cert = " | ".join(f"{s['certified_accuracy_mean'][str(e)]:.3f}" for e in RADII)
            lines.append(f"| {name} | {method} | {s['accuracy_mean']:.3f} ± "
                         f"{s['accuracy_std']:.3f} | {cert} | {s['fit_time_mean']:.2f} |")
    if speed:
        lines += ["", "| data | fit | time s | 3-NN acc. | objective | iters |",
                  "|---|---|---|---|---|---|"]
        for name, rows in speed.items():
            for label, r in rows.items():
                t = "n/a" if r.get("fit_time") is None else f"{r['fit_time']:.2f}"
                acc = f"{r['accuracy']:.3f}" if "accuracy" in r else "n/a"
                obj = f"{r['objective']:.5f}" if "objective" in r else ""
                lines.append(f"| {name} | {label} | {t} | {acc} | {obj} | "
                             f"{r.get('n_iter', '')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(RESULTS) / "metric.json"))
    parser.add_argument("--quick", action="store_true", help="smoke run: small and fast")
    parser.add_argument("--splits", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/BLAS threads, for us and for metric-learn")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated subset of wine,breast_cancer,iris,digits,"
                             "mnist_pca50")
    parser.add_argument("--part", choices=["all", "accuracy", "speed"], default="all",
                        help="run one part only (e.g. two processes side by side)")
    parser.add_argument("--ml-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # for the metric-learn subprocess
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    n_splits = args.splits or (2 if args.quick else 10)
    max_iter = 100 if args.quick else 1000
    data = datasets(args.quick)
    if args.datasets:
        data = {k: v for k, v in data.items() if k in args.datasets.split(",")}
    for name, (X, y) in data.items():
        data[name] = (np.asarray(X, dtype=np.float64), y)

    start = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.json")

    def checkpoint(results):
        partial.write_text(json.dumps({"summary": summarise(results), "per_split": results}))

    results = {} if args.part == "speed" else benchmark_accuracy(
        data, n_splits, args.quick, max_iter, checkpoint)
    speed = {} if args.part == "accuracy" else benchmark_speed(
        data, max_iter, 60 if args.quick else args.ml_timeout)
    summary = summarise(results)
    report = {
        "config": {"n_splits": n_splits, "test_size": 0.3, "inner_cv": 3, "k": 3,
                   "radii": RADII, "quick": args.quick, "threads": args.threads,
                   "grids": {m: g for m, (_, g) in methods(args.quick, max_iter).items()},
                   "python": platform.python_version(),
                   "total_time_s": time.perf_counter() - start},
        "summary": summary, "speed": speed, "per_split": results,
    }
    out.write_text(json.dumps(report, indent=1))
    print(markdown(summary, speed))
    print(f"wrote {out} in {report['config']['total_time_s']:.0f} s")


if __name__ == "__main__":
    main()
