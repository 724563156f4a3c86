"""The compiled MINE step against autograd, torch.optim.Adam and finite differences."""

import warnings

import pytest
import torch

from sk_uae.mine import FusedStatisticsNetworks, StatisticsNetworks, _native

needs_native = pytest.mark.skipif(_native.library() is None,
                                  reason="the compiled MINE step could not be built here")
pytestmark = needs_native

TOL = {torch.float32: dict(atol=2e-6, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-10)}
# (K, p, hidden): widths below, at and above one vector (8 doubles, 16 floats),
# the reference's sizes in small, and one whose products leave a remainder
# after the register tiles of 4, 2 and 1 vectors in both rows and columns
SHAPES = [(12, 7, (6, 4)), (64, 32, (32, 10)), (33, 20, (17, 3)), (40, 9, (70, 3)),
          (20, 128, (96, 10)), (115, 70, (23, 7))]


def _networks(shape, dtype, n=4, seed=1, lr=1e-2, native=True):
    k, p, hidden = shape
    g = torch.Generator().manual_seed(seed)
    init = StatisticsNetworks.initial_parameters(p, hidden, generator=g)
    a = torch.randn(n, k, p, generator=g, dtype=dtype)
    b = 0.5 * a + torch.randn(n, k, p, generator=g, dtype=dtype)
    perms = torch.stack([torch.randperm(k, generator=g) for _ in range(6)])
    kw = dict(init=init, lr=lr, dtype=dtype)
    return (StatisticsNetworks(n, p, hidden, **kw),
            FusedStatisticsNetworks(n, p, hidden, native=native, **kw), a, b, perms)


def _flat_autograd_gradient(ref, a, b, perm):
    mi = ref.estimate(a, b, perm)
    grads = torch.autograd.grad(mi.sum(), ref.params)
    n_layers = (len(grads) - 1) // 2
    parts = []
    for layer in range(n_layers):  # the native layout: both branches, matrices transposed
        pair = [grads[layer], grads[layer + n_layers]]
        pair = [g.transpose(1, 2) if g.dim() == 3 else g for g in pair]
        parts.append(torch.stack(pair, 1).flatten(1))
    return mi.detach(), torch.cat(parts + [grads[-1]], 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gradient_equals_autograd(shape, dtype):
    ref, nets, a, b, perms = _networks(shape, dtype)
    want_mi, want = _flat_autograd_gradient(ref, a, b, perms[0])
    mi, grad = _native.bounds_and_grads(torch.stack([a, b], 1), nets.theta, perms[0],
                                        nets.hidden_sizes)
    torch.testing.assert_close(mi, want_mi, **TOL[dtype])
    torch.testing.assert_close(grad, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gradient_in_the_pairs_equals_autograd(shape, dtype):
    # what the attack uses: d mi / d b, through estimate_and_grad
    ref, nets, a, b, perms = _networks(shape, dtype)
    _assert_pair_gradient_is_autograds(ref, nets, a, b, perms[0], TOL[dtype])


def _assert_pair_gradient_is_autograds(ref, nets, a, b, perm, tol):
    """``nets.estimate_and_grad`` against autograd through ``ref``: the bound and d bound / d b."""
    bb = b.clone().requires_grad_(True)
    mi_ref = ref.estimate(a, bb, perm)
    (want,) = torch.autograd.grad(mi_ref.sum(), bb)
    mi, got = nets.estimate_and_grad(a, b, perm)
    torch.testing.assert_close(mi, mi_ref.detach(), **tol)
    torch.testing.assert_close(got, want, **tol)


def test_gradient_equals_finite_differences():
    _, nets, a, b, perms = _networks((6, 3, (4, 3)), torch.float64, n=2)
    pairs = torch.stack([a, b], 1)
    _, grad = _native.bounds_and_grads(pairs, nets.theta, perms[0], nets.hidden_sizes)
    h, column = 1e-6, 0
    for w in nets.theta:
        flat = w.view(w.shape[0], -1)
        for j in range(flat.shape[1]):
            keep = flat[:, j].clone()
            flat[:, j] = keep + h
            up = _native.bounds_and_grads(pairs, nets.theta, perms[0], nets.hidden_sizes)[0]
            flat[:, j] = keep - h
            down = _native.bounds_and_grads(pairs, nets.theta, perms[0], nets.hidden_sizes)[0]
            flat[:, j] = keep
            torch.testing.assert_close(grad[:, column + j], (up - down) / (2 * h),
                                       atol=1e-6, rtol=1e-5)
        column += flat.shape[1]
    assert column == grad.shape[1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES[:3], ids=str)
def test_steps_equal_autograd_and_torch_optim_adam(shape, dtype):
    # the parameters after each step are torch.optim.Adam's, on autograd's gradient
    ref, nets, a, b, perms = _networks(shape, dtype)
    opt = torch.optim.Adam(ref.params, lr=nets.lr, maximize=True)
    for perm in perms:
        opt.zero_grad()
        mi_ref = ref.estimate(a, b, perm)
        mi_ref.sum().backward()  # the networks are independent: each its own gradient
        opt.step()
        torch.testing.assert_close(nets.step(a, b, perm), mi_ref.detach(), **TOL[dtype])
    for got, want in zip(nets.params, ref.params):
        torch.testing.assert_close(got, want.detach(), **TOL[dtype])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_training_follows_the_torch_step(shape):
    # several steps per call (the attack's use), against the torch implementation
    _, nets, a, b, perms = _networks(shape, torch.float64)
    torch_nets = FusedStatisticsNetworks(a.shape[0], a.shape[2], nets.hidden_sizes,
                                         init=StatisticsNetworks.initial_parameters(
                                             a.shape[2], nets.hidden_sizes,
                                             generator=torch.Generator().manual_seed(1)),
                                         lr=nets.lr, dtype=torch.float64, native=False)
    for chunk in (perms[:4], perms[4:]):
        torch.testing.assert_close(nets.train(a, b, chunk), torch_nets.train(a, b, chunk),
                                   **TOL[torch.float64])
    for got, want in zip(nets.theta, torch_nets.theta):
        torch.testing.assert_close(got, want, **TOL[torch.float64])
    for got, want in zip(nets._m + nets._v, torch_nets._m + torch_nets._v):
        torch.testing.assert_close(got, want, **TOL[torch.float64])


def test_results_do_not_depend_on_threads_or_batch():
    _, nets, a, b, perms = _networks((64, 32, (32, 10)), torch.float32, n=7)
    init = [w.clone() for w in nets.theta]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = nets.train(a, b, perms)
        theta_one = [w.clone() for w in nets.theta]
        torch.set_num_threads(3)
        for w, w0 in zip(nets.theta, init):
            w.copy_(w0)
        for m in nets._m + nets._v:
            m.zero_()
        nets._step = 0
        three = nets.train(a, b, perms)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, three)
    assert all(torch.equal(x, y) for x, y in zip(theta_one, nets.theta))
    # the first three networks alone give the same bits as within the seven
    _, few, _, _, _ = _networks((64, 32, (32, 10)), torch.float32, n=3)
    assert torch.equal(few.train(a[:3], b[:3], perms), one[:3])


@pytest.mark.parametrize("kw", [dict(ma_rate=0.1), dict(hidden_sizes=(6,)),
                                dict(hidden_sizes=(6, 5, 4)), dict(dtype=torch.float16)],
                         ids=["ma_rate", "one-layer", "three-layers", "float16"])
def test_native_true_names_what_does_not_fit(kw):
    kw = {"hidden_sizes": (6, 4), **kw}
    with pytest.raises(ValueError, match="native=True"):
        FusedStatisticsNetworks(2, 3, native=True, **kw)
    assert FusedStatisticsNetworks(2, 3, **kw).native is False  # None: the torch step


def test_without_the_library_the_torch_step_runs(monkeypatch):
    monkeypatch.setattr(_native, "_library", None)
    nets = FusedStatisticsNetworks(2, 3, (4, 2))
    assert nets.native is False
    with pytest.raises(ValueError, match="C\\+\\+ compiler"):
        FusedStatisticsNetworks(2, 3, (4, 2), native=True)


@pytest.mark.parametrize("env, warns", [(dict(SK_UAE_NATIVE="0"), False),
                                        (dict(CXX="sk-uae-no-such-compiler"), True),
                                        (dict(CXX="false"), True)],
                         ids=["switched-off", "no-compiler", "failing-compiler"])
def test_a_build_that_cannot_run_falls_back(monkeypatch, tmp_path, env, warns):
    monkeypatch.setattr(_native, "_library", _native._UNSET)
    monkeypatch.setattr(_native, "_warned", set())
    monkeypatch.setenv("SK_UAE_CACHE_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _native.library() is None
    assert any("compiled MINE step" in str(w.message) for w in caught) == warns
    # no half-written library left behind (only the build lock's empty file)
    assert [f.name for f in tmp_path.iterdir()] in ([], [_native._LOCK_NAME])
