"""Property-based invariants of the PGD and Gaussian-noise engines on random shapes."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sk_uae.attacks import ReconstructionObjective, gaussian_noise, pgd
from conftest import LinearAE


def _data(n, d, clip, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g) if clip else 3 * torch.randn(n, d, generator=g)
    return x.to(dtype)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 12), eps=st.floats(1e-3, 2.0),
       step=st.floats(1e-3, 1.0), norm=st.sampled_from(["linf", "l2"]), clip=st.booleans(),
       random_init=st.booleans(), seed=st.integers(0, 2**16))
def test_pgd_box_clip_shape_dtype(n, d, eps, step, norm, clip, random_init, seed):
    x = _data(n, d, clip, seed, torch.float32)
    ae = LinearAE(d, max(1, d // 2), seed)
    res = pgd(x, ReconstructionObjective(ae), norm=norm, eps=eps, eps_step=step, max_iter=3,
              random_init=random_init, clip_values=(0.0, 1.0) if clip else None, seed=seed)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
    assert torch.isfinite(res.x_adv).all() and torch.isfinite(res.loss).all()
    delta = res.x_adv - x
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert torch.all(size <= eps * (1 + 1e-5) + 1e-6)
    if clip:
        assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert res.success.shape == (n,) and res.success.dtype == torch.bool


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), d=st.integers(1, 16), eps=st.one_of(st.none(), st.floats(1e-3, 2.0)),
       sigma=st.floats(0.0, 2.0), norm=st.sampled_from(["linf", "l2"]), clip=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**16))
def test_gaussian_noise_box_clip_shape_dtype(n, d, eps, sigma, norm, clip, dtype, seed):
    x = _data(n, d, clip, seed, dtype)
    res = gaussian_noise(x, sigma=sigma, eps=eps, norm=norm,
                         clip_values=(0.0, 1.0) if clip else None, seed=seed)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
    assert torch.isfinite(res.x_adv).all()
    delta = res.x_adv - x
    if eps is not None:
        size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
        tol = 1e-5 if dtype == torch.float32 else 1e-10
        assert torch.all(size <= eps * (1 + tol) + tol)
        if not clip:  # before clipping the noise has norm exactly eps
            # x + noise - x rounds to the precision of |x|, not of eps
            ulp = (6e-8 if dtype == torch.float32 else 1.2e-16) * (1 + float(x.abs().max()))
            np.testing.assert_allclose(size.numpy(), eps, rtol=1e-4, atol=8 * ulp)
    elif sigma == 0:
        assert torch.equal(res.x_adv, x if not clip else x.clamp(0, 1))
    if clip:
        assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert res.success.all() and res.success.shape == (n,)
    # the same seed gives the same noise (repeatable), a row's noise ignores the batch
    again = gaussian_noise(x[-1:], sigma=sigma, eps=eps, norm=norm,
                           clip_values=(0.0, 1.0) if clip else None, seed=seed)
    assert torch.equal(again.x_adv[0], res.x_adv[-1])
