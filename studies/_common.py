"""Shared helpers of the studies (data, models, JSON output).

Also imported by ``benchmarks/bench_device.py`` and, through ``benchmarks/_common.py``,
``benchmarks/bench_threads.py``: the scripts that run outside the asv suite.
"""

import json
import os
import platform
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "studies", "results")
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
