"""Command line: ``sk-uae``.

``sk-uae augment`` (the main job) trains a model on the embedded digits (or
MNIST IDX files, or a CSV), makes UAEs, retrains on the union, and compares
held-out metrics with the baselines at an equal step budget, over seeds.
``sk-uae generate`` makes UAEs for a number of rows and reports their
success rate, MI and distortion.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from . import _streaming as st
from ._augmenter import RETRAIN_MODES
from ._generator import UAEGenerator
from ._plots import plot_examples, plot_scores
from .attacks import MinMaxMINE
from .constraints import FeatureConstraints
from .datasets import load_csv_table, load_digits_images, load_mnist_idx
from .evaluation import METHODS, TASKS, baseline_attack, compare_augmentations, step_budget
from .mine import estimate_mi
from .models import AutoencoderNet, SparseAutoencoder
from .tabular import SCALERS, inverse_table, make_table_encoder
from .utils import resolve_device
from .utils._versions import package_versions


class _Data:
    """What a ``--data`` option gives: the model's float rows and, for a CSV, its table."""

    def __init__(self, X, y, shape=None, table=None, encoder=None, constraints=None,
                 scale="none"):
        self.X, self.y, self.shape = X, y, shape
        self.table, self.encoder, self.constraints, self.scale = table, encoder, constraints, scale


def _load(args):
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
    immutable = [c.strip() for c in args.immutable.split(",") if c.strip()] if args.immutable \
        else None
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
    payload = {**options, "metric": task.metric, "higher_is_better": task.higher_is_better,
               "step_budget": step_budget(args.retrain), "summary": summary, "runs": runs}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(payload, fh, indent=2, default=str)
    _print_summary(args, task, summary, runs, data.scale)
    written = ["results.json"] + ([] if args.no_plots else
                                  _plot(args.out, summary, task.metric, shape, examples))
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
        # insertion order kept: a resumed run must write the same results.json
        st.write_json_atomic(self.path, {"fingerprint": self.fingerprint,
                                         "records": self.records}, sort_keys=False)


def _split_sizes(args, n_rows):
    """``(n_train, n_test)`` from ``--n-train`` / ``--n-test`` (default 75 % / 25 %)."""
    for name, value in (("--seeds", args.seeds), ("--epochs", args.epochs)):
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
    X, y = data.X, data.y
    runs, examples = [], None
    needs_labels = TASKS[args.task].needs_labels
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


def _print_summary(args, task, summary, runs, scale="none"):
    units = "" if scale == "none" else f" on the {scale}-scaled columns"
    print(f"\n{task.metric}{units} ({'higher' if task.higher_is_better else 'lower'} is better), "
          f"{args.data}, {args.task}/{args.model}, {args.seeds} seed(s):")
    ref = summary.get("none", {}).get("mean")
    for m, s in summary.items():
        line = f"  {m:<10} {s['mean']:.5f} +- {s['std']:.5f}"
        if ref is not None and m != "none":
            line += f"   ({s['mean'] - ref:+.5f} vs none)"
        print(line)
    rates = [r["uae"]["success_rate"] for r in runs if r["uae"]]
    if rates:
        print(f"  UAE success rate {np.mean(rates):.3f}, mean Linf distortion "
              f"{np.mean([r['uae']['distortion_linf_mean'] for r in runs]):.4f}")


def _plot(out, summary, metric, shape, examples):
    """The figures of the main job; returns the names written."""
    plot_scores(summary, metric, os.path.join(out, "scores.png"))
    written = ["scores.png"]
    if shape is not None and examples is not None and examples["adversarial"] is not None:
        plot_examples(examples["original"], examples["adversarial"], shape,
                      os.path.join(out, "uae_examples.png"))
        written.append("uae_examples.png")
    return written


def _generate(args):
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


class _UsageError(ValueError):
    """A command line argparse refused (reported on one line, like every other error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _table_options(parser):
    parser.add_argument(
        "--scale", default="auto", choices=("auto",) + SCALERS,
        help="scaling of a CSV's numeric columns before the model sees them: auto (default: "
        "minmax for a CSV, none for digits and mnist), minmax, standard or none; string and "
        "boolean columns are one-hot encoded")
    parser.add_argument(
        "--immutable", default=None, metavar="COL,...",
        help="CSV columns the examples never change (integer columns stay integers and "
        "categories stay valid categories in any case)")


def build_parser():
    parser = _Parser(prog="sk-uae", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("augment", help="the main job: augment with UAEs and compare baselines")
    a.add_argument("--data", default="digits", help="digits (default), mnist or csv:PATH")
    a.add_argument("--data-dir", default=None, help="folder of the MNIST IDX files")
    _table_options(a)
    a.add_argument("--task", default="reconstruction", choices=sorted(TASKS),
                   help="reconstruction (default), representation or contrastive")
    a.add_argument("--model", default="sparse", help="model of the task (reconstruction: "
                   "sparse, dense, conv)")
    a.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated subset of {','.join(METHODS)}")
    a.add_argument("--seeds", type=int, default=3, help="seeds (and splits) to average over")
    a.add_argument("--epochs", type=int, default=20, help="epochs on the augmented set")
    a.add_argument("--ratio", type=float, default=1.0, help="fraction of rows augmented")
    a.add_argument("--retrain", default="scratch", choices=RETRAIN_MODES,
                   help="scratch (default): retrain a fresh model on the union; continue: "
                   "train the first model on")
    a.add_argument("--eps", type=float, default=0.3)
    a.add_argument("--max-iter", type=int, default=40)
    a.add_argument("--n-train", type=int, default=None, help="training rows (default: 75 %%)")
    a.add_argument("--n-test", type=int, default=None, help="held-out rows (default: 25 %%)")
    a.add_argument("--batch-size", type=int, default=256)
    a.add_argument("--device", default="cpu")
    a.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    a.add_argument("--out", default="sk_uae_out", help="output folder (default sk_uae_out); "
                   f"finished results are kept in {CHECKPOINT} there, and the same command "
                   "run again resumes from them")
    a.set_defaults(func=_augment)
    g = sub.add_parser("generate", help="train an autoencoder and make UAEs")
    g.add_argument("--data", default="digits", help="digits (default), mnist or csv:PATH")
    g.add_argument("--data-dir", default=None, help="folder of the MNIST IDX files")
    _table_options(g)
    g.add_argument("--n-samples", type=int, default=256, help="rows to attack (default 256)")
    g.add_argument("--eps", type=float, default=0.3)
    g.add_argument("--max-iter", type=int, default=40)
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--hidden-units", type=int, default=64)
    g.add_argument("--batch-size", type=int, default=256)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", default="sk_uae_out", help="output folder (default sk_uae_out)")
    g.set_defaults(func=_generate)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"sk-uae: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
