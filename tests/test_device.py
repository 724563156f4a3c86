"""The device path of the attacks.

On every machine: the MinMax loop makes no host round trip (no ``.item()``,
no Python ``bool``/``float`` of a tensor, no copy to numpy) and copies
nothing from the CPU after its set-up -- on a GPU each of those would stall
the device once per iteration. torch's data-free "meta" device stands in
for a GPU: it refuses host reads and makes every copy to it visible. On a CUDA machine the
attack on ``device="cuda"`` (and ``"auto"``) agrees with the CPU run, and a
generator fitted there is usable on the CPU.
"""

import numpy as np
import pytest
import torch

from conftest import fast_attack
from sk_uae import UAEGenerator
from sk_uae.attacks import (ContrastiveObjective, MarginObjective, ReconstructionObjective,
                            minmax_mine, pgd)
from sk_uae.models import ImageAugment, first_layer_features

HOST_SYNCS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__",
              "__index__")


@pytest.fixture
def count_host_syncs(monkeypatch):
    """Count tensor-to-host conversions (each would stall a GPU) while running ``fn``."""
    calls = []

    def counting(name, original):
        def method(self, *args, **kwargs):
            calls.append(name)
            return original(self, *args, **kwargs)
        return method

    for name in HOST_SYNCS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))

    def run(fn):
        del calls[:]
        fn()
        return list(calls)

    return run


def _setup(kind, small_ae, small_clf, digits):
    X, y = digits
    x = torch.as_tensor(X[:12])
    if kind == "margin":
        module = small_clf.module_.eval()
        return x, MarginObjective(module), torch.as_tensor(y[:12]), module
    module = small_ae.module_.eval()
    if kind == "reconstruction":
        return x, ReconstructionObjective(lambda v: module(v)[0]), None, module
    encoder = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                  torch.nn.Linear(16, 8))
    negatives = torch.as_tensor(X[100:132])
    objective = ContrastiveObjective(encoder, ImageAugment(input_shape=(1, 8, 8)), negatives)
    return x, objective, None, encoder


@pytest.mark.parametrize("kind", ["reconstruction", "margin", "contrastive"])
@pytest.mark.parametrize("pairs", ["random_projection", "features"])
def test_minmax_loop_adds_no_host_syncs_per_iteration(kind, pairs, small_ae, small_clf, digits,
                                                      count_host_syncs):
    x, objective, y, module = _setup(kind, small_ae, small_clf, digits)
    feature_fn = first_layer_features(module) if pairs == "features" else None

    def attack(max_iter):
        return lambda: minmax_mine(x, objective, y=y, feature_fn=feature_fn, max_iter=max_iter,
                                   n_mine_steps=2, n_pairs=8, pair_dim=4,
                                   mine_hidden_sizes=(8, 4), seed=0)

    assert count_host_syncs(lambda: bool(torch.ones(()))) == ["__bool__"]  # the counter works
    # set-up may convert (label checks); three more iterations add nothing
    assert count_host_syncs(attack(2)) == count_host_syncs(attack(5))


@pytest.mark.parametrize("kind", ["reconstruction", "contrastive"])
@pytest.mark.parametrize("pairs", ["random_projection", "features"])
def test_attack_runs_on_a_data_free_device_with_copies_at_set_up_only(kind, pairs, digits,
                                                                     monkeypatch):
    # torch's "meta" device has shapes but no data: any host read (item, bool,
    # numpy) raises there, and every copy from the CPU to it is visible --
    # a stand-in for a GPU on machines without one
    X = digits[0]
    encoder = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                  torch.nn.Linear(16, 8)).to("meta")
    x = torch.as_tensor(X[:12]).to("meta")
    if kind == "reconstruction":
        decoder = torch.empty(64, 8, device="meta")
        objective = ReconstructionObjective(
            lambda v: torch.sigmoid(torch.nn.functional.linear(encoder(v), decoder)))
    else:
        objective = ContrastiveObjective(encoder, ImageAugment(input_shape=(1, 8, 8)),
                                         torch.as_tensor(X[100:132]))
    feature_fn = first_layer_features(encoder) if pairs == "features" else None
    copies = []
    original_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        out = original_to(self, *args, **kwargs)
        if self.device.type == "cpu" and out.device.type == "meta":
            copies.append(tuple(self.shape))
        return out

    monkeypatch.setattr(torch.Tensor, "to", to)
    counts = []
    for max_iter in (2, 5):
        del copies[:]
        res = minmax_mine(x, objective, feature_fn=feature_fn, max_iter=max_iter,
                          n_mine_steps=2, n_pairs=8, pair_dim=4, mine_hidden_sizes=(8, 4),
                          seed=0)
        assert res.x_adv.device.type == "meta" and res.x_adv.shape == x.shape
        counts.append(len(copies))
    assert counts[0] == counts[1], counts


def test_pgd_loop_adds_no_host_syncs_per_iteration(small_clf, digits, count_host_syncs):
    X, y = digits
    module = small_clf.module_.eval()
    x, yt = torch.as_tensor(X[:12]), torch.as_tensor(y[:12])
    runs = [count_host_syncs(lambda: pgd(x, MarginObjective(module), y=yt, eps=0.1,
                                         eps_step=0.02, max_iter=n)) for n in (2, 5)]
    assert runs[0] == runs[1]


def _conv_front_case(device="cpu", dtype=torch.float64):
    """A tiny conv autoencoder, its first-layer maps as pairs, and the MinMax settings."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 3, 3, padding=1).to(device, dtype)
    decoder = torch.nn.Linear(3 * 36, 36).to(device, dtype)

    def features(v):
        return conv(v.view(-1, 1, 6, 6)).flatten(2)

    objective = ReconstructionObjective(lambda v: torch.sigmoid(decoder(features(v).flatten(1))))
    x = torch.rand(6, 36, generator=torch.Generator().manual_seed(1), dtype=dtype).to(device)
    kw = dict(feature_fn=features, n_mine_steps=2, mine_hidden_sizes=(8, 2), mine_lr=1e-2,
              conv_front=(4, 2), image_shape=(1, 6, 6), seed=0)
    return x, objective, kw


@pytest.mark.parametrize("backend", ["fused", "autograd"])
def test_conv_front_loop_adds_no_host_syncs_per_iteration(backend, count_host_syncs):
    x, objective, kw = _conv_front_case()
    runs = [count_host_syncs(lambda: minmax_mine(x, objective, max_iter=n, mine_backend=backend,
                                                 **kw)) for n in (2, 5)]
    assert runs[0] == runs[1]


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_cuda_attack_agrees_with_cpu(small_ae, digits, device):  # pragma: no cover - GPU only
    X = digits[0][600:664]
    kw = dict(attack=fast_attack(), prefit=True, random_state=3, batch_size=64)
    cpu_adv, cpu_info = UAEGenerator(small_ae, device="cpu", **kw).fit(X).generate(X)
    gpu_adv, gpu_info = UAEGenerator(small_ae, device=device, **kw).fit(X).generate(X)
    assert gpu_adv.dtype == cpu_adv.dtype and gpu_adv.shape == cpu_adv.shape
    # float32 on two devices: the same iterates up to rounding, so nearly all
    # samples agree closely and the success rates match
    agree = np.abs(gpu_adv - cpu_adv).max(axis=1) < 1e-3
    assert agree.mean() >= 0.75
    assert abs(gpu_info["success"].mean() - cpu_info["success"].mean()) <= 0.1


@needs_cuda
def test_cuda_loop_adds_no_synchronising_calls_per_iteration(small_ae, digits):
    # pragma: no cover - GPU only
    import warnings

    module = small_ae.module_.to("cuda").eval()
    try:
        x = torch.as_tensor(digits[0][:64], device="cuda")
        objective = ReconstructionObjective(lambda v: module(v)[0])
        minmax_mine(x, objective, max_iter=2, n_mine_steps=2, seed=0)  # warm-up
        counts = []
        for max_iter in (2, 6):
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("warn")
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                minmax_mine(x, objective, max_iter=max_iter, n_mine_steps=3, seed=0)
            torch.cuda.set_sync_debug_mode("default")
            counts.append(sum("synchroniz" in str(r.message).lower() for r in records))
        # set-up copies may synchronise; four more iterations add nothing
        assert counts[0] == counts[1], counts
    finally:
        torch.cuda.set_sync_debug_mode("default")
        small_ae.module_.to("cpu")


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_reduced_precision_keeps_the_box_and_rechecks_successes(small_ae, digits, precision):
    X = digits[0][600:632]
    attack = fast_attack(eps=0.1)
    gen = UAEGenerator(small_ae, attack, prefit=True, random_state=3,
                       precision=precision).fit(X)
    X_adv, info = gen.generate(X)
    assert X_adv.dtype == X.dtype and np.all(np.abs(X_adv - X) <= 0.1 + 1e-6)
    # every reported success meets the goal in float32
    module = small_ae.module_.eval()
    objective = ReconstructionObjective(lambda v: module(v)[0])
    x, xa = torch.as_tensor(X), torch.as_tensor(X_adv)
    with torch.no_grad():
        f = objective.loss(xa, x, objective.prepare(x)).numpy()
    assert np.all(f[info["success"]] <= 0)
    # and float32 stays the default, bit for bit
    ref = UAEGenerator(small_ae, attack, prefit=True, random_state=3).fit(X).transform(X)
    same = UAEGenerator(small_ae, attack, prefit=True, random_state=3,
                        precision="float32").fit(X).transform(X)
    np.testing.assert_array_equal(ref, same)


def test_unknown_precision_is_named(small_ae, digits):
    with pytest.raises(ValueError, match="precision"):
        UAEGenerator(small_ae, prefit=True, precision="float8").fit(digits[0][:10])


@needs_cuda
@pytest.mark.parametrize("backend", ["fused", "autograd"])
def test_cuda_conv_front_attack_agrees_with_cpu(backend):  # pragma: no cover - GPU only
    runs = []
    for device in ("cpu", "cuda"):
        x, objective, kw = _conv_front_case(device)
        runs.append(minmax_mine(x, objective, max_iter=4, mine_backend=backend, **kw))
    cpu, gpu = runs
    torch.testing.assert_close(gpu.x_adv.cpu(), cpu.x_adv, atol=1e-8, rtol=0)
    torch.testing.assert_close(gpu.mi.cpu(), cpu.mi, atol=1e-8, rtol=0)
