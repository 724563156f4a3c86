"""PGD, Carlini-Wagner L2 and Gaussian noise: goal, box, batch invariance, seeds, errors, ART."""

import numpy as np
import pytest
import torch

from conftest import unit_rows
from sk_uae import UAEGenerator
from sk_uae.attacks import PGD, CarliniWagnerL2, GaussianNoise, MinMaxMINE

FAST_CW = dict(binary_search_steps=4, max_iter=30, lr=0.05)


def _gen(model, attack, random_state=0, batch_size=64, precision="float32"):
    return UAEGenerator(model, attack=attack, prefit=True, batch_size=batch_size,
                        random_state=random_state, precision=precision).fit(
                            unit_rows(model.n_features_in_))


BOXED = [
    (PGD(eps=0.1, eps_step=0.02, max_iter=10), "linf", 0.1),
    (PGD(eps=0.1, eps_step=0.02, max_iter=10, random_init=True), "linf", 0.1),
    (PGD(eps=0.8, eps_step=0.2, max_iter=10, norm="l2"), "l2", 0.8),
    (PGD(eps=0.8, eps_step=0.2, max_iter=10, norm="l2", random_init=True), "l2", 0.8),
    (GaussianNoise(eps=0.1), "linf", 0.1),
    (GaussianNoise(eps=0.8, norm="l2"), "l2", 0.8),
    (GaussianNoise(sigma=0.3), None, None),
    (CarliniWagnerL2(**FAST_CW), None, None),
    (MinMaxMINE(eps=0.1, max_iter=10, lr=0.05), "linf", 0.1),
]


@pytest.mark.parametrize("attack,norm,eps", BOXED, ids=lambda v: repr(v)[:60])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eps_box_and_clip_respected(small_clf, clf_rows, attack, norm, eps, dtype):
    X, y = clf_rows
    X = X[:24].astype(dtype)
    X_adv, info = _gen(small_clf, attack).generate(X, y[:24])
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    diff = (X_adv - X).astype(np.float64)
    assert np.abs(diff).max() > 0  # it does move
    if norm == "linf":
        assert np.abs(diff).max() <= eps + 1e-6
    elif norm == "l2":
        assert np.sqrt((diff**2).sum(1)).max() <= eps * (1 + 1e-5)
    np.testing.assert_allclose(info["distortion_l2"], np.sqrt((diff**2).sum(1)), rtol=1e-6)


@pytest.mark.parametrize("attack", [
    PGD(eps=0.15, eps_step=0.02, max_iter=20),
    PGD(eps=1.0, eps_step=0.2, max_iter=20, norm="l2"),
    CarliniWagnerL2(**FAST_CW),
], ids=["pgd-linf", "pgd-l2", "cw"])
def test_success_only_for_truly_misclassified_outputs(small_clf, clf_rows, attack):
    X, y = clf_rows
    X_adv, info = _gen(small_clf, attack).generate(X, y)
    ok = info["success"]
    pred = small_clf.predict(X_adv)
    assert 0.2 < ok.mean()
    assert np.all(pred[ok] != y[ok]), "a recorded success is classified correctly"
    # the clean rows were all correct, so an unsuccessful row is still correct
    # unless it sits within the 1e-4 logit slack of the boundary
    if (~ok).any():
        assert np.mean(pred[~ok] == y[~ok]) > 0.95


def test_cw_keeps_the_smallest_successful_perturbation(small_clf, clf_rows):
    X, y = clf_rows
    _, few = _gen(small_clf, CarliniWagnerL2(binary_search_steps=1, max_iter=30, lr=0.05,
                                             initial_const=10.0)).generate(X[:32], y[:32])
    _, more = _gen(small_clf, CarliniWagnerL2(binary_search_steps=5, max_iter=30, lr=0.05,
                                              initial_const=10.0)).generate(X[:32], y[:32])
    both = few["success"] & more["success"]
    assert both.sum() >= 10
    # more search rounds can only replace the kept example by a smaller one
    assert np.all(more["distortion_l2"][both] <= few["distortion_l2"][both] + 1e-5)
    assert np.mean(more["distortion_l2"][both]) < np.mean(few["distortion_l2"][both])


@pytest.mark.parametrize("attack", [
    PGD(eps=0.6, eps_step=0.05, max_iter=30, targeted=True),
    CarliniWagnerL2(targeted=True, initial_const=1.0, binary_search_steps=4, max_iter=60, lr=0.1),
    MinMaxMINE(eps=0.6, max_iter=60, lr=0.05, targeted=True),
], ids=["pgd", "cw", "minmax"])
def test_targeted_attacks_hit_their_targets(small_clf, clf_rows, attack):
    X, y = clf_rows
    X, y = X[:32], y[:32]
    targets = (y + 1) % 10
    X_adv, info = _gen(small_clf, attack).generate(X, targets)
    pred = small_clf.predict(X_adv)
    ok = info["success"]
    assert ok.mean() >= 0.8
    np.testing.assert_array_equal(pred[ok], targets[ok])


def test_targeted_attack_without_targets_is_an_error(small_clf, clf_rows):
    with pytest.raises(ValueError, match="targeted attack needs target labels"):
        _gen(small_clf, PGD(targeted=True)).generate(clf_rows[0][:4])


@pytest.mark.parametrize("attack", [
    PGD(eps=0.1, eps_step=0.02, max_iter=8, random_init=True),
    PGD(eps=0.8, eps_step=0.2, max_iter=8, norm="l2", random_init=True),
    CarliniWagnerL2(binary_search_steps=2, max_iter=10, lr=0.05),
    GaussianNoise(sigma=0.2),
], ids=["pgd-linf", "pgd-l2", "cw", "noise"])
def test_batch_invariance_two_halves_equal_whole(small_clf, clf_rows, attack):
    X, y = clf_rows
    X, y = X[:32], y[:32]
    # float64: other batch shapes must not round differently (see test_minmax)
    gen = _gen(small_clf, attack, batch_size=32, precision="float64")
    whole, info = gen.generate(X, y)
    gen.set_params(batch_size=16)
    halves = [gen.generate(X[:16], y[:16]), gen.generate(X[16:], y[16:])]
    np.testing.assert_allclose(np.vstack([h[0] for h in halves]), whole, atol=1e-7, rtol=0)
    np.testing.assert_array_equal(np.concatenate([h[1]["success"] for h in halves]),
                                  info["success"])
    np.testing.assert_allclose(gen.set_params(batch_size=7).generate(X, y)[0], whole, atol=1e-7,
                               rtol=0)


@pytest.mark.parametrize("attack", [PGD(eps=0.1, max_iter=3, random_init=True),
                                    GaussianNoise(sigma=0.2)], ids=["pgd", "noise"])
def test_random_state_repeatability(small_clf, clf_rows, attack):
    X, y = clf_rows
    a = _gen(small_clf, attack, random_state=3).generate(X, y)[0]
    b = _gen(small_clf, attack, random_state=3).generate(X, y)[0]
    c = _gen(small_clf, attack, random_state=4).generate(X, y)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_noise_rows_get_independent_draws(small_clf, digits):
    X = digits[0][:200]
    X_adv = _gen(small_clf, GaussianNoise(sigma=0.1, clip_values=None)).transform(X)
    noise = (X_adv - X).astype(np.float64)
    assert abs(noise.std() - 0.1) < 0.005
    corr = np.corrcoef(noise[:50])  # rows against rows
    assert np.abs(corr[np.triu_indices(50, 1)]).max() < 0.5


def test_gaussian_noise_matched_eps_has_that_norm(small_clf, clf_rows):
    X = clf_rows[0]
    for norm in ("linf", "l2"):
        _, info = _gen(small_clf, GaussianNoise(eps=0.05, norm=norm, clip_values=None)).generate(X)
        np.testing.assert_allclose(info[f"distortion_{norm}"], 0.05, rtol=1e-4)


def test_pgd_on_an_autoencoder_raises_the_reconstruction_error(small_ae, digits):
    X = digits[0][1100:1164]
    X_adv, info = _gen(small_ae, PGD(eps=0.1, eps_step=0.02, max_iter=10)).generate(X)
    err = lambda Z: ((X - small_ae.predict(Z)) ** 2).sum(1)  # noqa: E731
    assert info["success"].mean() > 0.9
    ok = info["success"]
    assert np.all(err(X_adv)[ok] > err(X)[ok])


@pytest.mark.parametrize("attack,match", [
    (PGD(norm="l3"), "norm"),
    (PGD(eps=0), "eps"),
    (PGD(eps_step=-1.0), "eps_step"),
    (PGD(clip_values=(1.0, 0.0)), "clip_values"),
    (CarliniWagnerL2(clip_values=None), "clip_values"),
    (CarliniWagnerL2(binary_search_steps=0), "binary_search_steps"),
    (GaussianNoise(sigma=-1.0), "sigma"),
    (GaussianNoise(eps=0.0), "eps"),
    (MinMaxMINE(const_search_steps=-1), "const_search_steps"),
    (MinMaxMINE(confidence=-1.0), "confidence"),
    (MinMaxMINE(objective="hinge"), "objective"),
])
def test_bad_parameters_give_clear_errors(small_clf, clf_rows, attack, match):
    gen = UAEGenerator(small_clf, attack=attack, prefit=True)
    with pytest.raises(ValueError, match=match):
        gen.fit(clf_rows[0]).generate(clf_rows[0][:4], clf_rows[1][:4])


def test_unknown_labels_are_an_error(small_clf, clf_rows):
    with pytest.raises(ValueError, match="not among the classes"):
        _gen(small_clf, PGD(max_iter=1)).generate(clf_rows[0][:2], np.array([3, 42]))


def test_pgd_matches_adversarial_robustness_toolbox(small_clf, clf_rows):
    art = pytest.importorskip("art")
    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    X, y = clf_rows
    module = small_clf.module_.eval()
    art_clf = PyTorchClassifier(model=module, loss=torch.nn.CrossEntropyLoss(),
                                input_shape=(X.shape[1],), nb_classes=10, clip_values=(0.0, 1.0))
    for norm, eps, step in (("linf", 0.1, 0.01), ("l2", 0.8, 0.1)):
        ours, info = _gen(small_clf, PGD(eps=eps, eps_step=step, max_iter=20, norm=norm)
                          ).generate(X, y)
        peer = ProjectedGradientDescentPyTorch(
            art_clf, norm=np.inf if norm == "linf" else 2, eps=eps, eps_step=step, max_iter=20,
            num_random_init=0, batch_size=64, verbose=False).generate(X, y=y)
        assert art.__version__
        close = np.abs(ours - peer) <= 1e-4
        assert close.mean() > 0.999, f"{norm}: {np.mean(~close):.4%} of pixels differ"
        np.testing.assert_allclose(ours, peer, atol=2 * step)
        ours_rate = np.mean(small_clf.predict(ours) != y)
        peer_rate = np.mean(small_clf.predict(peer) != y)
        assert ours_rate == peer_rate
        assert ours_rate == pytest.approx(info["success"].mean(), abs=1 / len(y))
