"""LMNN-PL's solvers side by side: fit time, iterations, cap hits, accuracy, certificate.

For each data set (scikit-learn's bundled wine, breast cancer and a stratified
digits subset; nothing downloads), random stratified 70/30 splits, preprocessing
fitted on the training part (``StandardScaler`` then ``Normalizer``, as in the
paper), and every (perturbation_weight, min_margin) of a grid, both solvers
(``"pgd"`` and ``"factor"``) are fitted with the same ``max_iter`` and ``tol``,
back to back (their order alternates over splits), one thread. Per fit: time,
iterations, whether the iteration cap was hit (a ``ConvergenceWarning``), final
objective, 3-NN test accuracy and certified accuracy at a few radii
(``certified_radius`` with the learned metric, input-space L2 after
preprocessing).

Results are appended to the JSON as they come; a rerun with the same ``--out``
skips the fits already there (resumable).

    python -m studies.lmnn_solver [--splits 20] [--datasets wine,...]
        [--max-iter 250] [--tol 1e-7] [--out PATH] [--summary] [--merge A,B]
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from studies._common import RESULTS

RADII = [0.05, 0.1, 0.2]
WEIGHTS = [0.0, 1.0, 10.0, 50.0, 200.0]
MARGINS = [0.1, 0.2]
SOLVERS = ["pgd", "factor"]
DIGITS_ROWS = 500


def datasets():
    from sklearn import datasets as skd
    from sklearn.model_selection import train_test_split

    Xd, yd = skd.load_digits(return_X_y=True)
    Xd, _, yd, _ = train_test_split(Xd, yd, train_size=DIGITS_ROWS, stratify=yd,
                                    random_state=0)
    return {
        "wine": skd.load_wine(return_X_y=True),
        "breast_cancer": skd.load_breast_cancer(return_X_y=True),
        "digits500": (Xd, yd),
    }


def key(name, split, weight, margin, solver):
    return f"{name}|{split}|{weight:g}|{margin:g}|{solver}"


def fit_one(X_tr, y_tr, X_te, y_te, solver, weight, margin, max_iter, tol):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neighbors import KNeighborsClassifier

    from sk_uae.metric_learning import LMNNPL, certified_accuracy, certified_radius

    model = LMNNPL(solver=solver, perturbation_weight=weight, min_margin=margin,
                   max_iter=max_iter, tol=tol)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X_tr, y_tr)
        elapsed = time.perf_counter() - start
    capped = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    L = model.components_
    knn = KNeighborsClassifier(3).fit(X_tr @ L.T, y_tr)
    radii = certified_radius(X_tr, y_tr, X_te, y_te, metric=L.T @ L, n_neighbors=3)
    return {
        "fit_time": elapsed, "n_iter": int(model.n_iter_), "capped": capped,
        "objective": float(model.objective_curve_[-1]),
        "accuracy": float(knn.score(X_te @ L.T, y_te)),
        "certified_accuracy": dict(zip(map(str, RADII),
                                       certified_accuracy(radii, RADII).tolist())),
    }


def complete(records):
    """The records of the splits that have every (weight, margin, solver) of their data
    set, so that a run stopped early does not mix splits between cells."""
    cells, splits = {}, {}
    for k in records:
        name, split, rest = k.split("|", 2)
        cells.setdefault(name, set()).add(rest)
        splits.setdefault((name, split), set()).add(rest)
    keep = {ns for ns, have in splits.items() if have == cells[ns[0]]}
    return {k: r for k, r in records.items() if tuple(k.split("|")[:2]) in keep}


def summarise(records):
    """Means over complete splits per (data set, weight, margin, solver), and pooled
    over margins ("all")."""
    groups = {}
    for k, r in complete(records).items():
        name, _, weight, margin, solver = k.split("|")
        for m in (margin, "all"):
            groups.setdefault((name, weight, m, solver), []).append(r)
    out = {}
    for (name, weight, margin, solver), recs in sorted(groups.items()):
        out[f"{name}|{weight}|{margin}|{solver}"] = {
            "n_fits": len(recs),
            "fit_time_mean": float(np.mean([r["fit_time"] for r in recs])),
            "n_iter_mean": float(np.mean([r["n_iter"] for r in recs])),
            "cap_hits": int(sum(r["capped"] for r in recs)),
            "objective_mean": float(np.mean([r["objective"] for r in recs])),
            "accuracy_mean": float(np.mean([r["accuracy"] for r in recs])),
            "certified_accuracy_mean": {
                e: float(np.mean([r["certified_accuracy"][e] for r in recs]))
                for e in map(str, RADII)},
        }
    return out


def markdown(summary, margin="all"):
    lines = ["| data | lambda | fit s pgd | fit s factor | factor/pgd | iters pgd / factor "
             "| cap hits pgd / factor | 3-NN acc. pgd / factor | cert@0.1 pgd / factor |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = {}
    for k, s in summary.items():
        name, weight, m, solver = k.split("|")
        if m == margin:
            rows.setdefault((name, float(weight)), {})[solver] = s
    for (name, weight), per in sorted(rows.items()):
        if set(per) != set(SOLVERS):
            continue
        p, f = per["pgd"], per["factor"]
        lines.append(
            f"| {name} | {weight:g} | {p['fit_time_mean']:.3f} | {f['fit_time_mean']:.3f} | "
            f"{f['fit_time_mean'] / p['fit_time_mean']:.2f} | {p['n_iter_mean']:.0f} / "
            f"{f['n_iter_mean']:.0f} | {p['cap_hits']}/{p['n_fits']} / "
            f"{f['cap_hits']}/{f['n_fits']} | {p['accuracy_mean']:.3f} / "
            f"{f['accuracy_mean']:.3f} | {p['certified_accuracy_mean']['0.1']:.3f} / "
            f"{f['certified_accuracy_mean']['0.1']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(RESULTS) / "lmnn_solver.json"))
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--first-split", type=int, default=0,
                        help="start at this split (to share the splits between processes)")
    parser.add_argument("--datasets", default="wine,breast_cancer,digits500")
    parser.add_argument("--weights", default=",".join(f"{w:g}" for w in WEIGHTS))
    parser.add_argument("--margins", default=",".join(f"{m:g}" for m in MARGINS))
    parser.add_argument("--max-iter", type=int, default=250)
    parser.add_argument("--tol", type=float, default=1e-7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--summary", action="store_true",
                        help="only summarise the JSON already written")
    parser.add_argument("--merge", default=None,
                        help="comma-separated JSON files of runs side by side (e.g. one "
                             "per data set) whose records go into --out, then summarise")
    args = parser.parse_args(argv)

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(out.read_text()) if out.exists() else {"records": {}}
    records = report["records"]
    config = {"max_iter": args.max_iter, "tol": args.tol, "test_size": 0.3, "k": 3,
              "radii": RADII, "threads": args.threads, "digits_rows": DIGITS_ROWS,
              "python": platform.python_version(), "torch": torch.__version__,
              "command": " ".join(["python", "-m", "studies.lmnn_solver"]
                                  + (argv if argv is not None else sys.argv[1:]))}
    old = report.get("config", {})
    if any(old.get(k) not in (None, config[k]) for k in ("max_iter", "tol")):
        sys.exit(f"{out} was written with max_iter={old['max_iter']}, tol={old['tol']}; "
                 "use another --out")
    report["config"] = config
    if args.merge:
        for part in args.merge.split(","):
            other = json.loads(Path(part).read_text())
            records.update(other["records"])
            report.setdefault("merged_from", {})[Path(part).name] = other["config"]

    def save():
        report["summary"] = summarise(records)
        done = {}
        for k in complete(records):
            done.setdefault(k.split("|")[0], set()).add(k.split("|")[1])
        report["splits_complete"] = {name: len(v) for name, v in sorted(done.items())}
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        tmp.replace(out)

    weights = [float(w) for w in args.weights.split(",")]
    margins = [float(m) for m in args.margins.split(",")]
    data = datasets()
    start, resumed = time.perf_counter(), 0
    for name in ([] if args.summary or args.merge else args.datasets.split(",")):
        X, y = data[name]
        X = np.asarray(X, dtype=np.float64)
        for split in range(args.first_split, args.splits):
            X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                                      random_state=split)
            prep = make_pipeline(StandardScaler(), Normalizer()).fit(X_tr)
            X_tr, X_te = prep.transform(X_tr), prep.transform(X_te)
            for weight in weights:
                for margin in margins:
                    order = SOLVERS if split % 2 == 0 else SOLVERS[::-1]
                    for solver in order:
                        k = key(name, split, weight, margin, solver)
                        if k in records:
                            resumed += 1
                            continue
                        r = fit_one(X_tr, y_tr, X_te, y_te, solver, weight, margin,
                                    args.max_iter, args.tol)
                        records[k] = r
                        print(f"{k:36s} {r['fit_time']:7.3f}s it {r['n_iter']:4d}"
                              f"{' CAP' if r['capped'] else '    '} acc {r['accuracy']:.3f}"
                              f" cert@0.1 {r['certified_accuracy']['0.1']:.3f}", flush=True)
                    save()
    save()
    print(f"resumed {resumed} fits; ran for {time.perf_counter() - start:.0f} s")
    print("complete splits:", report["splits_complete"])
    print(markdown(report["summary"]))


if __name__ == "__main__":
    main()
