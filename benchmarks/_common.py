"""Shared helpers of the benchmark scripts (data, models, JSON output)."""

import json
import os
import platform
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_MNIST = os.path.join(ROOT, os.pardir, "shared", "data", "mnist")


def load(name, mnist_dir, n_train, n_eval, seed=0):
    """(X_train, X_eval) float32 in [0, 1]; None when MNIST files are absent."""
    from sk_uae.datasets import load_digits_images, load_mnist_idx

    if name == "digits":
        X, _ = load_digits_images()
    else:
        if not os.path.isfile(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")):
            return None
        X, _ = load_mnist_idx(mnist_dir)
    n_train = min(n_train, len(X) - n_eval)
    idx = np.random.RandomState(seed).permutation(len(X))
    return X[idx[:n_train]], X[idx[n_train:n_train + n_eval]]


def sparse_ae(n_features, seed=0, epochs=20):
    from sk_uae.models import AutoencoderNet, SparseAutoencoder

    hidden = 64 if n_features <= 64 else 128
    return AutoencoderNet(SparseAutoencoder, module__hidden_units=hidden, max_epochs=epochs,
                          lr=1e-2, batch_size=128, random_state=seed)


def environment():
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def portable(args):
    """``vars(args)`` with paths relative to the repository root, as JSON records them.

    A result file names the data and output it used without this machine's
    absolute paths.
    """
    out = {}
    for key, value in dict(args).items():
        if isinstance(value, str) and os.path.isabs(value):
            value = os.path.relpath(value, ROOT)
        out[key] = value
    return out


def write_json(path, payload):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=2)
    print(f"wrote {path}")


def best_seconds(fn, repeats):
    """The fastest of ``repeats`` timed calls of ``fn`` after one untimed call (seconds)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_rate(n=1024, repeats=10):
    """Measured float32 matmul rate of this process (FLOP/s, best of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_seconds(lambda: a @ b, repeats)
