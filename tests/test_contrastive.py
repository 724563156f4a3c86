import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from conftest import fast_attack
from sk_uae import UAEGenerator
from sk_uae.attacks import ContrastiveObjective, ReconstructionObjective, resolve_objective
from sk_uae.models import (ContrastiveNet, ConvEncoder, ImageAugment,
                           MLPEncoder, NTXentLoss, TabularAugment, nt_xent, nt_xent_bank)


# ------------------------------------------------------------------ augmentations
@pytest.mark.parametrize("aug", [ImageAugment(), ImageAugment(flip=True, max_shift=2),
                                 TabularAugment()])
def test_augmentations_change_inputs_are_reproducible_and_keep_shapes(aug, digits):
    x = torch.as_tensor(digits[0][:16])
    a = aug(x, torch.Generator().manual_seed(0))
    b = aug(x, torch.Generator().manual_seed(0))
    c = aug(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    assert (a - x).abs().mean() > 0.01
    if aug.clip_values is not None:
        assert a.min() >= 0 and a.max() <= 1


def test_image_shift_is_a_translation_and_one_draw_broadcasts():
    x = torch.rand(4, 64)
    aug = ImageAugment(max_shift=1, brightness=0, contrast=0, noise_std=0)
    params = aug.sample(1, 64, torch.Generator().manual_seed(0))
    params["shift"][:] = torch.tensor([[0, 2]])  # down by one row, left by one column
    img, out = x.reshape(4, 8, 8), aug.apply(x, params).reshape(4, 8, 8)
    torch.testing.assert_close(out[:, 1:, :7], img[:, :7, 1:])
    assert torch.all(out[:, 0] == 0) and torch.all(out[:, :, 7] == 0)
    # the same draw on every row: row i alone gives the same view
    full = ImageAugment().apply(x, ImageAugment().sample(1, 64, torch.Generator().manual_seed(3)))
    one = ImageAugment().apply(x[2:3], ImageAugment().sample(1, 64,
                                                             torch.Generator().manual_seed(3)))
    torch.testing.assert_close(full[2:3], one)


def test_augmentation_errors():
    with pytest.raises(ValueError, match="square"):
        ImageAugment()(torch.rand(2, 10), torch.Generator())
    with pytest.raises(ValueError, match="noise_std"):
        TabularAugment(noise_std=-1)(torch.rand(2, 3), torch.Generator())
    with pytest.raises(ValueError, match="mask_prob"):
        TabularAugment(mask_prob=1.0)(torch.rand(2, 3), torch.Generator())


# ---------------------------------------------------------------------- NT-Xent
def _nt_xent_direct(z1, z2, t):
    z = np.vstack([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    losses = []
    for a in range(n2):
        p = (a + n2 // 2) % n2
        den = sum(np.exp(z[a] @ z[k] / t) for k in range(n2) if k != a)
        losses.append(-np.log(np.exp(z[a] @ z[p] / t) / den))
    return np.mean(losses)


def test_nt_xent_equals_the_direct_formula():
    rng = np.random.RandomState(0)
    z1, z2 = rng.randn(3, 4), rng.randn(3, 4)
    got = nt_xent(torch.tensor(z1), torch.tensor(z2), temperature=0.5)
    assert got.item() == pytest.approx(_nt_xent_direct(z1, z2, 0.5), rel=1e-10)
    assert NTXentLoss(0.5)(torch.tensor(z1), torch.tensor(z2)).item() == pytest.approx(got.item())
    # aligned views lower the loss
    assert nt_xent(torch.tensor(z1), torch.tensor(z1)) < got
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0)


def test_nt_xent_bank_equals_the_direct_formula():
    rng = np.random.RandomState(1)
    z1, z2, neg = rng.randn(2, 3), rng.randn(2, 3), rng.randn(4, 3)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731

    def side(a, b):
        pos = np.exp(unit(a) @ unit(b) / 0.5)
        return -np.log(pos / (pos + np.exp(unit(neg) @ unit(a) / 0.5).sum()))

    want = [(side(z1[i], z2[i]) + side(z2[i], z1[i])) / 2 for i in range(2)]
    got = nt_xent_bank(torch.tensor(z1), torch.tensor(z2), torch.tensor(neg), 0.5)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


# ----------------------------------------------------------------- ContrastiveNet
def _probe_accuracy(net, X, y):
    Z = net.transform(X)
    Z = Z / (Z.std(0) + 1e-6)
    return LogisticRegression(max_iter=1000).fit(Z[:500], y[:500]).score(Z[500:], y[500:])


def test_contrastive_training_beats_a_random_encoder_in_a_linear_probe(digits):
    X, y = digits[0][:1000], digits[1][:1000]
    kw = dict(module__hidden_units=(128, 32), lr=3e-3, batch_size=128, random_state=0)
    random_init = ContrastiveNet(MLPEncoder, max_epochs=0, **kw).fit(X)
    trained = ContrastiveNet(MLPEncoder, max_epochs=20, **kw).fit(X)
    acc0, acc1 = _probe_accuracy(random_init, X, y), _probe_accuracy(trained, X, y)
    assert acc1 > acc0 + 0.03, (acc0, acc1)
    assert trained.score(X) > random_init.score(X)  # lower NT-Xent on the fixed views
    assert trained.transform(X).shape == (1000, 32)
    assert trained.predict(X).shape == (1000, 32)  # projections
    assert trained.negatives_.shape == (256, 64)
    assert all((trained.negatives_ == X[:, None]).all(-1).any(0))  # training rows


def test_conv_encoder_and_default_image_augmentation(digits):
    X = digits[0][:128]
    net = ContrastiveNet(ConvEncoder, module__filters=(4, 8), module__representation_dim=16,
                         max_epochs=1, n_negatives=10, random_state=0).fit(X)
    assert net.transform(X).shape == (128, 16)
    assert isinstance(net.get_augmentation(), ImageAugment)
    assert net.get_augmentation().input_shape == (1, 8, 8)
    assert net.module_.first_layer_features(torch.as_tensor(X[:2])).shape == (2, 4, 64)
    assert net.negatives_.shape == (10, 64)
    a = ContrastiveNet(max_epochs=2, random_state=3).fit(X).transform(X)
    b = ContrastiveNet(max_epochs=2, random_state=3).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="augmentation"):
        ContrastiveNet(augmentation="crop", max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="n_negatives"):
        ContrastiveNet(n_negatives=0, max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="input_shape"):
        ContrastiveNet(ConvEncoder, module__input_shape=(1, 4, 4), max_epochs=1).fit(X)


def test_score_batch_size_minus_one_is_one_chunk_of_all_rows(digits):
    import copy

    X = digits[0][:40]
    net = ContrastiveNet(module__hidden_units=(8,), module__projection_dim=4, max_epochs=1,
                         batch_size=16, random_state=0).fit(X)
    whole = copy.deepcopy(net).set_params(batch_size=len(X)).score(X)
    assert whole < 0  # NT-Xent is positive; range(0, n, -1) used to give -0.0
    assert net.set_params(batch_size=-1).score(X) == pytest.approx(whole, rel=1e-6)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        net.set_params(batch_size=0).score(X)


# ------------------------------------------------------------ attack objective
@pytest.fixture(scope="module")
def small_contrastive(digits):
    return ContrastiveNet(module__hidden_units=(32, 16), module__projection_dim=8, max_epochs=3,
                          n_negatives=64, random_state=0).fit(digits[0][:300])


def test_resolve_objective_picks_the_contrastive_objective(small_contrastive, small_ae):
    obj = resolve_objective(small_contrastive)
    assert isinstance(obj, ContrastiveObjective)
    assert obj.mi_sign == 1 and obj.needs_labels is False
    assert obj.temperature == 0.5
    assert isinstance(resolve_objective(small_ae), ReconstructionObjective)
    assert isinstance(resolve_objective(small_contrastive, "reconstruction"),
                      ReconstructionObjective)


def test_resolve_objective_refuses_targeted_or_confidence_for_the_own_objective(
        small_contrastive, digits):
    # both used to be dropped silently (the reconstruction objective already
    # raised on targeted=True)
    with pytest.raises(ValueError, match="ContrastiveNet supplies its own objective.*"
                                         "targeted=True"):
        resolve_objective(small_contrastive, targeted=True)
    with pytest.raises(ValueError, match="confidence=0.5"):
        resolve_objective(small_contrastive, confidence=0.5)
    gen = UAEGenerator(small_contrastive, fast_attack(targeted=True), prefit=True,
                       random_state=0).fit(digits[0][:8])
    with pytest.raises(ValueError, match="targeted=True"):
        gen.generate(digits[0][:8])


def test_contrastive_objective_is_zero_at_x_and_per_sample(small_contrastive, digits):
    small_contrastive.module_.eval()
    obj = resolve_objective(small_contrastive)
    x = torch.as_tensor(digits[0][300:308])
    ctx = obj.prepare(x)
    torch.testing.assert_close(obj.loss(x, x, ctx), torch.zeros(8), rtol=0, atol=0)
    # the loss is not constant: a perturbation moves L
    x_adv = (x + 0.3 * torch.rand(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    obj.prepare(x)
    params = obj.draws(0, 64)
    assert not torch.allclose(obj.view_loss(x_adv, params, ctx["negatives"]),
                              obj.view_loss(x, params, ctx["negatives"]))
    # the loss of rows 0-3 does not change when rows 4-7 change
    f1 = obj.loss(x_adv, x, obj.prepare(x))
    other = x.clone()
    other[4:] = torch.as_tensor(digits[0][400:404])
    other_adv = x_adv.clone()
    other_adv[4:] = other[4:].flip(-1)
    f2 = obj.loss(other_adv, other, obj.prepare(other))
    torch.testing.assert_close(f1[:4], f2[:4])
    f_alone = obj.loss(x_adv[1:2], x[1:2], obj.prepare(x[1:2]))
    torch.testing.assert_close(f_alone, f1[1:2])
    # draws follow the call counter, reset by prepare
    ctx = obj.prepare(x)
    first = obj.loss(x_adv, x, ctx)
    second = obj.loss(x_adv, x, ctx)
    assert ctx["step"] == 2 and not torch.allclose(first, second)
    torch.testing.assert_close(obj.loss(x_adv, x, obj.prepare(x)), first)


def test_uae_generator_on_contrastive_net_is_batch_invariant(small_contrastive, digits):
    X = digits[0][300:364]
    # float64: other batch shapes must not round differently (see test_minmax)
    gen = UAEGenerator(small_contrastive, fast_attack(), prefit=True, batch_size=64,
                       random_state=0, precision="float64").fit(X)
    full, info = gen.generate(X)
    halves = [gen.set_params(batch_size=32).generate(X[:32]), gen.generate(X[32:])]
    np.testing.assert_allclose(np.vstack([h[0] for h in halves]), full, atol=1e-7, rtol=0)
    np.testing.assert_allclose(np.concatenate([h[1]["loss"] for h in halves]), info["loss"],
                               atol=1e-9)
    assert np.abs(full - X).max() <= 0.3 + 1e-6 and full.min() >= 0 and full.max() <= 1
    assert np.abs(full - X).max() > 0
