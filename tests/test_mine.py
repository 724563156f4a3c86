import math

import numpy as np
import pytest
import torch

from sk_uae.mine import (FeaturePairs, RandomProjectionPairs, StatisticsNetworks,
                         dv_lower_bound, estimate_mi)


def test_dv_bound_matches_formula_and_does_not_overflow():
    tj = torch.tensor([[0.5, 1.0, 1.5]])
    tm = torch.tensor([[0.1, -0.2, 0.3]])
    expected = 1.0 - math.log(np.mean(np.exp([0.1, -0.2, 0.3])))
    assert dv_lower_bound(tj, tm).item() == pytest.approx(expected, rel=1e-6)
    big = dv_lower_bound(torch.full((1, 4), 1000.0), torch.full((1, 4), 1000.0))
    assert torch.isfinite(big).all() and big.item() == pytest.approx(0.0, abs=1e-4)


def _layer_by_layer(nets, a, b, perm):
    # the network in its original form, one sample at a time
    n = 2 * len(nets.hidden_sizes)
    out_j, out_m = [], []
    for i in range(a.shape[0]):
        ps = [p[i] for p in nets.params]

        def branch(qs, z):
            for w, bias in zip(qs[0::2], qs[1::2]):
                z = z @ w + bias
            return z

        ha, hb = branch(ps[:n], a[i]), branch(ps[n:2 * n], b[i])
        out_j.append(torch.relu(ha + hb) @ ps[-1])
        out_m.append(torch.relu(ha + hb[perm]) @ ps[-1])
    return torch.stack(out_j), torch.stack(out_m)


def test_batched_statistics_equal_layer_by_layer():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 12, 5, generator=g), torch.randn(3, 12, 5, generator=g)
    perm = torch.randperm(12, generator=g)
    nets = StatisticsNetworks(3, 5, (7, 3), generator=g)
    with torch.no_grad():  # give every network different weights
        for p in nets.params:
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        tj, tm = nets.statistics(a, b, perm)
        rj, rm = _layer_by_layer(nets, a, b, perm)
    torch.testing.assert_close(tj, rj, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tm, rm, rtol=1e-5, atol=1e-6)


def test_batched_adam_equals_torch_adam_per_network():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 10, 4, generator=g), torch.randn(2, 10, 4, generator=g)
    perms = [torch.randperm(10, generator=g) for _ in range(5)]
    nets = StatisticsNetworks(2, 4, (6, 3), lr=1e-2, generator=g)
    refs = [[p[i].detach().clone().requires_grad_(True) for p in nets.params] for i in range(2)]
    opts = [torch.optim.Adam(r, lr=1e-2) for r in refs]
    for perm in perms:
        for i in range(2):
            opts[i].zero_grad()
            tj, tm = nets.statistics(a[i:i + 1], b[i:i + 1], perm,
                                     params=[r.unsqueeze(0) for r in refs[i]])
            (-dv_lower_bound(tj, tm).sum()).backward()
            opts[i].step()
        nets.step(a, b, perm)
    for i in range(2):
        for p, r in zip(nets.params, refs[i]):
            torch.testing.assert_close(p[i].detach(), r.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ma_rate", [None, 0.1])
def test_trained_estimate_separates_dependent_from_independent_pairs(ma_rate):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 64, 8, generator=g)
    dependent = a + 0.1 * torch.randn(a.shape, generator=g)
    independent = torch.randn(a.shape, generator=g)
    b = torch.cat([dependent[:4], independent[4:]])
    nets = StatisticsNetworks(8, 8, (16, 8), lr=3e-3, ma_rate=ma_rate, generator=g)
    for _ in range(200):
        nets.step(a, b, torch.randperm(64, generator=g))
    mi = nets.estimate(a, b, torch.randperm(64, generator=g)).detach()
    assert torch.isfinite(mi).all()
    assert mi[:4].min() > mi[4:].max() + 0.5, mi
    assert mi.max() < math.log(64) + 0.5, mi  # the DV bound of K pairs stays near log K


def test_random_projection_pairs_are_standardised():
    pairs = RandomProjectionPairs(20, n_pairs=6, pair_dim=9,
                                  generator=torch.Generator().manual_seed(0))
    z = pairs(torch.rand(5, 20))
    assert z.shape == (5, 6, 9)
    torch.testing.assert_close(z.mean(-1), torch.zeros(5, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(-1, unbiased=False), torch.ones(5, 6), atol=1e-4, rtol=0)
    assert torch.isfinite(pairs(torch.zeros(2, 20))).all()  # constant input: no NaN


def test_random_projection_pairs_equal_standardised_projections():
    # the centring lives in the weights; the pairs are still (z - mean) / std of z = x @ matrix
    pairs = RandomProjectionPairs(20, n_pairs=6, pair_dim=9,
                                  generator=torch.Generator().manual_seed(0))
    pairs.matrix = pairs.matrix.to(torch.float64)  # a reassigned matrix is centred again
    x = torch.rand(5, 20, dtype=torch.float64)
    z = (x @ pairs.matrix).reshape(5, 6, 9)
    mean, var = z.mean(-1, keepdim=True), z.var(-1, unbiased=False, keepdim=True)
    want = (z - mean) / torch.sqrt(var + 1e-12)
    torch.testing.assert_close(pairs(x), want, atol=1e-12, rtol=1e-10)
    got, _ = pairs.forward_for_backward(x)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)


def test_feature_pairs_checks_shape():
    with pytest.raises(ValueError, match="n_pairs"):
        FeaturePairs(lambda x: x)(torch.zeros(2, 3))


def test_estimate_mi_orders_similarity_and_is_batch_invariant(rng):
    X = rng.randn(24, 30).astype(np.float32)
    near = X + 0.05 * rng.randn(*X.shape).astype(np.float32)
    far = rng.randn(*X.shape).astype(np.float32)
    kw = dict(n_mine_steps=150, n_pairs=16, pair_dim=8, mine_hidden_sizes=(16, 4), mine_lr=3e-3,
              random_state=3)
    mi_near = estimate_mi(X, near, batch_size=24, **kw)
    mi_far = estimate_mi(X, far, batch_size=24, **kw)
    assert mi_near.mean() > mi_far.mean() + 0.5
    np.testing.assert_allclose(estimate_mi(X, near, batch_size=7, **kw), mi_near, atol=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        estimate_mi(X, X[:3])


def test_estimate_mi_and_mine_similarity_accept_device_auto(rng):
    from sk_uae.metrics import mine_similarity

    X = rng.rand(6, 10).astype(np.float32)
    X_adv = X + 0.01
    kw = dict(n_mine_steps=3, n_pairs=4, pair_dim=3, mine_hidden_sizes=(4, 2), random_state=0)
    # "auto" used to reach torch.device("auto") and fail there
    ref = estimate_mi(X, X_adv, device="cpu", **kw)
    np.testing.assert_allclose(estimate_mi(X, X_adv, device="auto", **kw), ref, atol=1e-5)
    assert mine_similarity(X, X_adv, device="auto", **kw) == pytest.approx(ref.mean(), abs=1e-5)
    with pytest.raises(ValueError, match="device='tpu' is not a valid torch device"):
        estimate_mi(X, X_adv, device="tpu", **kw)
