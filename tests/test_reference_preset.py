"""The reference's attack: per-row random starts, the preset, the MINE conv front."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from sk_uae import UAEGenerator
from sk_uae.attacks import MinMaxMINE
from sk_uae.attacks._minmax import glorot_limit, initial_delta
from sk_uae.mine import StatisticsNetworks, dv_lower_bound
from sk_uae.models import AutoencoderNet, ConvAutoencoder, DenseAutoencoder
from sk_uae.utils import seed_from_random_state

DIGITS_L = math.sqrt(6 / (64 + 8))


def starts_only(**kw):
    """The preset with no attack step: ``lr=0`` leaves every row at its start."""
    params = dict(lr=0.0, max_iter=1, n_mine_steps=0, n_pairs=4, pair_dim=4,
                  mine_hidden_sizes=(4, 2))
    params.update(kw)
    return MinMaxMINE.reference(**params)


@pytest.fixture(scope="module")
def dense_ae(digits):
    X, _ = digits
    return AutoencoderNet(DenseAutoencoder, module__hidden_units=16, max_epochs=3, lr=1e-2,
                          random_state=0).fit(X[:300])


@pytest.fixture(scope="module")
def rows(digits):
    X, _ = digits
    return X[1000:1160]


def _generator(model, attack, **kw):
    return UAEGenerator(model, attack=attack, prefit=True, random_state=3, **kw)


def test_preset_has_the_reference_settings():
    params = MinMaxMINE.reference().get_params()
    expected = dict(eps=1.0, lr=0.01, max_iter=40, initial_const=1e-3, dual_step=0.1,
                    n_mine_steps=20, mine_lr=1.5e-5, mine_hidden_sizes=(512, 10),
                    init="glorot", pairs="auto", mine_conv_front=(16, 2), n_pairs=500,
                    pair_dim=128)
    assert {k: params[k] for k in expected} == expected
    assert MinMaxMINE.reference(eps=0.5).eps == 0.5
    assert MinMaxMINE.reference().max_iter == 40  # overrides do not leak into the preset
    with pytest.raises(TypeError, match="unknown parameters.*'epsilon'"):
        MinMaxMINE.reference(epsilon=0.5)


@pytest.mark.parametrize("n_features,shape,limit", [
    (784, None, 0.0860), (64, None, 0.2887), (3072, (3, 32, 32), 0.0732),
    (10, None, math.sqrt(6 / 11)),
])
def test_glorot_limit_is_tf1s_for_the_variable_shape(n_features, shape, limit):
    assert glorot_limit(n_features, shape) == pytest.approx(limit, abs=5e-5)


def test_lr_0_returns_the_starts_distinct_per_row_of_the_reference_size(dense_ae, rows):
    X_adv, info = _generator(dense_ae, starts_only()).fit(rows).generate(rows)
    delta = X_adv - rows
    # where the [0, 1] clip cannot bind, the start is seen whole
    inside = (rows >= DIGITS_L) & (rows <= 1 - DIGITS_L)
    seen = delta[inside]
    assert np.abs(seen).max() <= DIGITS_L + 1e-6
    assert np.abs(seen).max() > 0.98 * DIGITS_L
    assert np.std(seen) == pytest.approx(DIGITS_L / math.sqrt(3), rel=0.05)
    assert len({r.tobytes() for r in delta}) == len(rows)  # every row its own start
    corr = np.corrcoef(delta[:20])[np.triu_indices(20, 1)]
    assert np.abs(corr).max() < 0.5


def test_starts_equal_initial_delta_clipped(dense_ae, rows):
    X_adv = _generator(dense_ae, starts_only()).fit(rows).transform(rows)
    seed = seed_from_random_state(3)  # the attack's seed of random_state=3
    x = torch.from_numpy(rows)
    expected = torch.clamp(x + initial_delta(x, "glorot", 1.0, seed), 0, 1).numpy()
    np.testing.assert_allclose(X_adv, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("init", ["glorot", "uniform"])
def test_starts_do_not_depend_on_batches_jobs_or_shards(dense_ae, rows, init, tmp_path):
    attack = starts_only(init=init, eps=0.2)
    ref = _generator(dense_ae, attack, batch_size=32).fit(rows).generate(rows)
    for kw in (dict(batch_size=64), dict(batch_size=32, n_jobs=2)):
        out = _generator(dense_ae, attack, **kw).fit(rows).generate(rows)
        np.testing.assert_array_equal(out[0], ref[0])
    gen = _generator(dense_ae, attack, batch_size=32).fit(rows)
    streamed = gen.generate_to(tmp_path / "shards", rows, shard_size=48)
    np.testing.assert_array_equal(np.asarray(streamed), ref[0])
    delta = ref[0] - rows
    assert np.abs(delta).max() <= 0.2 + 1e-6  # clipped to the eps box
    assert len({r.tobytes() for r in delta}) == len(rows)


def test_whole_attack_is_batch_invariant_from_random_starts(dense_ae, rows):
    attack = MinMaxMINE.reference(max_iter=4, n_mine_steps=3, n_pairs=8, pair_dim=8,
                                  mine_hidden_sizes=(8, 4), mine_lr=1e-3)
    a = _generator(dense_ae, attack, batch_size=32).fit(rows[:64]).generate(rows[:64])
    b = _generator(dense_ae, attack, batch_size=64).fit(rows[:64]).generate(rows[:64])
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(a[1]["success"], b[1]["success"])


def test_zero_start_is_unchanged_and_uniform_is_per_row():
    x = torch.rand(6, 10)
    assert torch.equal(initial_delta(x, "zeros", 0.3, 0), torch.zeros_like(x))
    u = initial_delta(x, "uniform", 0.3, 0)
    assert u.abs().max() <= 0.3 and not torch.equal(u[0], u[1])
    assert torch.equal(initial_delta(x[2:4], "uniform", 0.3, 0), u[2:4])
    assert not torch.equal(initial_delta(x, "uniform", 0.3, 1), u)  # the seed matters


# ------------------------------------------------------------------- conv front

def _per_sample_statistics(nets, a, b, perm):
    """The same networks, one plain torch module stack per sample."""
    filters, kernel, (h, w) = nets.conv_front
    outs_j, outs_m = [], []
    for i in range(a.shape[0]):
        p = [t[i] for t in nets.params]

        def branch(z, q):
            conv = nn.Conv2d(1, filters, kernel).double()
            conv.weight.data, conv.bias.data = q[0].clone(), q[1].clone()
            out = conv(z.reshape(-1, 1, h, w)).flatten(1)
            for wt, bias in zip(q[2::2], q[3::2]):
                out = out @ wt + bias
            return out

        n = len(p) // 2
        ha, hb = branch(a[i], p[:n]), branch(b[i], p[n:2 * n])
        outs_j.append(torch.relu(ha + hb) @ p[-1])
        outs_m.append(torch.relu(ha + hb[perm]) @ p[-1])
    return torch.stack(outs_j), torch.stack(outs_m)


def test_batched_conv_front_equals_a_per_sample_loop():
    g = torch.Generator().manual_seed(0)
    n, k, h, w = 5, 6, 7, 6
    front = (4, 2, (h, w))
    init = StatisticsNetworks.initial_parameters(h * w, (12, 3), generator=g, conv_front=front)
    nets = StatisticsNetworks(n, h * w, (12, 3), init=init, lr=1e-2, dtype=torch.float64,
                              conv_front=front)
    a = torch.randn(n, k, h * w, generator=g, dtype=torch.float64)
    b = torch.randn(n, k, h * w, generator=g, dtype=torch.float64)
    perm = torch.randperm(k, generator=g)
    for _ in range(3):  # the networks drift apart: each sample its own
        nets.step(a, b, perm)
    with torch.no_grad():
        got = nets.statistics(a, b, perm)
        ref = _per_sample_statistics(nets, a, b, perm)
    for x, y in zip(got, ref):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-5)
    # trained together equals trained alone
    for i in (0, 3):
        alone = StatisticsNetworks(1, h * w, (12, 3), init=init, lr=1e-2, dtype=torch.float64,
                                   conv_front=front)
        for _ in range(3):
            alone.step(a[i:i + 1], b[i:i + 1], perm)
        for p_batch, p_alone in zip(nets.params, alone.params):
            torch.testing.assert_close(p_batch[i:i + 1], p_alone, rtol=0, atol=1e-5)


def test_conv_front_shapes_and_init():
    front = (16, 2, (28, 28))
    shapes = StatisticsNetworks.parameter_shapes(784, (512, 10), front)
    assert shapes[:3] == [(16, 1, 2, 2), (16,), (16 * 27 * 27, 512)]
    theta = StatisticsNetworks.initial_parameters(784, (512, 10), conv_front=front,
                                                  generator=torch.Generator().manual_seed(0))
    conv_w = theta[:64]
    assert conv_w.abs().max() <= math.sqrt(6 / (4 + 64)) and conv_w.abs().max() > 0.2
    with pytest.raises(ValueError, match="conv_front"):
        StatisticsNetworks(2, 50, (8, 2), conv_front=(4, 2, (7, 7)))


@pytest.fixture(scope="module")
def conv_ae(digits):
    X, _ = digits
    return AutoencoderNet(ConvAutoencoder, module__filters=(4, 4), max_epochs=2,
                          random_state=0).fit(X[:200])


def test_auto_pairs_choose_by_the_first_layer(conv_ae, dense_ae, rows):
    x = rows[:6]
    small = dict(max_iter=2, n_mine_steps=2, n_pairs=8, pair_dim=8, mine_hidden_sizes=(8, 2),
                 mine_conv_front=(3, 2))
    auto = _generator(conv_ae, MinMaxMINE.reference(**small)).fit(rows).generate(x)
    feats = _generator(conv_ae, MinMaxMINE.reference(pairs="features", **small)).fit(
        rows).generate(x)
    np.testing.assert_array_equal(auto[0], feats[0])
    np.testing.assert_array_equal(auto[1]["mi"], feats[1]["mi"])
    no_front = _generator(conv_ae, MinMaxMINE.reference(
        pairs="features", **{**small, "mine_conv_front": None})).fit(rows).generate(x)
    assert not np.array_equal(no_front[1]["mi"], auto[1]["mi"])  # the front was used
    dense = _generator(dense_ae, MinMaxMINE.reference(**small)).fit(rows).generate(x)
    proj = _generator(dense_ae, MinMaxMINE.reference(
        pairs="random_projection", **{**small, "mine_conv_front": None})).fit(rows).generate(x)
    np.testing.assert_array_equal(dense[0], proj[0])


def test_conv_front_needs_maps(dense_ae, rows):
    with pytest.raises(ValueError, match="mine_conv_front works on first-layer maps"):
        _generator(dense_ae, MinMaxMINE(pairs="random_projection",
                                        mine_conv_front=(16, 2))).fit(rows)
    with pytest.raises(ValueError, match="mine_conv_front must be"):
        _generator(dense_ae, MinMaxMINE(pairs="features", mine_conv_front=(16,))).fit(rows)


def test_conv_front_attack_engines_agree_in_float32(conv_ae, rows):
    # both engines train the conv front (float64 agreement: test_fused_mine);
    # here, through the estimator in float32, they agree to float32 rounding
    kw = dict(max_iter=2, n_mine_steps=2, mine_hidden_sizes=(8, 2), mine_conv_front=(3, 2))
    a, b = (_generator(conv_ae, MinMaxMINE.reference(mine_backend=e, **kw)).fit(rows)
            .generate(rows[:4]) for e in ("fused", "autograd"))
    np.testing.assert_allclose(a[0], b[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(a[1]["mi"], b[1]["mi"], atol=1e-6, rtol=1e-4)
    np.testing.assert_array_equal(a[1]["success"], b[1]["success"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conv_front_networks_update_as_torch_adam(dtype):
    g = torch.Generator().manual_seed(1)
    front = (3, 2, (5, 4))
    init = StatisticsNetworks.initial_parameters(20, (6, 2), generator=g, conv_front=front)
    nets = StatisticsNetworks(2, 20, (6, 2), init=init, lr=1e-2, dtype=dtype, conv_front=front)
    a = torch.randn(2, 7, 20, generator=g, dtype=dtype)
    b = torch.randn(2, 7, 20, generator=g, dtype=dtype)
    perm = torch.randperm(7, generator=g)
    params = [p.detach().clone().requires_grad_(True) for p in nets.params]
    opt = torch.optim.Adam(params, lr=1e-2, maximize=True)
    for _ in range(4):
        nets.step(a, b, perm)
        opt.zero_grad()
        dv_lower_bound(*nets.statistics(a, b, perm, params=params)).sum().backward()
        opt.step()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for mine, ref in zip(nets.params, params):
        torch.testing.assert_close(mine.detach(), ref.detach(), rtol=0, atol=tol)
