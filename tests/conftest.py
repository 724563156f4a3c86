import os

import numpy as np
import pytest
import torch
from hypothesis import settings

from sk_uae.datasets import load_digits_images

# property tests draw the same examples on every run: CI stays reproducible
settings.register_profile("sk_uae", derandomize=True, deadline=None)
settings.load_profile("sk_uae")

# tiny tensors: one thread avoids OpenMP spin-waits when test workers share
# cores; OMP_NUM_THREADS, when set, chooses another count (the invariance
# tests must hold with any)
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))



_TEST_CACHE = []


def pytest_configure(config):
    """The compiled MINE step is built in a folder of the test run, not the user's cache.

    Made before xdist starts its workers, which inherit the variable: all of them
    share the folder, and its lock makes them build once.
    """
    if "SK_UAE_CACHE_DIR" not in os.environ:
        import tempfile

        path = tempfile.mkdtemp(prefix="sk_uae_test_cache_")
        os.environ["SK_UAE_CACHE_DIR"] = path
        _TEST_CACHE.append(path)


def pytest_unconfigure(config):
    import shutil

    for path in _TEST_CACHE:
        shutil.rmtree(path, ignore_errors=True)


MNIST_DIR = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "shared", "data", "mnist")


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits_images()
    return X, y


@pytest.fixture(scope="session")
def mnist_dir():
    if not os.path.isfile(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("MNIST files (../shared/data/mnist) are not available")
    return MNIST_DIR


@pytest.fixture(scope="session")
def small_ae(digits):
    """A small dense autoencoder fitted on digits (shared by the attack tests)."""
    from sk_uae.models import AutoencoderNet, DenseAutoencoder

    X, _ = digits
    return AutoencoderNet(DenseAutoencoder, module__hidden_units=16, max_epochs=15, lr=1e-2,
                          random_state=0).fit(X[:600])


def unit_rows(n_features):
    """Two rows spanning [0, 1]: what a prefit generator is fitted on when only the range of
    the model's training images matters (``clip_values="auto"`` becomes (0, 1))."""
    return np.stack([np.zeros(n_features, np.float32), np.ones(n_features, np.float32)])


def fast_attack(**kw):
    from sk_uae.attacks import MinMaxMINE

    # the reference's plain step and absolute eps: the engine tests compare
    # with the per-sample reference loop (tests/reference_minmax.py)
    params = dict(eps=0.3, max_iter=8, n_mine_steps=5, n_pairs=16, pair_dim=8,
                  mine_hidden_sizes=(16, 4), lr=0.01, step="plain", eps_scale="none")
    params.update(kw)
    return MinMaxMINE(**params)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture(scope="session")
def small_clf(digits):
    """A small MLP classifier (logits) fitted on digits (shared by the supervised tests)."""
    from sk_uae.models import ClassifierNet

    X, y = digits
    return ClassifierNet(module__hidden_units=(32,), max_epochs=15, lr=1e-2,
                         random_state=0).fit(X[:1000], y[:1000])


@pytest.fixture(scope="session")
def clf_rows(small_clf, digits):
    """64 held-out digits rows that ``small_clf`` classifies correctly, with labels."""
    X, y = digits
    Xh, yh = X[1000:1400], y[1000:1400]
    ok = small_clf.predict(Xh) == yh
    return Xh[ok][:64], yh[ok][:64]


class LinearAE(torch.nn.Module):
    """A fixed random linear autoencoder: a fast model for property tests."""

    def __init__(self, d, h, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.enc = torch.nn.Parameter(torch.randn(d, h, generator=g) / d**0.5)

    def forward(self, x):
        return (x @ self.enc) @ self.enc.T


@pytest.fixture(scope="module")
def prefit_gen(small_ae, digits):
    """A UAEGenerator around the shared small autoencoder with a tiny attack."""
    from sk_uae import UAEGenerator

    return UAEGenerator(small_ae, attack=fast_attack(max_iter=4), prefit=True, batch_size=32,
                        random_state=0).fit(digits[0][:600])


@pytest.fixture
def threads_per_batch(monkeypatch):
    """Torch's thread count inside every ``MinMaxMINE.run`` (one call per batch), in order."""
    from sk_uae.attacks import MinMaxMINE

    seen = []
    run = MinMaxMINE.run

    def recording_run(self, *args, **kw):
        seen.append(torch.get_num_threads())
        return run(self, *args, **kw)

    monkeypatch.setattr(MinMaxMINE, "run", recording_run)
    return seen
