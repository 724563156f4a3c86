"""The MINE engines behind one interface, built by name from one options object."""

import platform
from dataclasses import replace

import pytest
import torch

from sk_uae.mine import FusedStatisticsNetworks, StatisticsNetworks, _native
from sk_uae.mine._base import MINENetworks
from sk_uae.mine._engines import ENGINE_NAMES, ENGINES, MINEOptions, make_networks

needs_native = pytest.mark.skipif(_native.library() is None,
                                  reason="the compiled MINE step could not be built here")
TOL = dict(atol=1e-12, rtol=1e-10)  # float64: the engines agree to rounding
N, K, P, HIDDEN = 4, 10, 6, (6, 3)
ENGINE_PARAMS = ["autograd", "fused", pytest.param("native", marks=needs_native)]


def _case(seed=2):
    g = torch.Generator().manual_seed(seed)
    init = StatisticsNetworks.initial_parameters(P, HIDDEN, generator=g)
    a = torch.randn(N, K, P, generator=g, dtype=torch.float64)
    b = 0.5 * a + torch.randn(N, K, P, generator=g, dtype=torch.float64)
    perms = torch.stack([torch.randperm(K, generator=g) for _ in range(6)])
    return init, a, b, perms


def _nets(engine, init):
    options = MINEOptions(backend=engine, lr=1e-2, hidden_sizes=HIDDEN)
    return make_networks(options, N, P, init=init, dtype=torch.float64)


def _autograd_grad_b(nets, a, b, perm):
    bb = b.clone().requires_grad_(True)
    mi = nets.estimate(a, bb, perm)
    return mi.detach(), torch.autograd.grad(mi.sum(), bb)[0]


def test_the_engine_table():
    assert ENGINE_NAMES == ("auto", "native", "fused", "autograd")
    assert {cls for cls, _ in ENGINES.values()} == {StatisticsNetworks, FusedStatisticsNetworks}
    assert all(issubclass(cls, MINENetworks) for cls, _ in ENGINES.values())
    with pytest.raises(ValueError, match="mine_backend='jax' is not known"):
        MINEOptions(backend="jax")
    assert MINEOptions(hidden_sizes=[8.0, 2]).hidden_sizes == (8, 2)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_every_engine_offers_the_interface_with_the_same_results(engine):
    init, a, b, perms = _case()
    nets, ref = _nets(engine, init), _nets("autograd", init)
    assert isinstance(nets, MINENetworks)
    assert MINEOptions(backend=engine, hidden_sizes=HIDDEN).engine(dtype=torch.float64) == engine
    assert nets.train(a, b, perms[:0]) is None  # no steps
    torch.testing.assert_close(nets.train(a, b, perms[:3]), ref.train(a, b, perms[:3]), **TOL)
    torch.testing.assert_close(nets.train(a, b, list(perms[3:5])),
                               ref.train(a, b, list(perms[3:5])), **TOL)
    torch.testing.assert_close(nets.step(a, b, perms[5]), ref.step(a, b, perms[5]), **TOL)
    mi, grad_b = nets.estimate_and_grad(a, b, perms[0])
    want_mi, want_grad = _autograd_grad_b(ref, a, b, perms[0])
    assert not mi.requires_grad and grad_b.shape == b.shape
    torch.testing.assert_close(mi, want_mi, **TOL)
    torch.testing.assert_close(grad_b, want_grad, **TOL)
    torch.testing.assert_close(nets.estimate(a, b, perms[0]), want_mi, **TOL)
    # only the autograd engine's bound is a graph back to the pairs
    bb = b.clone().requires_grad_(True)
    assert nets.estimate(a, bb, perms[0]).requires_grad is nets.differentiable
    assert nets.differentiable is (engine == "autograd")


def test_the_autograd_engine_composes_train_and_estimate_and_grad_from_its_pieces():
    init, a, b, perms = _case()
    nets, steps = _nets("autograd", init), _nets("autograd", init)
    got = nets.train(a, b, perms)
    for perm in perms:
        want = steps.step(a, b, perm)
    assert torch.equal(got, want)
    assert all(torch.equal(u, v) for u, v in zip(nets.params, steps.params))
    mi, grad_b = nets.estimate_and_grad(a, b, perms[0])
    want_mi, want_grad = _autograd_grad_b(steps, a, b, perms[0])
    assert torch.equal(mi, want_mi) and torch.equal(grad_b, want_grad)


def test_the_fused_engine_never_runs_the_compiled_step():
    init, _, _, _ = _case()
    assert _nets("fused", init).native is False


@needs_native
def test_native_asked_for_off_x86_64_runs_the_compiled_step(monkeypatch):
    # "auto" keeps the torch step there; "native" is resolved to and runs the compiled one
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    init, _, _, _ = _case()
    assert MINEOptions(backend="native", hidden_sizes=HIDDEN).engine() == "native"
    assert _nets("native", init).native is True
    assert MINEOptions(backend="auto", hidden_sizes=HIDDEN).engine() == "fused"
    assert _nets("auto", init).native is False


def test_make_networks_falls_back_where_the_compiled_step_cannot_run():
    init, _, _, _ = _case()
    options = MINEOptions(backend="native", hidden_sizes=HIDDEN, ma_rate=0.1)
    nets = make_networks(options, N, P, init=init)
    assert type(nets) is FusedStatisticsNetworks and nets.native is False
    assert nets.ma_rate == 0.1 and nets.hidden_sizes == HIDDEN
    nets = make_networks(replace(options, backend="autograd"), N, P, init=init)
    assert type(nets) is StatisticsNetworks and nets.ma_rate == 0.1
