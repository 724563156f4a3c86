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


def _load(spec, data_dir, with_shape=False):
    from .datasets import load_csv, load_digits_images, load_mnist_idx

    if spec == "digits":
        X, y = load_digits_images()
        shape = (1, 8, 8)
    elif spec == "mnist":
        if data_dir is None:
            raise ValueError("--data mnist needs --data-dir, the folder with the MNIST IDX files")
        X, y = load_mnist_idx(data_dir)
        shape = (1, 28, 28)
    elif spec.startswith("csv:"):
        X, y, _ = load_csv(spec[4:])
        shape = None
    else:
        raise ValueError(f"--data {spec!r} is not known; expected digits, mnist or csv:PATH")
    return (X, y, shape) if with_shape else (X, y)


def _augment(args):
    from sklearn.model_selection import train_test_split
    from tqdm.auto import tqdm

    from . import UAEAugmenter
    from .attacks import MinMaxMINE
    from .evaluation import METHODS, TASKS, compare_augmentations, make_model, step_budget
    from .utils import resolve_device

    X, y, shape = _load(args.data, args.data_dir, with_shape=True)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"--methods: unknown {unknown}; expected some of {','.join(METHODS)}")
    if args.task not in TASKS:
        raise ValueError(f"--task {args.task!r} is not known; expected one of {sorted(TASKS)}")
    task = TASKS[args.task]
    if task.needs_labels and y is None:
        raise ValueError(f"--task {args.task} is judged with labels; the data have no 'label' column")
    for name, value in (("--seeds", args.seeds), ("--epochs", args.epochs)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    for name, value in (("--n-train", args.n_train), ("--n-test", args.n_test)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    make_model(args.task, args.model, X.shape[1], shape, 1, 0)  # fail early on a bad model
    n_test = args.n_test if args.n_test is not None else max(1, int(0.25 * len(X)))
    n_train = args.n_train if args.n_train is not None else len(X) - n_test
    if n_train + n_test > len(X) or n_train < 2:
        raise ValueError(f"--n-train {n_train} + --n-test {n_test} exceed the {len(X)} rows")
    bounded = X.min() >= 0 and X.max() <= 1
    attack = MinMaxMINE(eps=args.eps, max_iter=args.max_iter,
                        clip_values=(0.0, 1.0) if bounded else None)
    # bad --eps/--max-iter/--ratio/--batch-size/--device: fail before the first seed
    attack._check()
    if args.retrain not in ("scratch", "continue"):
        raise ValueError(f"--retrain {args.retrain!r} is not known; expected scratch or continue")
    UAEAugmenter(attack=attack, ratio=args.ratio, batch_size=args.batch_size,
                 device=args.device)._validate_params()
    resolve_device(args.device)
    runs = []
    bar = tqdm(range(args.seeds), desc="sk-uae augment", unit="seed")
    for seed in bar:
        strat = y if (y is not None and task.needs_labels) else None
        idx_train, idx_test = train_test_split(np.arange(len(X)), train_size=n_train,
                                               test_size=n_test, random_state=seed,
                                               stratify=strat)
        res = compare_augmentations(
            X[idx_train], X[idx_test], None if y is None else y[idx_train],
            None if y is None else y[idx_test], task=args.task, model=args.model,
            methods=methods, epochs=args.epochs, ratio=args.ratio, retrain=args.retrain,
            attack=attack, image_shape=shape, seed=seed, batch_size=args.batch_size,
            device=args.device)
        runs.append({"seed": seed, "scores": res["scores"], "samples_seen": res["samples_seen"],
                     "uae": res["uae"]})
        if seed == 0:
            examples = res["examples"]
        bar.set_postfix(uae_success=f"{res['uae']['success_rate']:.2f}" if res["uae"] else "-")
    summary = {m: {"mean": float(np.mean([r["scores"][m] for r in runs])),
                   "std": float(np.std([r["scores"][m] for r in runs]))} for m in methods}
    os.makedirs(args.out, exist_ok=True)
    payload = {"data": args.data, "task": args.task, "model": args.model, "metric": task.metric,
               "higher_is_better": task.higher_is_better, "n_train": int(n_train),
               "n_test": int(n_test), "epochs": args.epochs, "ratio": args.ratio,
               "retrain": args.retrain, "step_budget": step_budget(args.retrain),
               "attack": {k: v for k, v in attack.get_params().items() if k != "objective"},
               "summary": summary, "runs": runs}
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(payload, fh, indent=2, default=str)
    print(f"\n{task.metric} ({'higher' if task.higher_is_better else 'lower'} is better), "
          f"{args.data}, {args.task}/{args.model}, {args.seeds} seed(s):")
    ref = summary.get("none", {}).get("mean")
    for m in methods:
        line = f"  {m:<10} {summary[m]['mean']:.5f} +- {summary[m]['std']:.5f}"
        if ref is not None and m != "none":
            line += f"   ({summary[m]['mean'] - ref:+.5f} vs none)"
        print(line)
    rates = [r["uae"]["success_rate"] for r in runs if r["uae"]]
    if rates:
        print(f"  UAE success rate {np.mean(rates):.3f}, mean Linf distortion "
              f"{np.mean([r['uae']['distortion_linf_mean'] for r in runs]):.4f}")
    written = ["results.json"]
    if not args.no_plots:
        from ._plots import plot_examples, plot_scores

        plot_scores(summary, task.metric, os.path.join(args.out, "scores.png"))
        written.append("scores.png")
        if shape is not None and examples is not None and examples["adversarial"] is not None:
            plot_examples(examples["original"], examples["adversarial"], shape,
                          os.path.join(args.out, "uae_examples.png"))
            written.append("uae_examples.png")
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


def _generate(args):
    from . import UAEGenerator
    from .attacks import MinMaxMINE
    from .mine import estimate_mi
    from .models import AutoencoderNet, SparseAutoencoder

    for name, value in (("--n-samples", args.n_samples), ("--epochs", args.epochs),
                        ("--hidden-units", args.hidden_units)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    X, _ = _load(args.data, args.data_dir)
    n = min(args.n_samples, len(X))
    clip = (0.0, 1.0) if X.min() >= 0 and X.max() <= 1 else None
    ae = AutoencoderNet(SparseAutoencoder, module__hidden_units=args.hidden_units,
                        max_epochs=args.epochs, lr=1e-2,
                        module__output_activation="sigmoid" if clip else "identity")
    gen = UAEGenerator(ae, attack=MinMaxMINE(eps=args.eps, max_iter=args.max_iter,
                                             clip_values=clip),
                       batch_size=args.batch_size, random_state=args.seed, verbose=1)
    t0 = time.perf_counter()
    gen.fit(X)
    t1 = time.perf_counter()
    X_adv, info = gen.generate(X[:n])
    t2 = time.perf_counter()
    ok = info["success"]
    rng = np.random.RandomState(args.seed)
    noise = X[:n] + rng.choice([-1.0, 1.0], size=X[:n].shape) * info["distortion_linf"][:, None]
    if clip:
        noise = np.clip(noise, *clip)
    mi_uae = estimate_mi(X[:n], X_adv, random_state=args.seed)
    mi_noise = estimate_mi(X[:n], noise.astype(np.float32), random_state=args.seed)
    summary = {
        "data": args.data, "n_samples": int(n), "eps": args.eps, "max_iter": args.max_iter,
        "success_rate": float(ok.mean()),
        "mean_mi_attack_successful": float(info["mi"][ok].mean()) if ok.any() else None,
        "mean_mi_independent_uae": float(mi_uae.mean()),
        "mean_mi_independent_noise_same_linf": float(mi_noise.mean()),
        "mean_distortion_linf": float(info["distortion_linf"].mean()),
        "fit_seconds": t1 - t0, "generate_seconds": t2 - t1,
    }
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "uae.npy"), X_adv)
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value:.4g}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    print(f"wrote {os.path.join(args.out, 'uae.npy')} and summary.json")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="sk-uae", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("augment", help="the main job: augment with UAEs and compare baselines")
    a.add_argument("--data", default="digits", help="digits (default), mnist or csv:PATH")
    a.add_argument("--data-dir", default=None, help="folder of the MNIST IDX files")
    a.add_argument("--task", default="reconstruction", help="reconstruction (default), "
                   "representation or contrastive")
    a.add_argument("--model", default="sparse", help="model of the task (reconstruction: "
                   "sparse, dense, conv)")
    a.add_argument("--methods", default="none,duplicate,noise,pgd,uae",
                   help="comma-separated subset of none,duplicate,noise,pgd,uae")
    a.add_argument("--seeds", type=int, default=3, help="seeds (and splits) to average over")
    a.add_argument("--epochs", type=int, default=20, help="epochs on the augmented set")
    a.add_argument("--ratio", type=float, default=1.0, help="fraction of rows augmented")
    a.add_argument("--retrain", default="scratch", help="scratch (default): retrain a fresh "
                   "model on the union; continue: train the first model on")
    a.add_argument("--eps", type=float, default=0.3)
    a.add_argument("--max-iter", type=int, default=40)
    a.add_argument("--n-train", type=int, default=None, help="training rows (default: 75 %%)")
    a.add_argument("--n-test", type=int, default=None, help="held-out rows (default: 25 %%)")
    a.add_argument("--batch-size", type=int, default=256)
    a.add_argument("--device", default="cpu")
    a.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    a.add_argument("--out", default="sk_uae_out", help="output folder (default sk_uae_out)")
    a.set_defaults(func=_augment)
    g = sub.add_parser("generate", help="train an autoencoder and make UAEs")
    g.add_argument("--data", default="digits", help="digits (default), mnist or csv:PATH")
    g.add_argument("--data-dir", default=None, help="folder of the MNIST IDX files")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"sk-uae: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
