"""Metrics and scorers of adversarial examples."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sk_uae import UAEGenerator
from sk_uae.attacks import PGD, GaussianNoise
from sk_uae.metrics import (
    attack_success_rate,
    cosine_similarity,
    distortion,
    make_attack_scorer,
    mine_similarity,
    robust_accuracy,
    similarity,
    ssim,
)


def _naive_ssim(a, b, win, c1=1e-4, c2=9e-4):
    h, w = a.shape
    vals = []
    for i in range(h - win + 1):
        for j in range(w - win + 1):
            pa, pb = a[i:i + win, j:j + win].ravel(), b[i:i + win, j:j + win].ravel()
            ma, mb = pa.mean(), pb.mean()
            va, vb = pa.var(ddof=1), pb.var(ddof=1)
            cov = ((pa - ma) * (pb - mb)).sum() / (pa.size - 1)
            den = (ma**2 + mb**2 + c1) * (va + vb + c2)
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / den)
    return np.mean(vals)


def test_distortions_and_success_rate(rng):
    X = rng.rand(5, 4)
    D = np.array([[0.1, -0.2, 0, 0]] * 5)
    assert distortion(X, X + D, norm="linf") == pytest.approx(0.2)
    assert distortion(X, X + D, norm="l2") == pytest.approx(np.sqrt(0.05))
    np.testing.assert_array_equal(distortion(X, X + D, norm="l0", reduce=None), 2)
    assert attack_success_rate([1, 2, 3, 4], [1, 0, 3, 0]) == 0.5
    assert attack_success_rate([1, 2, 3, 4], [5, 5, 3, 0], targets=[5, 5, 5, 5]) == 0.5
    with pytest.raises(ValueError, match="norm"):
        distortion(X, X, norm="l1")
    with pytest.raises(ValueError, match="same shape|one shape"):
        distortion(X, X[:2])


def test_ssim_matches_a_naive_window_loop(rng):
    X = rng.rand(3, 100)
    Y = np.clip(X + 0.2 * rng.randn(3, 100), 0, 1)
    ours = ssim(X, Y, (10, 10), reduce=None)
    ref = [_naive_ssim(X[i].reshape(10, 10), Y[i].reshape(10, 10), 7) for i in range(3)]
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    assert ssim(X, X, (10, 10)) == pytest.approx(1.0)
    assert ssim(X, Y, (10, 10)) > ssim(X, np.clip(X + 0.5 * rng.randn(3, 100), 0, 1), (10, 10))
    with pytest.raises(ValueError, match="image_shape"):
        ssim(X, Y, (9, 9))


def test_cosine_similarity_and_dispatch(rng):
    X = rng.randn(4, 6)
    np.testing.assert_allclose(cosine_similarity(X, 3 * X, reduce=None), 1)
    np.testing.assert_allclose(cosine_similarity(X, -X, reduce=None), -1)
    assert similarity(X, 2 * X) == pytest.approx(1)
    Z = np.abs(X[:, :4].reshape(4, 4))
    assert similarity(Z, Z, image_shape=(2, 2)) == pytest.approx(1)


def test_similarity_refuses_ssim_options_without_image_shape(rng):
    X = rng.rand(4, 16)
    # win_size=4 (even: invalid for SSIM) used to be dropped silently
    with pytest.raises(TypeError, match=r"\['data_range', 'win_size'\].*image_shape is None"):
        similarity(X, X, win_size=4, data_range=2.0)
    with pytest.raises(ValueError, match="win_size"):
        similarity(X, X, image_shape=(4, 4), win_size=4)
    assert similarity(X, X, image_shape=(4, 4), win_size=3) == pytest.approx(1)


def test_mine_similarity_ranks_small_noise_above_large_noise(rng):
    X = rng.rand(8, 64)
    small = mine_similarity(X, X + 0.05 * rng.randn(*X.shape), n_mine_steps=100)
    large = mine_similarity(X, X + 1.0 * rng.randn(*X.shape), n_mine_steps=100)
    assert small > large


def test_robust_accuracy_is_one_minus_success_on_correct_rows(small_clf, clf_rows):
    X, y = clf_rows
    attack = PGD(eps=0.1, eps_step=0.02, max_iter=10)
    acc = robust_accuracy(small_clf, X, y, attack)
    gen = UAEGenerator(small_clf, attack=attack, prefit=True, random_state=0).fit(X)
    _, info = gen.generate(X, y)
    assert 0 < acc < 1
    assert acc == pytest.approx(1 - info["success"].mean(), abs=1 / len(y))
    assert robust_accuracy(small_clf, X, y, gen) == acc
    assert robust_accuracy(small_clf, X, y, GaussianNoise(sigma=0.0)) == 1.0


def test_robust_accuracy_of_an_augmenter_and_bad_classifiers(small_clf, clf_rows):
    from sklearn.linear_model import LogisticRegression

    from sk_uae import UAEAugmenter
    from sk_uae.models import ClassifierNet

    X, y = clf_rows
    attack = PGD(eps=0.1, eps_step=0.02, max_iter=5)
    net = ClassifierNet(module__hidden_units=(16,), max_epochs=3, lr=1e-2, random_state=0)
    aug = UAEAugmenter(net, attack=PGD(eps=0.1, max_iter=2), random_state=0).fit(X, y)
    # used to fail with "'UAEAugmenter' object has no attribute 'module_'"
    assert robust_accuracy(aug, X, y, attack) == robust_accuracy(aug.estimator_, X, y, attack)
    with pytest.raises(TypeError, match="got LogisticRegression.*UAEGenerator"):
        robust_accuracy(LogisticRegression().fit(X, y), X, y, attack)
    gen = UAEGenerator(small_clf, attack=attack, prefit=True, random_state=0).fit(X)
    assert 0 <= robust_accuracy(LogisticRegression().fit(X, y), X, y, gen) <= 1  # transfer


def test_robust_accuracy_refuses_targeted_attacks(small_clf, clf_rows):
    # y would be the targets: the attack pushed rows towards their true class
    # and the "robust" accuracy exceeded the clean one
    X, y = clf_rows
    targeted = PGD(eps=0.1, eps_step=0.02, max_iter=5, targeted=True)
    with pytest.raises(ValueError, match="untargeted attack; got PGD with targeted=True"):
        robust_accuracy(small_clf, X, y, targeted)
    gen = UAEGenerator(small_clf, attack=targeted, prefit=True).fit(X)
    with pytest.raises(ValueError, match="targeted=True"):
        robust_accuracy(small_clf, X, y, gen)


def test_scorers_in_grid_search(digits):
    from sk_uae.models import ClassifierNet

    X, y = digits
    X, y = X[:600], y[:600]
    # GridSearchCV clones the generator, so the classifier is fitted per fold
    clf = ClassifierNet(module__hidden_units=(32,), max_epochs=8, lr=1e-2)
    gen = UAEGenerator(clf, attack=PGD(eps_step=0.02, max_iter=10), random_state=0)
    scoring = {"success": make_attack_scorer("success_rate"),
               "ssim": make_attack_scorer("similarity", image_shape=(8, 8)),
               "linf": make_attack_scorer("distortion_linf"),
               "robust": make_attack_scorer("robust_accuracy")}
    grid = GridSearchCV(gen, {"attack__eps": [0.02, 0.2]}, scoring=scoring, refit="success",
                        cv=2).fit(X, y)
    res = grid.cv_results_
    assert grid.best_params_ == {"attack__eps": 0.2}
    np.testing.assert_allclose(res["mean_test_linf"], [-0.02, -0.2], rtol=1e-5)
    assert res["mean_test_ssim"][0] > res["mean_test_ssim"][1]
    assert res["mean_test_robust"][0] < res["mean_test_robust"][1]  # negated accuracy
    with pytest.raises(ValueError, match="metric"):
        make_attack_scorer("accuracy")
    with pytest.raises(ValueError, match="needs true labels"):
        make_attack_scorer("robust_accuracy")(grid.best_estimator_, X[:4], None)
