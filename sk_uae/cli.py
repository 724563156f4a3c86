"""Command line: ``sk-uae``.

``sk-uae generate`` trains an autoencoder on the embedded digits (or MNIST
IDX files, or a CSV), makes UAEs for a number of rows and reports their
success rate, MI and distortion; it writes the examples and a JSON summary.
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def _load(spec, data_dir):
    from .datasets import load_csv, load_digits_images, load_mnist_idx

    if spec == "digits":
        return load_digits_images()
    if spec == "mnist":
        if data_dir is None:
            raise ValueError("--data mnist needs --data-dir, the folder with the MNIST IDX files")
        return load_mnist_idx(data_dir)
    if spec.startswith("csv:"):
        X, y, _ = load_csv(spec[4:])
        return X, y
    raise ValueError(f"--data {spec!r} is not known; expected digits, mnist or csv:PATH")


def _generate(args):
    from . import UAEGenerator
    from .attacks import MinMaxMINE
    from .mine import estimate_mi
    from .models import AutoencoderNet, SparseAutoencoder

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
