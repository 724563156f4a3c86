"""The fused MINE engine against autograd, torch.optim.Adam and finite differences."""

import copy

import numpy as np
import pytest
import torch

from conftest import LinearAE
from sk_uae.attacks import MarginObjective, ReconstructionObjective, minmax_mine
from sk_uae.mine import (FeaturePairs, FusedStatisticsNetworks, RandomProjectionPairs,
                         StatisticsNetworks, estimate_mi)
from sk_uae.mine import _engines, _fused

# float32 kernels round differently in the two implementations; float64 does not
TOL = {torch.float32: dict(atol=2e-6, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-10)}
# (70, 3): a first layer wider than 64 takes the batched product in the backward
HIDDEN = [(6, 4), (6,), (6, 5, 4), (32, 10), (70, 3)]


def _pair_of_networks(hidden, dtype, ma_rate=None, fused_adam=None, n=5, k=12, p=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    init = StatisticsNetworks.initial_parameters(p, hidden, generator=g)
    a = torch.randn(n, k, p, generator=g, dtype=dtype)
    b = torch.randn(n, k, p, generator=g, dtype=dtype)
    perms = [torch.randperm(k, generator=g) for _ in range(12)]
    kw = dict(init=init, lr=1e-2, ma_rate=ma_rate, dtype=dtype)
    return (StatisticsNetworks(n, p, hidden, **kw),
            FusedStatisticsNetworks(n, p, hidden, fused_adam=fused_adam, native=False, **kw),
            a, b, perms)


def _fused_gradients(nets, a, b, perm):
    """The hand-written gradient of the bound, in the layout of StatisticsNetworks.params."""
    ab = _fused._stack(a, b)
    with torch.no_grad():
        _, cache = nets._forward(nets.theta, ab, perm)
        grads = nets._backward(nets.theta, ab, perm, cache)
    per_branch = grads[:-1]

    def canonical(w):
        return w.transpose(1, 2) if w.dim() == 3 else w

    return ([canonical(g[:, 0]) for g in per_branch] + [canonical(g[:, 1]) for g in per_branch]
            + [grads[-1]])


def _assert_gradients_equal_autograd(ref, fused, a, b, perm, dtype):
    mi = ref.estimate(a, b, perm)
    expected = torch.autograd.grad(mi.sum(), ref.params)
    got = _fused_gradients(fused, a, b, perm)
    assert [g.shape for g in got] == [w.shape for w in expected]
    for g, want in zip(got, expected):
        torch.testing.assert_close(g, want, **TOL[dtype])
    # and the gradient in the x' side of the pairs, which the attack uses
    bb = b.clone().requires_grad_(True)
    (want_b,) = torch.autograd.grad(ref.estimate(a, bb, perm).sum(), bb)
    got_mi, got_b = fused.estimate_and_grad(a, b, perm)
    torch.testing.assert_close(got_mi, mi.detach(), **TOL[dtype])
    torch.testing.assert_close(got_b, want_b, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("hidden", HIDDEN, ids=str)
def test_hand_written_gradient_equals_autograd(dtype, hidden):
    ref, fused, a, b, perms = _pair_of_networks(hidden, dtype)
    _assert_gradients_equal_autograd(ref, fused, a, b, perms[0], dtype)


def test_hand_written_gradient_equals_finite_differences():
    _, fused, a, b, perms = _pair_of_networks((4, 3), torch.float64, n=2, k=6, p=3)
    grads = _fused_gradients(fused, a, b, perms[0])
    h = 1e-6
    for index in range(len(fused.theta)):
        w = fused.theta[index]
        flat = w.view(-1)
        for j in (0, flat.numel() // 2, flat.numel() - 1):
            keep = flat[j].item()
            flat[j] = keep + h
            up = fused.estimate(a, b, perms[0]).sum().item()
            flat[j] = keep - h
            down = fused.estimate(a, b, perms[0]).sum().item()
            flat[j] = keep
            numeric = (up - down) / (2 * h)
            # the same entry in the canonical layout of the gradient
            analytic = _entry_gradient(fused, grads, index, j)
            assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    _, grad_b = fused.estimate_and_grad(a, b, perms[0])
    for idx in [(0, 0, 0), (1, 5, 2)]:
        bp, bm = b.clone(), b.clone()
        bp[idx] += h
        bm[idx] -= h
        numeric = (fused.estimate(a, bp, perms[0]).sum() - fused.estimate(a, bm, perms[0]).sum())
        assert grad_b[idx].item() == pytest.approx(numeric.item() / (2 * h), rel=1e-5, abs=1e-8)


def _entry_gradient(fused, grads, index, j):
    # grads are canonical (branch a, branch b, w_out); theta is internal
    # (layers stacked (B, 2, ...), matrices transposed)
    w = fused.theta[index]
    pos = np.unravel_index(j, tuple(w.shape))
    n_layers = len(fused.theta) - 1
    if index == n_layers:
        return grads[-1][pos].item()
    row, branch, *rest = pos
    g = grads[index + branch * n_layers]
    if len(rest) == 2:  # a transposed matrix
        return g[row, rest[1], rest[0]].item()
    return g[row, rest[0]].item()


@pytest.mark.parametrize("fused_adam", [None, False], ids=["kernel", "foreach"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_adam_update_equals_torch_optim_adam(fused_adam, dtype):
    _, fused, _, _, _ = _pair_of_networks((6, 4), dtype, fused_adam=fused_adam)
    params = [w.clone().requires_grad_(True) for w in fused.theta]
    opt = torch.optim.Adam(params, lr=fused.lr, maximize=True)
    g = torch.Generator().manual_seed(3)
    for step in range(1, 6):
        grads = [torch.randn(w.shape, generator=g, dtype=dtype) * 10.0 ** -step
                 for w in fused.theta]
        fused._adam(fused.theta, grads, fused._m, fused._v, step)
        for w, gr in zip(params, grads):
            w.grad = gr.clone()
        opt.step()
    # the same formula; the kernels may round the last bit differently
    rtol = 1e-6 if dtype == torch.float32 else 1e-13
    for got, want in zip(fused.theta, params):
        torch.testing.assert_close(got, want.detach(), atol=0, rtol=rtol)
    if fused_adam is None:  # torch has the kernel on the CPU: it was used
        assert fused._fused_adam is True


@pytest.mark.parametrize("ma_rate", [None, 0.1])
@pytest.mark.parametrize("hidden", HIDDEN, ids=str)
def test_training_follows_the_autograd_networks(hidden, ma_rate):
    ref, fused, a, b, perms = _pair_of_networks(hidden, torch.float64, ma_rate=ma_rate)
    for perm in perms[:10]:
        before_ref = ref.step(a, b, perm)
        before = fused.step(a, b, perm)
        torch.testing.assert_close(before, before_ref, **TOL[torch.float64])
    for got, want in zip(fused.params, ref.params):
        torch.testing.assert_close(got, want.detach(), **TOL[torch.float64])


def test_group_major_training_equals_step_by_step(monkeypatch):
    # 11 networks in groups of 3 (the last one shorter) give the result of 10 steps
    ref, fused, a, b, perms = _pair_of_networks((6, 4), torch.float64, ma_rate=0.1, n=11)
    monkeypatch.setattr(_fused, "_MAX_GROUP", 3)
    assert fused._group_size(a) == 3
    last = fused.train(a, b, perms[:10])
    for perm in perms[:10]:
        last_ref = ref.step(a, b, perm)
    torch.testing.assert_close(last, last_ref, **TOL[torch.float64])
    for got, want in zip(fused.params, ref.params):
        torch.testing.assert_close(got, want.detach(), **TOL[torch.float64])
    assert fused.train(a, b, []) is None


# ------------------------------------------------------------------- conv front

FRONTS = [((3, 2, (5, 4)), (6, 2)), ((2, 3, (4, 4)), (5, 4, 2))]


def _pair_with_front(front, hidden, dtype, ma_rate=None, n=3, k=7, seed=2):
    g = torch.Generator().manual_seed(seed)
    p = front[2][0] * front[2][1]
    init = StatisticsNetworks.initial_parameters(p, hidden, generator=g, conv_front=front)
    a = torch.randn(n, k, p, generator=g, dtype=dtype)
    b = torch.randn(n, k, p, generator=g, dtype=dtype)
    perms = [torch.randperm(k, generator=g) for _ in range(8)]
    kw = dict(init=init, lr=1e-2, ma_rate=ma_rate, dtype=dtype, conv_front=front)
    return (StatisticsNetworks(n, p, hidden, **kw), FusedStatisticsNetworks(n, p, hidden, **kw),
            a, b, perms)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("front, hidden", FRONTS, ids=str)
def test_conv_front_gradient_equals_autograd(front, hidden, dtype):
    ref, fused, a, b, perms = _pair_with_front(front, hidden, dtype)
    _assert_gradients_equal_autograd(ref, fused, a, b, perms[0], dtype)


@pytest.mark.parametrize("ma_rate", [None, 0.1])
@pytest.mark.parametrize("front, hidden", FRONTS, ids=str)
def test_conv_front_training_follows_the_autograd_networks(front, hidden, ma_rate):
    ref, fused, a, b, perms = _pair_with_front(front, hidden, torch.float64, ma_rate=ma_rate)
    last = fused.train(a, b, perms[:5])
    for perm in perms[:5]:
        last_ref = ref.step(a, b, perm)
    torch.testing.assert_close(last, last_ref, **TOL[torch.float64])
    for perm in perms[5:]:
        torch.testing.assert_close(fused.step(a, b, perm), ref.step(a, b, perm),
                                   **TOL[torch.float64])
    for got, want in zip(fused.params, ref.params):
        torch.testing.assert_close(got, want.detach(), **TOL[torch.float64])


def test_conv_front_attacks_agree_with_the_autograd_engine():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 36, generator=g, dtype=torch.float64)
    ae = LinearAE(36, 5, seed=0).double()
    conv = torch.nn.Conv2d(1, 3, 3, padding=1).double()
    feature_fn = lambda v: conv(v.view(-1, 1, 6, 6)).flatten(2)  # noqa: E731
    kw = dict(eps=0.3, max_iter=6, n_mine_steps=3, mine_hidden_sizes=(8, 2), mine_lr=1e-2,
              lr=0.05, seed=1, conv_front=(4, 2), image_shape=(1, 6, 6))
    runs = {backend: minmax_mine(x, ReconstructionObjective(ae), feature_fn=feature_fn,
                                 mine_backend=backend, **kw)
            for backend in ("autograd", "fused")}
    ref, got = runs["autograd"], runs["fused"]
    torch.testing.assert_close(got.x_adv, ref.x_adv, atol=1e-10, rtol=0)
    torch.testing.assert_close(got.mi, ref.mi, atol=1e-9, rtol=0)
    assert torch.equal(got.success, ref.success)


def _attack_case(objective_kind):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 16, generator=g, dtype=torch.float64)
    ae = LinearAE(16, 5, seed=0).double()
    if objective_kind == "reconstruction":
        return x, ReconstructionObjective(ae), None
    w = torch.randn(16, 3, generator=g, dtype=torch.float64)
    return x, MarginObjective(lambda v: v @ w), (x @ w).argmax(1)


@pytest.mark.parametrize("case", [
    dict(objective="reconstruction"),
    dict(objective="reconstruction", mine_ma_rate=0.2, init="uniform"),
    dict(objective="reconstruction", n_mine_steps=0),
    dict(objective="margin", n_mine_steps=1),
    dict(objective="reconstruction", features=True),
], ids=["unsupervised", "ma-rate", "no-mine-steps", "supervised", "features"])
def test_whole_attacks_agree_with_the_autograd_engine(case):
    case = dict(case)
    x, objective, y = _attack_case(case.pop("objective"))
    feature_fn = None
    if case.pop("features", False):
        layer = torch.nn.Linear(16, 6).double()
        feature_fn = lambda v: layer(v).unsqueeze(-1)  # noqa: E731
    kw = {**dict(eps=0.3, max_iter=15, n_mine_steps=5, n_pairs=8, pair_dim=4,
                 mine_hidden_sizes=(6, 3), mine_lr=1e-2, lr=0.05, seed=3), **case}
    runs = {backend: minmax_mine(x, objective, y=y, feature_fn=feature_fn,
                                 mine_backend=backend, **kw)
            for backend in ("autograd", "fused", "native")}
    ref = runs["autograd"]
    for got in (runs["fused"], runs["native"]):
        torch.testing.assert_close(got.x_adv, ref.x_adv, atol=1e-10, rtol=0)
        torch.testing.assert_close(got.mi, ref.mi, atol=1e-9, rtol=0)
        assert torch.equal(got.success, ref.success)
        assert 0 < int(got.success.sum()) or case.get("n_mine_steps") == 0


def test_float32_attacks_agree_with_the_autograd_engine(small_ae, digits):
    # float32: the two engines round differently; the examples agree to float32
    # accuracy wherever the choice of iterate is not a near tie
    module = small_ae.module_.eval()
    objective = ReconstructionObjective(lambda v: module(v)[0])
    x = torch.as_tensor(digits[0][:32])
    kw = dict(eps=0.3, max_iter=6, n_mine_steps=5, n_pairs=16, pair_dim=8,
              mine_hidden_sizes=(16, 4), seed=0)
    ref = minmax_mine(x, objective, mine_backend="autograd", **kw)
    for backend in ("fused", "native"):
        got = minmax_mine(x, objective, mine_backend=backend, **kw)
        same = (got.x_adv - ref.x_adv).abs().amax(1) <= 1e-5
        assert same.float().mean() >= 0.9
        assert (got.success == ref.success).float().mean() >= 0.9


def test_unknown_backend_is_named():
    x, objective, _ = _attack_case("reconstruction")
    with pytest.raises(ValueError, match="mine_backend"):
        minmax_mine(x, objective, mine_backend="jax")
    with pytest.raises(ValueError, match="backend"):
        estimate_mi(np.zeros((2, 3)), np.zeros((2, 3)), mine_backend="jax")


def test_estimate_mi_backends_agree(rng):
    X = rng.rand(20, 30)
    Y = X + 0.05 * rng.randn(*X.shape)
    kw = dict(n_mine_steps=40, n_pairs=16, pair_dim=8, mine_hidden_sizes=(16, 4), batch_size=7)
    want = estimate_mi(X, Y, mine_backend="autograd", **kw)
    for backend in ("fused", "native"):
        np.testing.assert_allclose(estimate_mi(X, Y, mine_backend=backend, **kw), want, atol=1e-4)


@pytest.mark.parametrize("pairs_kind", ["projection", "features"])
def test_pairs_backward_equals_autograd(pairs_kind):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 10, generator=g, dtype=torch.float64)
    if pairs_kind == "projection":
        pairs = RandomProjectionPairs(10, 5, 3, generator=g, dtype=torch.float64)
    else:
        layer = copy.deepcopy(torch.nn.Linear(10, 6)).double()
        pairs = FeaturePairs(lambda v: layer(v).unsqueeze(-1))
    fy, cache = pairs.forward_for_backward(x)
    dy = torch.randn(fy.shape, generator=g, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(pairs(xg), xg, dy)
    torch.testing.assert_close(fy, pairs(x).detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(pairs.backward(dy, cache), want, atol=1e-12, rtol=1e-10)


def test_the_attack_object_selects_the_engine(small_ae, digits):
    from conftest import fast_attack, unit_rows
    from sk_uae import UAEGenerator

    X = digits[0][:24]
    out = {}
    for backend in ("autograd", "fused", "native"):
        gen = UAEGenerator(small_ae, fast_attack(mine_backend=backend), prefit=True,
                           random_state=0, precision="float64").fit(unit_rows(64))
        out[backend] = gen.generate(X)
    for backend in ("fused", "native"):
        np.testing.assert_allclose(out[backend][0], out["autograd"][0], atol=1e-7, rtol=0)
        np.testing.assert_array_equal(out[backend][1]["success"],
                                      out["autograd"][1]["success"])
    with pytest.raises(ValueError, match="mine_backend"):
        UAEGenerator(small_ae, fast_attack(mine_backend="jax"), prefit=True).fit(X)


# ------------------------------------------------------------ the engine that runs
needs_native = pytest.mark.skipif(_fused._native.library() is None,
                                  reason="the compiled MINE step could not be built here")


@needs_native
@pytest.mark.parametrize("backend", ["auto", "native"])
def test_mine_backend_resolves_to_native_where_the_library_loads(backend):
    from sk_uae.attacks import MinMaxMINE

    attack = MinMaxMINE(mine_backend=backend).fit(np.random.RandomState(0).rand(8, 16))
    assert attack.mine_backend_ == "native"


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_mine_backend_resolves_to_fused_with_native_off(backend, monkeypatch):
    # what a machine without a compiler sees: the quick start's success and MI
    # then come from the torch engine, and mine_backend_ says so
    from sk_uae.attacks import MinMaxMINE
    from sk_uae.mine import _native

    monkeypatch.setenv("SK_UAE_NATIVE", "0")
    monkeypatch.setattr(_native, "_library", _native._UNSET)
    assert _native.library() is None
    attack = MinMaxMINE(mine_backend=backend).fit(np.random.RandomState(0).rand(8, 16))
    assert attack.mine_backend_ == "fused"
    assert attack.engine_for("cpu") == "fused"


@pytest.mark.parametrize("backend", ["fused", "autograd"])
def test_an_explicit_torch_engine_is_kept(backend):
    from sk_uae.attacks import MinMaxMINE

    attack = MinMaxMINE(mine_backend=backend).fit(np.random.RandomState(0).rand(8, 16))
    assert attack.mine_backend == backend and attack.mine_backend_ == backend


def test_the_default_engine_is_auto():
    from sk_uae.attacks import MinMaxMINE

    assert MinMaxMINE().mine_backend == "auto"
    assert MinMaxMINE.reference().mine_backend == "auto"


@pytest.mark.parametrize("settings", [
    dict(device="cuda"), dict(dtype=torch.float16), dict(hidden_sizes=(6,)),
    dict(hidden_sizes=(6, 5, 4)), dict(conv_front=(16, 2, (4, 4))), dict(ma_rate=0.1),
], ids=["cuda", "float16", "one-layer", "three-layers", "conv-front", "ma-rate"])
@pytest.mark.parametrize("backend", ["auto", "native"])
def test_where_the_compiled_step_cannot_run_the_engine_is_fused(settings, backend):
    assert _engines.resolve_engine(backend, **settings) == "fused"
    assert _engines.resolve_engine("autograd", **settings) == "autograd"


def test_the_conv_front_of_a_conv_model_resolves_to_fused(monkeypatch):
    # MinMaxMINE.reference(): pairs="auto" with a conv front, which applies only
    # to a model whose first layer is a convolution -- known when it runs
    from sk_uae.attacks import MinMaxMINE

    monkeypatch.setattr(_fused._native, "library", lambda: object())  # "it loads"
    attack = MinMaxMINE.reference().fit(np.random.RandomState(0).rand(8, 16))
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten())
    dense = torch.nn.Sequential(torch.nn.Linear(16, 4))
    assert attack.engine_for("cpu", conv) == "fused"
    assert attack.engine_for("cpu", dense) == "native"
    attack._prepare_run(torch.device("cpu"), conv)
    assert attack.mine_backend_ == "fused"


def test_auto_runs_what_it_resolves_to():
    x, objective, _ = _attack_case("reconstruction")
    kw = dict(eps=0.3, max_iter=4, n_mine_steps=3, n_pairs=8, pair_dim=4,
              mine_hidden_sizes=(6, 3), mine_lr=1e-2, lr=0.05, seed=3)
    engine = _engines.resolve_engine("auto", x.device, x.dtype, (6, 3))
    got = minmax_mine(x, objective, mine_backend="auto", **kw)
    want = minmax_mine(x, objective, mine_backend=engine, **kw)
    assert torch.equal(got.x_adv, want.x_adv) and torch.equal(got.mi, want.mi)


def test_a_run_records_the_engine_of_its_device_and_model(small_ae, digits, monkeypatch):
    from conftest import fast_attack, unit_rows
    from sk_uae import UAEGenerator

    gen = UAEGenerator(small_ae, fast_attack(max_iter=2), prefit=True,
                       random_state=0).fit(unit_rows(64))
    assert gen.attack_.mine_backend_ == gen.attack_.engine_for("cpu", small_ae)
    monkeypatch.setattr(_fused._native, "library", lambda: None)
    gen.generate(digits[0][:4])
    assert gen.attack_.mine_backend_ == "fused"
