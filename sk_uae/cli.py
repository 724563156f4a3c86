"""Command line: ``sk-uae``.

``sk-uae augment`` (the main job) trains a model on the embedded digits (or
MNIST IDX files, or a CSV), makes UAEs, retrains on the union, and compares
held-out metrics with the baselines at an equal step budget, over seeds.
``sk-uae generate`` makes UAEs for a number of rows and reports their
success rate, MI and distortion. ``sk-uae robustness`` trains a model with
and without adversarial training and writes both robustness curves.

The parser needs neither torch nor scikit-learn: they are imported by the
jobs, so that ``--help`` and a mistyped option answer at once.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

# the choices the parser offers; tests/test_cli.py checks them against the
# library's own tables (importing those would load torch before parsing)
TASK_NAMES = ("reconstruction", "representation", "contrastive")
METHOD_NAMES = ("none", "duplicate", "noise", "pgd", "uae")
RETRAIN_NAMES = ("scratch", "continue")
SCALE_NAMES = ("minmax", "standard", "none")
ROBUSTNESS_MODEL_NAMES = ("autoencoder", "classifier", "concrete", "contrastive")
TRAINING_ATTACK_NAMES = ("pgd", "noise", "uae")
EVERY_NAMES = ("batch", "epoch")
EPS_GRID = "0,0.05,0.1,0.2,0.3"

DESCRIPTION = """\
Adversarial examples as data augmentation. `sk-uae augment`, the main job,
trains a model (by default a sparse autoencoder on scikit-learn's digits),
makes one unsupervised adversarial example (UAE) per training row with the
MinMax MINE attack, retrains on the doubled set, and prints the held-out
metric of every method -- no augmentation, duplicated rows, matched Gaussian
noise, matched PGD and UAEs -- at an equal number of optimiser steps, over
seeds, with a paired test against no augmentation. `sk-uae generate` makes
UAEs for some rows and reports their success rate, MI and distortion; on a
CSV it writes them in the file's own columns. `sk-uae robustness` trains a
model with and without adversarial training (examples made against the
model as it trains) and writes the robustness curves of both. `sk-uae
COMMAND --help` lists each command's options."""


class _Data:
    """What a ``--data`` option gives: the model's float rows and, for a CSV, its table."""

    def __init__(self, X, y, shape=None, table=None, encoder=None, constraints=None,
                 scale="none"):
        self.X, self.y, self.shape = X, y, shape
        self.table, self.encoder, self.constraints, self.scale = table, encoder, constraints, scale


def _load(args):
    from .constraints import FeatureConstraints
    from .datasets import load_csv_table, load_digits_images, load_mnist_idx
    from .tabular import make_table_encoder

    spec = args.data
    if spec == "digits":
        return _Data(*load_digits_images(), shape=(1, 8, 8))
    if spec == "mnist":
        if args.data_dir is None:
            raise ValueError("--data mnist needs --data-dir, the folder with the MNIST IDX files")
        return _Data(*load_mnist_idx(args.data_dir), shape=(1, 28, 28))
    if not spec.startswith("csv:"):
        raise ValueError(f"--data {spec!r} is not known; expected digits, mnist or csv:PATH")
    table, y = load_csv_table(spec[4:])
    scale = "minmax" if args.scale == "auto" else args.scale
    columns = getattr(args, "immutable", None)
    immutable = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    unknown = sorted(set(immutable or ()) - set(table.columns))
    if unknown:
        raise ValueError(f"--immutable names columns the CSV does not have: {unknown}")
    # the encoder (categories, column ranges) sees every row; the models only the training split
    encoder = make_table_encoder(table, scale=scale).fit(table)
    X = np.asarray(encoder.transform(table), dtype=np.float32)
    constraints = FeatureConstraints.from_column_transformer(encoder, table, immutable=immutable)
    return _Data(X, y, table=table, encoder=encoder, constraints=constraints, scale=scale)


def _augment(args):
    """The main job: every method's held-out metric at an equal step budget, over seeds."""
    from . import _streaming as st
    from .attacks import MinMaxMINE
    from .evaluation import TASKS, step_budget
    from .utils import resolve_device
    from .utils._versions import package_versions

    data = _load(args)
    X, y, shape = data.X, data.y, data.shape
    n_train, n_test = _split_sizes(args, len(X))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    attack = MinMaxMINE(eps=args.eps, max_iter=args.max_iter)
    # the engine that runs (the compiled MINE step or torch's agree only to float
    # rounding) and the package versions: a resume with others starts afresh
    options = {"data": args.data, "scale": data.scale, "immutable": args.immutable,
               "task": args.task, "model": args.model, "epochs": args.epochs,
               "ratio": args.ratio, "retrain": args.retrain, "n_train": int(n_train),
               "n_test": int(n_test), "batch_size": args.batch_size, "device": args.device,
               "attack": {k: v for k, v in attack.get_params().items() if k != "objective"},
               "engine": attack.engine_for(resolve_device(args.device)),
               "versions": package_versions()}
    checkpoint = _Checkpoint(os.path.join(args.out, CHECKPOINT),
                             {**options, "X": st.hash_array(X),
                              "y": None if y is None else st.hash_array(y)})
    runs, examples = _run_seeds(args, data, n_train, n_test, methods, attack, checkpoint)
    task = TASKS[args.task]
    summary = {m: {"mean": float(np.mean([r["scores"][m] for r in runs])),
                   "std": float(np.std([r["scores"][m] for r in runs]))} for m in methods}
    tests = ({m: _paired(runs, m, task.higher_is_better) for m in methods if m != "none"}
             if "none" in methods else {})
    payload = {**options, "metric": task.metric, "higher_is_better": task.higher_is_better,
               "step_budget": step_budget(args.retrain), "summary": summary,
               "paired_tests_vs_none": tests, "runs": runs,
               "command": ["sk-uae"] + list(sys.argv[1:] if args.argv is None else args.argv),
               "wall_seconds": time.time() - args.started}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(payload, fh, indent=2, default=str)
    _print_summary(args, task, summary, runs, tests, data.scale)
    written = ["results.json"] + ([] if args.no_plots else
                                  _plot(args.out, summary, task.metric, shape, examples,
                                        task.higher_is_better))
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


CHECKPOINT = "checkpoint.json"


class _Checkpoint:
    """Finished (seed, method) records of ``sk-uae augment``, kept in one JSON file.

    The file is rewritten atomically after every record, so a killed run
    loses at most the method in progress. Records are reused only when the
    options that determine them (all but ``--seeds``, ``--methods``,
    ``--out`` and ``--no-plots``), the MINE engine that runs, the package
    versions and the data are those of this run; otherwise the run starts
    afresh. Nothing is written before the first
    record, so a run stopped by a bad option leaves the folder as it was.
    """

    def __init__(self, path, options):
        from . import _streaming as st

        self.path = path
        self.fingerprint = st.digest(st.jsonable(options))
        self.records = {}
        self.stale = False
        old = None
        if os.path.exists(path):
            try:
                with open(path) as fh:
                    old = json.load(fh)
            except (OSError, ValueError):
                old = None
        if isinstance(old, dict) and old.get("fingerprint") == self.fingerprint:
            self.records = old.get("records", {})
        elif old is not None:
            self.stale = True

    def done(self, seed):
        """The finished records of ``seed``, by method."""
        return dict(self.records.get(str(seed), {}))

    def add(self, seed, method, record):
        if self.stale:
            print(f"{self.path} held results of other options, engine, versions or data; "
                  "started afresh", file=sys.stderr)
            self.stale = False
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self.records.setdefault(str(seed), {})[method] = record
        from . import _streaming as st

        # insertion order kept: a resumed run must write the same results.json
        st.write_json_atomic(self.path, {"fingerprint": self.fingerprint,
                                         "records": self.records}, sort_keys=False)


def _split_sizes(args, n_rows):
    """``(n_train, n_test)`` from ``--n-train`` / ``--n-test`` (default 75 % / 25 %)."""
    for name, value in (("--seeds", getattr(args, "seeds", 1)), ("--epochs", args.epochs)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    for name, value in (("--n-train", args.n_train), ("--n-test", args.n_test)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    n_test = args.n_test if args.n_test is not None else max(1, int(0.25 * n_rows))
    n_train = args.n_train if args.n_train is not None else n_rows - n_test
    if n_train + n_test > n_rows or n_train < 2:
        raise ValueError(f"--n-train {n_train} + --n-test {n_test} exceed the {n_rows} rows")
    return n_train, n_test


def _run_seeds(args, data, n_train, n_test, methods, attack, checkpoint):
    """One :func:`compare_augmentations` per seed (and split), resuming finished methods."""
    from sklearn.model_selection import train_test_split

    from .evaluation import TASKS, compare_augmentations

    X, y = data.X, data.y
    runs, examples = [], None
    needs_labels = TASKS[args.task].needs_labels
    resumed = sum(len(checkpoint.done(seed)) for seed in range(args.seeds))
    if resumed:
        matched = {"uae"} if {"noise", "pgd"} & set(methods) else set()  # run to match them
        total = args.seeds * len(set(methods) | matched)
        print(f"resumed {resumed} of {total} results from {checkpoint.path}", file=sys.stderr)
    bar = _LazyBar(args.seeds)

    def on_result(seed, method, record):
        checkpoint.add(seed, method, record)
        bar.show()

    for seed in range(args.seeds):
        strat = y if (y is not None and needs_labels) else None
        idx_train, idx_test = train_test_split(np.arange(len(X)), train_size=n_train,
                                               test_size=n_test, random_state=seed,
                                               stratify=strat)
        res = compare_augmentations(
            X[idx_train], X[idx_test], None if y is None else y[idx_train],
            None if y is None else y[idx_test], task=args.task, model=args.model,
            methods=methods, epochs=args.epochs, ratio=args.ratio, retrain=args.retrain,
            attack=attack, image_shape=data.shape, seed=seed, batch_size=args.batch_size,
            constraints=data.constraints,
            device=args.device, done=checkpoint.done(seed),
            on_result=lambda method, record, seed=seed: on_result(seed, method, record))
        runs.append({"seed": seed, "scores": res["scores"], "samples_seen": res["samples_seen"],
                     "steps": res["steps"], "uae": res["uae"]})
        if seed == 0:
            examples = res["examples"]
        bar.update(uae_success=f"{res['uae']['success_rate']:.2f}" if res["uae"] else "-")
    bar.close()
    return runs, examples


class _LazyBar:
    """The progress bar over seeds, drawn once the first result is in.

    A bad option is found before any model trains; drawn lazily, the bar
    does not stand in front of that one-line error.
    """

    def __init__(self, total):
        self.total = total
        self.bar = None
        self.started = time.time()

    def show(self):
        from tqdm.auto import tqdm

        if self.bar is None:
            self.bar = tqdm(total=self.total, desc="sk-uae augment", unit="seed")
            self.bar.start_t = self.started  # the clock runs from the start of the job

    def update(self, **postfix):
        self.show()
        self.bar.set_postfix(**postfix, refresh=False)
        self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _paired(runs, method, higher_is_better):
    """Difference to ``none`` per seed and its paired t-test, as the table prints them."""
    from scipy.stats import ttest_rel

    a = np.array([r["scores"][method] for r in runs])
    b = np.array([r["scores"]["none"] for r in runs])
    better = int(np.sum(a > b) if higher_is_better else np.sum(a < b))
    if len(runs) < 2 or np.all(a == b):
        p = None
    else:
        p = float(ttest_rel(a, b).pvalue)
    return {"diff": float(np.mean(a - b)), "p": p, "better": better, "n": len(runs)}


def _print_summary(args, task, summary, runs, tests, scale="none"):
    units = "" if scale == "none" else f" on the {scale}-scaled columns"
    direction = "higher" if task.higher_is_better else "lower"
    n = len(runs)
    print(f"\n{task.metric}{units}, {direction} is better; {args.data}, "
          f"{args.task}/{args.model}")
    print(f"mean +- std over {n} seed(s); 'none' trains as many optimiser steps as the "
          "augmented models")
    print(f"  {'method':<10} {'mean':>9} {'+- std':>10}   difference to none (paired t-test)")
    for m, s in summary.items():
        std = f"+- {s['std']:.5f}" if n > 1 else "+- n/a"
        line = f"  {m:<10} {s['mean']:>9.5f} {std:>10}"
        if m in tests:
            t = tests[m]
            word = "same"
            if t["diff"] != 0:
                word = "better" if (t["diff"] > 0) == task.higher_is_better else "worse"
            p = "p n/a with one seed" if t["p"] is None and n < 2 else (
                "p n/a" if t["p"] is None else f"p = {t['p']:.3f}")
            line += (f"   {t['diff']:+.5f} ({word}; {p}; better than none in "
                     f"{t['better']}/{t['n']} seeds)")
        print(line)
    rates = [r["uae"]["success_rate"] for r in runs if r["uae"]]
    if rates:
        print(f"UAE success rate {np.mean(rates):.3f}: the share of attacked rows whose "
              "example meets the attack's goal (the model's loss on it no higher than on the "
              "row, with a positive MI estimate); mean L-inf distortion "
              f"{np.mean([r['uae']['distortion_linf_mean'] for r in runs]):.4f}")


def _plot(out, summary, metric, shape, examples, higher_is_better=False):
    """The figures of the main job; returns the names written."""
    from ._plots import plot_examples, plot_scores

    plot_scores(summary, metric, os.path.join(out, "scores.png"),
                higher_is_better=higher_is_better)
    written = ["scores.png"]
    if shape is not None and examples is not None and examples["adversarial"] is not None:
        plot_examples(examples["original"], examples["adversarial"], shape,
                      os.path.join(out, "uae_examples.png"), success=examples.get("success"))
        written.append("uae_examples.png")
    return written


def _generate(args):
    from sklearn.frozen import FrozenEstimator

    from ._generator import UAEGenerator
    from .attacks import MinMaxMINE
    from .evaluation import baseline_attack
    from .mine import estimate_mi
    from .models import AutoencoderNet, SparseAutoencoder
    from .tabular import inverse_table

    for name, value in (("--n-samples", args.n_samples), ("--epochs", args.epochs),
                        ("--hidden-units", args.hidden_units)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    data = _load(args)
    X = data.X
    n = min(args.n_samples, len(X))
    # output_activation="auto": a sigmoid for data in [0, 1], else the identity
    ae = AutoencoderNet(SparseAutoencoder, module__hidden_units=args.hidden_units,
                        max_epochs=args.epochs, lr=1e-2)
    gen = UAEGenerator(ae, attack=MinMaxMINE(eps=args.eps, max_iter=args.max_iter),
                       batch_size=args.batch_size, random_state=args.seed, verbose=1,
                       constraints=data.constraints)
    t0 = time.perf_counter()
    gen.fit(X)
    t1 = time.perf_counter()
    X_adv, info = gen.generate(X[:n])
    t2 = time.perf_counter()
    ok = info["success"]
    # the augmentation baseline of the same mean distortion, as in sk-uae augment
    noise = UAEGenerator(FrozenEstimator(gen.estimator_),
                         baseline_attack("noise", info["distortion_linf_units"].mean(),
                                         eps_scale=gen.attack_.eps_scale),
                         random_state=args.seed, constraints=data.constraints)
    noise = noise.fit(X).transform(X[:n])
    mi_uae = estimate_mi(X[:n], X_adv, random_state=args.seed)
    mi_noise = estimate_mi(X[:n], noise, random_state=args.seed)
    summary = {
        "data": args.data, "n_samples": int(n), "eps": args.eps, "max_iter": args.max_iter,
        "success_rate": float(ok.mean()),
        "mean_mi_attack_successful": float(info["mi"][ok].mean()) if ok.any() else None,
        "mean_mi_independent_uae": float(mi_uae.mean()),
        "mean_mi_independent_noise_matched_linf": float(mi_noise.mean()),
        "mean_distortion_linf": float(info["distortion_linf"].mean()),
        "mean_distortion_linf_eps_units": float(info["distortion_linf_units"].mean()),
        "fit_seconds": t1 - t0, "generate_seconds": t2 - t1,
        "engine": gen.attack_.mine_backend_,
    }
    written = ["uae.npy", "summary.json"]
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "uae.npy"), X_adv)
    if data.table is not None:
        # the examples in the CSV's own columns, units and categories, in its row order
        like = data.table.iloc[:n]
        table = inverse_table(data.encoder, X_adv, like)
        summary["constraint_satisfaction"] = float(info["constraints_satisfied"].mean())
        summary["mean_abs_change_original_units"] = {
            c: float(np.abs(table[c].to_numpy(np.float64) - like[c].to_numpy(np.float64)).mean())
            for c in like.select_dtypes("number").columns}
        if data.y is not None:
            table["label"] = data.y[:n]
        table.to_csv(os.path.join(args.out, "uaes.csv"), index=False)
        written.insert(0, "uaes.csv")
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.4g}" for k, v in value.items())
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


def _robustness(args):
    """Train with and without adversarial training; write both robustness curves."""
    from sklearn.model_selection import train_test_split

    from .evaluation import compare_robustness
    from .utils._versions import package_versions

    grid = _eps_grid(args.eps_grid)
    for name, value in (("--max-iter", args.max_iter), ("--batch-size", args.batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    data = _load(args)
    X, y = data.X, data.y
    if args.model == "classifier" and y is None:
        raise ValueError("--model classifier needs labels: a CSV column named 'label'")
    n_train, n_test = _split_sizes(args, len(X))
    idx_train, idx_test = train_test_split(
        np.arange(len(X)), train_size=n_train, test_size=n_test, random_state=args.seed,
        stratify=y if (y is not None and args.model == "classifier") else None)
    res = compare_robustness(
        X[idx_train], X[idx_test], None if y is None else y[idx_train],
        None if y is None else y[idx_test], model=args.model, attack=args.attack, eps=args.eps,
        eps_grid=grid, every=args.every, ratio=args.ratio, epochs=args.epochs,
        max_iter=args.max_iter, constraints=data.constraints, seed=args.seed,
        batch_size=args.batch_size, device=args.device, verbose=args.verbose)
    curves = res["curves"]
    options = {"data": args.data, "scale": data.scale, "model": args.model,
               "kind": res["kind"], "attack": args.attack, "eps": args.eps, "eps_grid": grid,
               "every": args.every, "ratio": args.ratio, "epochs": args.epochs,
               "max_iter": args.max_iter, "n_train": int(n_train), "n_test": int(n_test),
               "batch_size": args.batch_size, "seed": args.seed, "device": args.device}
    payload = {**options,
               "greater_is_better": curves["none"].attrs["greater_is_better"],
               "curves": {name: {column: [_json_number(v) for v in values]
                                 for column, values in curve.to_dict(orient="list").items()}
                          for name, curve in curves.items()},
               "training": res["training"], "versions": package_versions(),
               "command": ["sk-uae"] + list(sys.argv[1:] if args.argv is None else args.argv),
               "wall_seconds": time.time() - args.started}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "robustness.json"), "w") as fh:
        json.dump(payload, fh, indent=2, allow_nan=False)
    _print_robustness(args, curves, res["training"])
    written = ["robustness.json"]
    if not args.no_plots:
        from ._plots import plot_robustness_curves

        plot_robustness_curves(
            {"none": curves["none"], f"adversarial training ({args.attack}, eps {args.eps})":
             curves["adversarial"]}, os.path.join(args.out, "robustness.png"),
            title=f"{args.model} on {args.data}: held-out rows attacked at each eps")
        written.append("robustness.png")
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


def _eps_grid(text):
    try:
        grid = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--eps-grid {text!r} is not a comma-separated list of numbers") from None
    if not grid or any(not np.isfinite(v) or v < 0 for v in grid):
        raise ValueError(f"--eps-grid needs non-negative budgets; got {text!r}")
    return grid


def _json_number(value):
    """A number as strict JSON takes it: NaN (no UAE at budget 0) as null."""
    value = float(value)
    return value if np.isfinite(value) else None


def _print_robustness(args, curves, training):
    none, adv = curves["none"], curves["adversarial"]
    better = none.attrs["greater_is_better"]
    print(f"\n{args.model} on {args.data}: held-out rows attacked at each eps (PGD on the "
          "model's own objective); none vs adversarial training "
          f"({args.attack}, eps {args.eps}, every {args.every})")
    for metric, higher in better.items():
        print(f"  {metric} ({'higher' if higher else 'lower'} is more robust)")
        for e, a, b in zip(none["eps"], none[metric], adv[metric]):
            print(f"    eps {e:<6g} none {a:>9.4f}   adversarial {b:>9.4f}")
    t = training["adversarial"]
    print(f"training: {training['none']['seconds']:.1f} s without, {t['seconds']:.1f} s with "
          f"adversarial training ({t['adv_seconds']:.1f} s in the attack, "
          f"{int(t['adv_rows'])} rows attacked over {args.epochs} epochs)")


class _UsageError(ValueError):
    """A command line argparse refused (reported with the usage line, like every other error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written, and every option's default after its help.

    Options without a value by default say in their help what happens then.
    """

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _version():
    try:
        from importlib.metadata import version

        return version("sk_uae")
    except Exception:  # not installed (a source checkout on the path): ask the package
        from .utils._versions import __version__

        return __version__


def _data_options(parser, immutable=True):
    parser.add_argument("--data", default="digits", metavar="digits|mnist|csv:PATH",
                        help="the rows: scikit-learn's 8x8 digits, the MNIST IDX files of "
                        "--data-dir, or a CSV file with a header row (columns of any type; a "
                        "column named 'label' is taken as the labels)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder of the MNIST IDX files (needed with --data mnist; no "
                        "default)")
    parser.add_argument(
        "--scale", default="auto", choices=("auto",) + SCALE_NAMES,
        help="scaling of a CSV's numeric columns before the model sees them (auto: minmax "
        "for a CSV, none for digits and mnist); string and boolean columns are one-hot "
        "encoded")
    if immutable:
        parser.add_argument(
            "--immutable", default=None, metavar="COL,...",
            help="CSV columns the examples never change (default: none; integer columns stay "
            "integers and categories valid categories in any case)")


def _attack_options(parser):
    parser.add_argument("--eps", type=float, default=0.3,
                        help="the attack's budget: the largest change of a column, as a "
                        "fraction of the column's range on the training rows")
    parser.add_argument("--max-iter", type=int, default=40,
                        help="MinMax iterations of the attack per row")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="rows attacked together (the results do not depend on it)")


def build_parser():
    """The parser of ``sk-uae`` (no torch needed to build or run it)."""
    parser = _Parser(prog="sk-uae", description=DESCRIPTION, formatter_class=_Formatter,
                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    kw = dict(formatter_class=_Formatter, allow_abbrev=False)
    a = sub.add_parser(
        "augment", help="the main job: augment with UAEs and compare with every baseline",
        description="Train, attack, retrain and compare every augmentation method at an equal "
        "number of optimiser steps, over seeds; writes results.json and figures to --out and "
        f"resumes an interrupted run from {CHECKPOINT} there.", **kw)
    _data_options(a)
    a.add_argument("--task", default="reconstruction", choices=TASK_NAMES,
                   help="what is learned and how it is judged: reconstruction (test MSE of an "
                   "autoencoder), representation (accuracy on a concrete autoencoder's selected "
                   "features) or contrastive (linear-probe accuracy of a contrastive encoder)")
    a.add_argument("--model", default="sparse",
                   help="model of the task: sparse, dense or conv (reconstruction); concrete "
                   "(representation); mlp or cnn (contrastive)")
    a.add_argument("--methods", default=",".join(METHOD_NAMES), metavar="M,...",
                   help="comma-separated methods to compare, a subset of "
                   f"{','.join(METHOD_NAMES)}")
    a.add_argument("--seeds", type=int, default=3,
                   help="seeds to average over, each with its own train/test split")
    a.add_argument("--epochs", type=int, default=20,
                   help="epochs of the augmented methods ('none' gets as many optimiser steps)")
    a.add_argument("--ratio", type=float, default=1.0,
                   help="fraction of the training rows that get an adversarial example")
    a.add_argument("--retrain", default="scratch", choices=RETRAIN_NAMES,
                   help="scratch: train a fresh model on the union; continue: train the first "
                   "model on")
    _attack_options(a)
    a.add_argument("--n-train", type=int, default=None,
                   help="training rows (default: 75 %% of the rows)")
    a.add_argument("--n-test", type=int, default=None,
                   help="held-out rows (default: 25 %% of the rows)")
    a.add_argument("--device", default="cpu",
                   help="where the attacks run: cpu, cuda, cuda:<i> or auto")
    a.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    a.add_argument("--out", default="sk_uae_out", metavar="DIR",
                   help="output folder; finished results are kept in "
                   f"{CHECKPOINT} there, and the same command run again resumes from them")
    a.set_defaults(func=_augment, parser=a)
    g = sub.add_parser(
        "generate", help="train an autoencoder and make UAEs of some rows",
        description="Train a sparse autoencoder on the rows, make UAEs of the first "
        "--n-samples rows and report their success rate, MI and distortion beside matched "
        "noise; writes uae.npy, summary.json and, for a CSV, uaes.csv to --out.", **kw)
    _data_options(g)
    g.add_argument("--n-samples", type=int, default=256, help="rows to attack (the first ones)")
    _attack_options(g)
    g.add_argument("--epochs", type=int, default=30, help="training epochs of the autoencoder")
    g.add_argument("--hidden-units", type=int, default=64,
                   help="width of the autoencoder's code")
    g.add_argument("--seed", type=int, default=0, help="seed of the model and the attack")
    g.add_argument("--out", default="sk_uae_out", metavar="DIR", help="output folder")
    g.set_defaults(func=_generate, parser=g)
    r = sub.add_parser(
        "robustness", help="train with and without adversarial training; robustness curves",
        description="Train a model on the rows as it is and with adversarial training (examples "
        "made against the model as it trains join every batch), attack both on held-out rows "
        "at every budget of --eps-grid, and write robustness.json and robustness.png to --out.",
        **kw)
    _data_options(r, immutable=False)
    r.add_argument("--model", default="autoencoder", choices=ROBUSTNESS_MODEL_NAMES,
                   help="the model: a sparse autoencoder (reconstruction error under attack, "
                   "UAE success rate), an MLP classifier (robust accuracy; needs labels), a "
                   "concrete autoencoder or a contrastive net (shift of the codes; a linear "
                   "probe's accuracy when the rows have labels)")
    r.add_argument("--attack", default="pgd", choices=TRAINING_ATTACK_NAMES,
                   help="the attack of the adversarial training: PGD on the model's own "
                   "objective, Gaussian noise of L-inf size --eps, or MinMax MINE (UAEs)")
    r.add_argument("--eps", type=float, default=0.1,
                   help="budget of the training attack: the largest change of a column, as a "
                   "fraction of the column's range on the training rows")
    r.add_argument("--eps-grid", default=EPS_GRID, metavar="E,...",
                   help="budgets of the robustness curves (same units as --eps)")
    r.add_argument("--every", default="batch", choices=EVERY_NAMES,
                   help="make the training examples against the model at each optimiser step, "
                   "or against the model as each epoch begins")
    r.add_argument("--ratio", type=float, default=1.0,
                   help="share of every training batch's rows that get an adversarial example")
    r.add_argument("--epochs", type=int, default=20, help="training epochs of both models")
    r.add_argument("--max-iter", type=int, default=10,
                   help="iterations of the training attack and of the curves' attacks")
    r.add_argument("--batch-size", type=int, default=256,
                   help="rows attacked together (the results do not depend on it)")
    r.add_argument("--n-train", type=int, default=None,
                   help="training rows (default: 75 %% of the rows)")
    r.add_argument("--n-test", type=int, default=None,
                   help="held-out rows attacked by the curves (default: 25 %% of the rows)")
    r.add_argument("--seed", type=int, default=0,
                   help="seed of the split, the models, the attacks and the probe")
    r.add_argument("--device", default="cpu",
                   help="where the attacks run: cpu, cuda, cuda:<i> or auto")
    r.add_argument("--no-plots", action="store_true", help="skip the PNG figure")
    r.add_argument("--verbose", "-v", action="count", default=0,
                   help="show a progress bar over the stages (two fits, two curves)")
    r.add_argument("--out", default="sk_uae_out", metavar="DIR", help="output folder")
    r.set_defaults(func=_robustness, parser=r)
    return parser


def _check_writable(out):
    """Refuse an output folder that cannot be written, before any work starts."""
    path = os.path.abspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--out {out!r} is a file, not a folder")
    probe = path
    while not os.path.exists(probe):  # the folder may not exist yet: its nearest ancestor
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out!r} cannot be written (no write permission in {probe!r})")


def main(argv=None):
    """Run ``sk-uae`` with ``argv`` (default: the process's arguments); returns the exit code."""
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        args.argv, args.started = argv, time.time()
        _check_writable(args.out)
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError) as exc:
        usage = (args.parser if args is not None else _failing_parser(parser, argv)).format_usage()
        print(f"{usage.rstrip()}\nsk-uae: error: {exc}", file=sys.stderr)
        return 2


def _failing_parser(parser, argv):
    """The subcommand's parser when ``argv`` names one (for its usage line), else the main one."""
    argv = sys.argv[1:] if argv is None else argv
    for action in parser._subparsers._group_actions:  # the one subparsers action
        if argv and argv[0] in action.choices:
            return action.choices[argv[0]]
    return parser


if __name__ == "__main__":
    sys.exit(main())
