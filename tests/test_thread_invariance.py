"""Results do not depend on threads: torch's thread count, n_jobs, batch_size, the backend.

Every batch of an attack runs on the CPU under one torch intra-op thread
(``BaseAttack.perturb``), so for a given engine and precision the examples
are bit-identical however the work is spread over threads and processes.
"""

import numpy as np
import pytest
import torch
from joblib import parallel_config
from sklearn.frozen import FrozenEstimator

from sk_uae import UAEAugmenter, UAEGenerator
from sk_uae.attacks import MinMaxMINE
from sk_uae.attacks._base import _available_cores, batch_workers
from sk_uae.mine import _native
from sk_uae.models import AutoencoderNet, DenseAutoencoder
from sk_uae.utils._torch import one_torch_thread

N_ROWS = 128

ENGINES = [
    pytest.param("native", marks=pytest.mark.skipif(
        _native.library() is None, reason="the compiled MINE step does not build here")),
    "fused",
    "autograd",
]


@pytest.fixture(scope="module")
def model(digits):
    X, _ = digits
    return AutoencoderNet(DenseAutoencoder, module__hidden_units=16, max_epochs=5, lr=1e-2,
                          random_state=0).fit(X[:400])


@pytest.fixture(scope="module")
def rows(digits):
    return digits[0][1000:1000 + N_ROWS]


@pytest.fixture
def threads():
    """Set torch's thread count inside a test; restored after."""
    saved = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(saved)


def _generator(model, rows, engine, batch_size=64, n_jobs=None):
    attack = MinMaxMINE(eps=0.2, max_iter=6, mine_backend=engine)
    return UAEGenerator(model, attack=attack, prefit=True, batch_size=batch_size,
                        random_state=0, n_jobs=n_jobs).fit(rows)


def _assert_identical(result, reference):
    X_adv, info = result
    X_ref, info_ref = reference
    np.testing.assert_array_equal(X_adv, X_ref)
    for key in info_ref:
        np.testing.assert_array_equal(info[key], info_ref[key], err_msg=key)


@pytest.mark.parametrize("engine", ENGINES)
def test_identical_for_any_thread_count_batch_size_and_n_jobs(model, rows, engine, threads):
    threads(1)
    reference = _generator(model, rows, engine).generate(rows)
    assert np.abs(reference[0] - rows).max() > 1e-3  # the attack did move the rows
    for n in (2, 4):
        threads(n)
        _assert_identical(_generator(model, rows, engine).generate(rows), reference)
        assert torch.get_num_threads() == n  # restored after the attack
    threads(2)
    _assert_identical(_generator(model, rows, engine, batch_size=32).generate(rows), reference)
    _assert_identical(_generator(model, rows, engine, n_jobs=1).generate(rows), reference)
    with parallel_config(backend="threading"):
        _assert_identical(_generator(model, rows, engine, batch_size=32, n_jobs=2)
                          .generate(rows), reference)


def test_identical_over_processes(model, rows, threads):
    # loky worker processes (one torch thread each) against this process on two threads
    threads(2)
    reference = _generator(model, rows, "fused").generate(rows)
    _assert_identical(_generator(model, rows, "fused", batch_size=32, n_jobs=2)
                      .generate(rows), reference)


def test_identical_on_a_dask_cluster(model, rows, threads):
    distributed = pytest.importorskip("distributed")
    threads(2)
    reference = _generator(model, rows, "fused").generate(rows)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        with parallel_config(backend="dask"):
            result = _generator(model, rows, "fused", batch_size=32, n_jobs=2).generate(rows)
    _assert_identical(result, reference)


def test_transform_identical_across_thread_counts(model, rows, threads):
    aug = UAEAugmenter(FrozenEstimator(model), attack=MinMaxMINE(eps=0.2, max_iter=4),
                       batch_size=32, random_state=0)
    threads(1)
    ref = aug.fit(rows).transform(rows)
    threads(4)
    np.testing.assert_array_equal(aug.fit(rows).transform(rows), ref)


def test_batches_run_on_one_torch_thread_side_by_side(model, rows, threads, threads_per_batch):
    seen = threads_per_batch
    threads(2)
    _generator(model, rows, "fused", batch_size=32).generate(rows)
    assert seen == [1] * (N_ROWS // 32)
    assert torch.get_num_threads() == 2


def test_batch_workers():
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert batch_workers(10, "cpu") == min(2, _available_cores())
        assert batch_workers(1, "cpu") == 1
        assert batch_workers(10, torch.device("cuda", 0)) == 1
        with one_torch_thread():  # e.g. an n_jobs worker: no threads of its own
            assert batch_workers(10, "cpu") == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def _conv_augmenter():
    from sk_uae.models import ConvAutoencoder

    net = AutoencoderNet(ConvAutoencoder, max_epochs=3,
                         lr=1e-2, random_state=0)
    return UAEAugmenter(net, attack=MinMaxMINE(eps=0.2, max_iter=2), ratio=0.25,
                        random_state=0)


def test_fits_identical_for_any_thread_count(digits, threads):
    # a convolutional net trained on torch's two threads rounds differently from one
    # thread (about 1e-7 after 3 epochs); the estimators' fits run on one
    X = digits[0][:300]
    fitted = []
    for n in (1, 2, 4):
        threads(n)
        aug = _conv_augmenter().fit(X)
        fitted.append([p.detach().numpy().copy()
                       for p in aug.estimator_.module_.parameters()])
        assert torch.get_num_threads() == n  # restored after the fit
    for other in fitted[1:]:
        for a, b in zip(fitted[0], other):
            np.testing.assert_array_equal(a, b)
