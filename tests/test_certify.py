"""Tests of the certified kNN radius and the empirical kNN attack."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import Normalizer, StandardScaler

from sk_uae.datasets import load_mnist_idx
from sk_uae.metric_learning import (
    LMNNPL,
    certified_accuracy,
    certified_radius,
    knn_attack,
)

MNIST_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def wine_split():
    X, y = load_wine(return_X_y=True)
    X = Normalizer().fit_transform(StandardScaler().fit_transform(X))
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def wine_metric(wine_split):
    X_train, _, y_train, _ = wine_split
    return LMNNPL(solver="factor", perturbation_weight=2.0).fit(X_train, y_train)


def _check_sound(X_train, y_train, X, y, metric, k, min_found=0.9):
    radii = certified_radius(X_train, y_train, X, y, metric=metric, n_neighbors=k)
    delta = knn_attack(X_train, y_train, X, y, metric=metric, n_neighbors=k)
    found = ~np.isnan(delta).any(axis=1)
    assert found.mean() >= min_found  # the attack works, so the check has teeth
    norms = np.linalg.norm(delta[found], axis=1)
    # soundness: no real adversarial perturbation is shorter than the certificate
    assert np.all(radii[found] <= norms * (1 + 1e-9) + 1e-12)
    # the perturbations are real: kNN under the metric changes its prediction
    M = np.eye(X.shape[1]) if metric is None else (
        metric if isinstance(metric, np.ndarray) else metric.get_mahalanobis_matrix())
    w, V = np.linalg.eigh(M)
    L = np.sqrt(np.clip(w, 0, None))[:, None] * V.T
    knn = KNeighborsClassifier(k).fit(X_train @ L.T, y_train)
    assert np.all(knn.predict((X[found] + delta[found]) @ L.T) != y[found])
    return radii, norms, found


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("kind", ["euclidean", "lmnnpl", "matrix"])
def test_certified_radius_is_sound(wine_split, wine_metric, k, kind):
    X_train, X_test, y_train, y_test = wine_split
    metric = {"euclidean": None, "lmnnpl": wine_metric,
              "matrix": wine_metric.get_mahalanobis_matrix()}[kind]
    radii, norms, found = _check_sound(X_train, y_train, X_test, y_test, metric, k)
    # the certificate is not vacuous: correct points get a positive radius
    correct = radii > 0
    assert correct.mean() > 0.8
    # and the gap to the attack is moderate (a tight bound, a strong attack)
    assert np.median(norms[correct[found]] / radii[found][correct[found]]) < 2.0


def test_radius_zero_where_wrong_and_positive_where_right(wine_split):
    X_train, X_test, y_train, y_test = wine_split
    pred = KNeighborsClassifier(1).fit(X_train, y_train).predict(X_test)
    y_wrong = (pred + 1) % 3
    assert np.all(certified_radius(X_train, y_train, X_test, y_wrong) == 0)
    radii = certified_radius(X_train, y_train, X_test, y_test)
    assert np.all((radii > 0) == (pred == y_test))


def test_one_nn_radius_by_brute_force():
    """1-NN in 1-D: the exact radius is the distance to the nearest other-class
    bisector beyond the own Voronoi cell; the bound equals it there."""
    X_train = np.array([[0.0], [1.0], [3.0]])
    y_train = np.array([0, 0, 1])
    X = np.array([[0.5], [1.5]])
    radii = certified_radius(X_train, y_train, X, np.array([0, 0]))
    # bisector between 1.0 (class 0) and 3.0 (class 1) is at 2.0
    np.testing.assert_allclose(radii, [1.5, 0.5])


def test_metric_scaling_invariance_and_matrix_checks(wine_split):
    X_train, X_test, y_train, y_test = wine_split
    M = np.diag(np.linspace(0.5, 2.0, X_train.shape[1]))
    r1 = certified_radius(X_train, y_train, X_test, y_test, metric=M, n_neighbors=3)
    r2 = certified_radius(X_train, y_train, X_test, y_test, metric=7 * M, n_neighbors=3)
    np.testing.assert_allclose(r1, r2, rtol=1e-9)
    with pytest.raises(ValueError, match="symmetric"):
        certified_radius(X_train, y_train, X_test, y_test, metric=np.triu(M + 1))
    with pytest.raises(ValueError, match="semi-definite"):
        certified_radius(X_train, y_train, X_test, y_test, metric=-M)
    with pytest.raises(ValueError, match="shape"):
        certified_radius(X_train, y_train, X_test, y_test, metric=np.eye(3))


def test_chunked_equals_unchunked(wine_split):
    from sklearn import config_context

    X_train, X_test, y_train, y_test = wine_split
    full = certified_radius(X_train, y_train, X_test, y_test, n_neighbors=3)
    with config_context(working_memory=0.01):
        small = certified_radius(X_train, y_train, X_test, y_test, n_neighbors=3)
    np.testing.assert_allclose(full, small, rtol=1e-10)


def test_certified_accuracy():
    radii = np.array([0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(certified_accuracy(radii, 0.0), [0.75])
    np.testing.assert_allclose(certified_accuracy(radii, [0.0, 0.15, 0.3]), [0.75, 0.5, 0.0])
    eps = np.linspace(0, 0.4, 9)
    assert np.all(np.diff(certified_accuracy(radii, eps)) <= 0)


def _load_mnist_subset(n):
    """A stratified subset of ``n`` MNIST test images, float64 in [0, 1]."""
    X, y = load_mnist_idx(MNIST_DIR)
    X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=0)
    return X.astype(np.float64), y


@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="MNIST files (../shared/data/mnist) not present")
def test_mnist_subset_sound():
    X, y = _load_mnist_subset(400)
    X = PCA(20, random_state=0).fit_transform(X)
    X = Normalizer().fit_transform(StandardScaler().fit_transform(X))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=40,
                                                        random_state=0, stratify=y)
    model = LMNNPL(solver="factor", max_iter=60).fit(X_train, y_train)
    acc = KNeighborsClassifier(3).fit(model.transform(X_train), y_train).score(
        model.transform(X_test), y_test)
    assert acc > 0.6  # a working 10-class classifier (chance is 0.1)
    _check_sound(X_train, y_train, X_test, y_test, model, 3, min_found=0.8)
