"""n_jobs: parallel generation over joblib (loky, threads, Dask) equals the sequential run."""

import numpy as np
import pytest
import torch
from joblib import parallel_config

from conftest import fast_attack
from sk_uae import UAEAugmenter, UAEGenerator, UAESampler
from sk_uae._base import _batch_aligned_chunks
from sk_uae.models import AutoencoderNet, DenseAutoencoder

N_ROWS = 160


@pytest.fixture(scope="module")
def gen(prefit_gen):
    return prefit_gen


@pytest.fixture(scope="module")
def rows(digits):
    X, _ = digits
    return X[1000:1000 + N_ROWS]


@pytest.fixture(scope="module")
def sequential(gen, rows):
    return gen.generate(rows)


def _assert_same(result, reference, atol=1e-6):
    X_adv, info = result
    X_ref, info_ref = reference
    assert X_adv.dtype == X_ref.dtype
    np.testing.assert_allclose(X_adv, X_ref, rtol=0, atol=atol)
    for key in info_ref:
        if info_ref[key].dtype == bool:
            np.testing.assert_array_equal(info[key], info_ref[key])
        else:
            np.testing.assert_allclose(info[key], info_ref[key], rtol=0, atol=atol)


@pytest.mark.parametrize("n,batch_size,n_chunks", [(160, 32, 2), (161, 32, 2), (10, 4, 5),
                                                   (100, 7, 3), (5, 64, 2)])
def test_chunks_are_whole_batches_covering_the_rows(n, batch_size, n_chunks):
    chunks = _batch_aligned_chunks(n, batch_size, n_chunks)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a < b for a, b in chunks)
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(chunks[:-1], chunks[1:]))
    assert all(a % batch_size == 0 for a, _ in chunks)
    assert len(chunks) <= n_chunks


def test_n_jobs_2_equals_n_jobs_1(gen, rows, sequential):
    # default backend (loky): separate worker processes
    one = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True, batch_size=32,
                       random_state=0, n_jobs=1).fit(rows)
    two = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True, batch_size=32,
                       random_state=0, n_jobs=2).fit(rows)
    _assert_same(one.generate(rows), sequential)
    _assert_same(two.generate(rows), sequential)
    assert np.abs(sequential[0] - rows).max() > 1e-3  # the attack did move the rows


def test_threads_backend_and_torch_threads(gen, rows, sequential, threads_per_batch):
    seen = threads_per_batch
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        par = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True, batch_size=32,
                           random_state=0, n_jobs=3).fit(rows)
        with parallel_config(backend="threading"):
            result = par.generate(rows)
        assert torch.get_num_threads() == 2  # restored after the workers
    finally:
        torch.set_num_threads(before)
    _assert_same(result, sequential)
    assert len(seen) == N_ROWS // 32 and set(seen) == {1}  # each worker: one torch thread


def test_generate_to_with_n_jobs(gen, rows, tmp_path):
    par = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True, batch_size=32,
                       random_state=0, n_jobs=2).fit(rows)
    ref = gen.generate_to(tmp_path / "seq", rows, shard_size=64)
    with parallel_config(backend="threading"):
        out = par.generate_to(tmp_path / "par", rows, shard_size=64)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_bad_n_jobs(gen, rows, n_jobs):
    bad = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True, random_state=0,
                       n_jobs=n_jobs)
    with pytest.raises(ValueError, match="n_jobs"):
        bad.fit(rows).generate(rows) if n_jobs == 0 else bad.fit(rows)


def test_meta_estimators_pass_n_jobs(digits):
    X, y = digits
    X, y = X[:80], y[:80]
    ae = AutoencoderNet(DenseAutoencoder, module__hidden_units=4, max_epochs=2, random_state=0)
    att = fast_attack(max_iter=2)
    kw = dict(batch_size=16, random_state=0)
    with parallel_config(backend="threading"):
        aug1 = UAEAugmenter(ae, att, **kw).fit(X)
        aug2 = UAEAugmenter(ae, att, n_jobs=2, **kw).fit(X)
        Xr1, _ = UAESampler(ae, att, ratio=0.5, **kw).fit_resample(X, y)
        sampler = UAESampler(ae, att, ratio=0.5, n_jobs=2, **kw)
        Xr2, _ = sampler.fit_resample(X, y)
    assert aug2.generator_.n_jobs == 2 and sampler.generator_.n_jobs == 2
    np.testing.assert_allclose(aug2.transform(X), aug1.transform(X), rtol=0, atol=1e-5)
    np.testing.assert_allclose(Xr2, Xr1, rtol=0, atol=1e-6)


def test_dask_cluster_gives_the_same_output(gen, rows, sequential):
    distributed = pytest.importorskip("distributed")
    # threads in this process (starting worker processes would cost ~10 s of imports),
    # talking TCP over loopback like a real cluster
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        par = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True, batch_size=32,
                           random_state=0, n_jobs=2).fit(rows)
        with parallel_config(backend="dask"), distributed.get_task_stream(client) as ts:
            result = par.generate(rows)
        assert len(client.scheduler_info()["workers"]) == 2
        chunk_tasks = [t for t in ts.data if "_perturb_chunk" in str(t.get("key"))]
        assert len(chunk_tasks) >= 1, [t.get("key") for t in ts.data]  # it ran on the cluster
    _assert_same(result, sequential)
