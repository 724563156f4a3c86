"""Tests of LMNNPL: closed form, gradient, objective, PSD, sklearn API."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.datasets import load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_uae.metric_learning import LMNNPL
from sk_uae.metric_learning._loss import (
    objective_and_grad,
    perturbation_loss,
    select_triplets,
)


def bisector_margin(D, norm_sq):
    """Input-space L2 distance from ``x_i`` to the bisector of ``x_j`` and ``x_l``.

    ``D = d_M^2(x_i, x_l) - d_M^2(x_i, x_j)`` is affine in ``x_i`` with gradient
    ``-2 M (x_l - x_j)``, so the smallest perturbation reaching ``D = 0`` has norm
    ``|D| / (2 ||M (x_l - x_j)||)``: the closed form the perturbation loss is built on.
    """
    return abs(D) / (2 * np.sqrt(norm_sq))


def _random_psd(rng, d, scale=1.0):
    A = rng.standard_normal((d, d))
    return scale * A.T @ A / d


def _data(seed=0, n=60, d=5, n_classes=3):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=d,
                               n_redundant=0, n_classes=n_classes,
                               n_clusters_per_class=1, random_state=seed)
    return Normalizer().fit_transform(StandardScaler().fit_transform(X)), y


# --- the closed form ------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_closed_form_margin_equals_constrained_minimum(seed):
    rng = np.random.default_rng(seed)
    d = 4
    M = _random_psd(rng, d) + 0.1 * np.eye(d)
    x, xj, xl = rng.standard_normal((3, d))

    def gap(delta):
        z = x + delta
        return (z - xl) @ M @ (z - xl) - (z - xj) @ M @ (z - xj)

    def gap_grad(delta):
        z = x + delta
        return 2 * M @ (z - xl) - 2 * M @ (z - xj)

    res = minimize(lambda delta: delta @ delta, np.zeros(d), jac=lambda delta: 2 * delta,
                   constraints={"type": "eq", "fun": gap, "jac": gap_grad},
                   method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
    assert abs(gap(res.x)) < 1e-8  # a feasible point, on the bisector
    D = gap(np.zeros(d))
    norm_sq = np.sum((M @ (xl - xj)) ** 2)
    assert bisector_margin(D, norm_sq) == pytest.approx(np.sqrt(res.fun), rel=1e-5)


def test_perturbation_loss_cases():
    D = torch.tensor([-1.0, 0.0, 0.1, 10.0], dtype=torch.float64)
    N = torch.ones(4, dtype=torch.float64)
    loss, _, _ = perturbation_loss(D, N, min_margin=0.5)
    # D < 0: tau^2; D = 0: tau^2; margin 0.05 < tau: tau^2 - 0.0025; margin 5 > tau: 0
    np.testing.assert_allclose(loss.numpy(), [0.25, 0.25, 0.25 - 0.0025, 0.0], atol=1e-9)


# --- the objective and its gradient ----------------------------------------------

def _reference_objective(X, y, M, k, v, mu, lam, tau):
    """LMNN(-PL) objective written out directly (loops, full distance matrix)."""
    n = len(X)
    E = ((X[:, None] - X[None]) ** 2).sum(-1)
    triplets, pairs = [], []
    for i in range(n):
        same = np.flatnonzero((y == y[i]) & (np.arange(n) != i))
        other = np.flatnonzero(y != y[i])
        for j in same[np.argsort(E[i, same])[:k]]:
            pairs.append((i, j))
            for l in other[np.argsort(E[i, other])[:v]]:
                triplets.append((i, j, l))

    def dM(a, b):
        return (X[a] - X[b]) @ M @ (X[a] - X[b])

    pull = np.mean([dM(i, j) for i, j in pairs])
    hinge, pl = [], []
    for i, j, l in triplets:
        D = dM(i, l) - dM(i, j)
        hinge.append(max(0.0, 1 + dM(i, j) - dM(i, l)))
        margin = abs(D) / (2 * np.linalg.norm(M @ (X[l] - X[j])))
        pl.append(tau**2 if D < 0 else max(0.0, tau**2 - margin**2))
    return mu * pull + (1 - mu) * np.mean(hinge) + lam * np.mean(pl)


def _objective(X, y, M, k=3, v=4, **weights):
    targets, impostors = select_triplets(X, y, k, v)
    return objective_and_grad(torch.as_tensor(M), torch.as_tensor(X),
                              torch.as_tensor(targets), torch.as_tensor(impostors),
                              **weights)


@pytest.mark.parametrize("lam", [0.0, 2.0])
def test_objective_matches_direct_formula(lam):
    rng = np.random.default_rng(1)
    X, y = _data(seed=1, n=40, d=4)
    M = _random_psd(rng, 4, scale=3.0)
    value, _ = _objective(X, y, M, pull_weight=0.3, perturbation_weight=lam,
                          min_margin=0.3)
    expected = _reference_objective(X, y, M, 3, 4, 0.3, lam, 0.3)
    assert value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("base", ["lmnn", "nca"])
def test_gradient_matches_finite_differences(base):
    rng = np.random.default_rng(2)
    X, y = _data(seed=2, n=50, d=5)
    M = _random_psd(rng, 5, scale=2.0)
    weights = dict(pull_weight=0.4, perturbation_weight=3.0, min_margin=0.4, base=base)
    _, grad = _objective(X, y, M, **weights)
    # the perturbation loss is active on some triplets, so its gradient is tested
    targets, impostors = select_triplets(X, y, 3, 4)
    Xi, Xj, Xl = X[:, None, None], X[targets][:, :, None], X[impostors][:, None]

    def dM(A):
        return np.einsum("...a,ab,...b->...", A, M, A)

    margins = bisector_margin(dM(Xi - Xl) - dM(Xi - Xj), (((Xl - Xj) @ M) ** 2).sum(-1))
    assert 0 < np.mean(margins < 0.4) < 1
    h = 1e-6
    for _ in range(5):
        E = rng.standard_normal((5, 5))
        E = (E + E.T) / 2
        f_plus, _ = _objective(X, y, M + h * E, **weights)
        f_minus, _ = _objective(X, y, M - h * E, **weights)
        numeric = (f_plus - f_minus) / (2 * h)
        assert float((grad.numpy() * E).sum()) == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_zero_perturbation_weight_is_lmnn():
    X, y = _data(seed=3, n=45, d=4)
    model = LMNNPL(perturbation_weight=0.0, n_impostors=4, pull_weight=0.5,
                   max_iter=60).fit(X, y)
    M = model.get_mahalanobis_matrix()
    expected = _reference_objective(X, y, M, 3, 4, 0.5, 0.0, 0.1)
    assert model.objective_curve_[-1] == pytest.approx(expected, rel=1e-8)
    # the LMNN objective decreased from the identity
    assert model.objective_curve_[-1] < _reference_objective(X, y, np.eye(4), 3, 4, 0.5,
                                                             0.0, 0.1)


# --- solver behaviour --------------------------------------------------------------

@pytest.mark.parametrize("solver", ["pgd", "factor"])
def test_metric_stays_psd_and_transform_is_linear_map(solver):
    X, y = _data(seed=4)
    model = LMNNPL(solver=solver, learning_rate=50.0, max_iter=80,
                   perturbation_weight=5.0).fit(X, y)
    M = model.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh(M).min() > -1e-10
    np.testing.assert_allclose(model.transform(X), X @ model.components_.T)
    assert model.n_iter_ == len(model.objective_curve_) - 1 >= 1
    assert model.objective_curve_[-1] < model.objective_curve_[0]
    dist = model.get_metric()
    u, v = X[0], X[1]
    assert dist(u, v) == pytest.approx(np.sqrt((u - v) @ M @ (u - v)))


def test_factor_solver_reaches_pgd_objective():
    X, y = _data(seed=5, n=80)
    pgd = LMNNPL(solver="pgd").fit(X, y)
    factor = LMNNPL(solver="factor").fit(X, y)
    assert factor.objective_curve_[-1] <= pgd.objective_curve_[-1] * 1.01


def test_perturbation_term_lowers_perturbation_loss():
    X, y = _data(seed=6, n=80)
    weights = dict(pull_weight=0.5, min_margin=0.3)
    lmnn = LMNNPL(perturbation_weight=0.0, solver="factor", **weights).fit(X, y)
    pl = LMNNPL(perturbation_weight=5.0, solver="factor", **weights).fit(X, y)

    def pl_term(model):
        with_pl, _ = _objective(X, y, model.get_mahalanobis_matrix(), k=3, v=10,
                                perturbation_weight=1.0, **weights)
        without, _ = _objective(X, y, model.get_mahalanobis_matrix(), k=3, v=10,
                                perturbation_weight=0.0, **weights)
        return with_pl - without

    assert pl_term(pl) < pl_term(lmnn)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=5
def test_random_init_is_seeded_and_array_init_checked():
    X, y = _data(seed=7)
    a = LMNNPL(init="random", random_state=0, max_iter=5, solver="factor").fit(X, y)
    b = LMNNPL(init="random", random_state=0, max_iter=5, solver="factor").fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    L0 = np.eye(5)[:2]
    c = LMNNPL(init=L0, max_iter=5, solver="factor").fit(X, y)
    assert c.transform(X).shape == (len(X), 2)
    with pytest.raises(ValueError, match="init has shape"):
        LMNNPL(init=np.eye(3)).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=5
def test_pgd_refuses_a_low_rank_init_instead_of_ignoring_its_rows():
    X, y = _data(seed=7)
    # used to fit silently with components_ of shape (5, 5)
    with pytest.raises(ValueError, match=r"init has shape \(2, 5\), but solver='pgd'.*"
                                         r"solver='factor'"):
        LMNNPL(init=np.eye(5)[:2], max_iter=5, solver="pgd").fit(X, y)
    square = LMNNPL(init=2 * np.eye(5), max_iter=5, solver="pgd").fit(X, y)
    assert square.components_.shape == (5, 5)


@pytest.mark.parametrize("solver", ["pgd", "factor"])
def test_convergence_warning_at_the_iteration_cap(solver):
    X, y = _data(seed=8)
    with pytest.warns(ConvergenceWarning,
                      match=rf"solver='{solver}'\) stopped at max_iter=3 iterations \(3 run\)"
                            r" without meeting tol=1e-07: the last relative change of the "
                            r"objective was [0-9.e+-]+\. Increase max_iter, raise tol, or try "
                            r"the other solver"):
        model = LMNNPL(solver=solver, max_iter=3, tol=1e-7).fit(X, y)
    assert model.n_iter_ == 3 == len(model.objective_curve_) - 1


@pytest.mark.parametrize("solver", ["pgd", "factor"])
def test_no_warning_when_converged_and_n_iter_recorded(solver):
    X, y = _data(seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LMNNPL(solver=solver, max_iter=1000, tol=1e-4).fit(X, y)
    assert 1 <= model.n_iter_ < 1000
    assert model.n_iter_ == len(model.objective_curve_) - 1
    if solver == "pgd":
        assert model.n_iter_ >= 50  # the reference scheme's minimum


# --- input checks ---------------------------------------------------------------------

def test_one_class_is_rejected():
    X, _ = _data()
    with pytest.raises(ValueError, match="at least 2 classes"):
        LMNNPL().fit(X, np.zeros(len(X)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=5
def test_small_class_is_rejected_with_its_size():
    X, y = _data(n=40, n_classes=2)
    y = y.copy()
    y[np.flatnonzero(y == 1)[3:]] = 0  # class 1 keeps 3 samples
    with pytest.raises(ValueError, match=r"n_neighbors=3.*smallest class has 3"):
        LMNNPL(n_neighbors=3).fit(X, y)
    LMNNPL(n_neighbors=2, max_iter=5).fit(X, y)


def test_bad_parameters_and_cuda():
    X, y = _data()
    with pytest.raises(ValueError, match="pull_weight"):
        LMNNPL(pull_weight=1.5).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        LMNNPL(solver="sgd").fit(X, y)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            LMNNPL(device="cuda").fit(X, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    X, y = _data()
    cpu = LMNNPL(max_iter=60, solver="pgd").fit(X, y)
    gpu = LMNNPL(max_iter=60, solver="pgd", device="cuda").fit(X, y)
    np.testing.assert_allclose(cpu.get_mahalanobis_matrix(), gpu.get_mahalanobis_matrix(),
                               atol=1e-8)


# --- scikit-learn integration ---------------------------------------------------------

def test_default_solver_is_factor():
    # chosen from studies/lmnn_solver.py's grid (docs/results.md, "LMNN-PL's
    # solver"): faster than "pgd" on average in every data set x perturbation weight
    assert LMNNPL().solver == "factor"
    assert LMNNPL().max_iter == 1000 and LMNNPL().tol == 1e-7


# max_iter=30 keeps the checks fast; on their random data a fit may stop at the cap
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [LMNNPL(max_iter=30)],
    expected_failed_checks=lambda est: {
        "check_fit2d_1feature": (
            "its 10-sample target has a class with 3 samples; LMNNPL needs more "
            "than n_neighbors=3 per class and says so instead of the 1-feature error"
        ),
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_pickle_clone_and_pipeline_grid_search():
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), Normalizer(),
                         LMNNPL(solver="factor", max_iter=40), KNeighborsClassifier(3))
    grid = GridSearchCV(pipe, {"lmnnpl__perturbation_weight": [0.0, 1.0],
                               "lmnnpl__min_margin": [0.05, 0.2]}, cv=3).fit(X, y)
    assert grid.best_score_ > 0.9
    assert set(grid.best_params_) == {"lmnnpl__perturbation_weight", "lmnnpl__min_margin"}
    fitted = grid.best_estimator_[2]
    restored = pickle.loads(pickle.dumps(fitted))
    Xs = grid.best_estimator_[:2].transform(X)
    np.testing.assert_array_equal(restored.transform(Xs), fitted.transform(Xs))
    assert restored.get_metric()(Xs[0], Xs[1]) == fitted.get_metric()(Xs[0], Xs[1])
    assert not hasattr(clone(fitted), "components_")
    assert clone(fitted).get_params() == fitted.get_params()


def test_nca_base_improves_its_objective_and_verbose_prints(capsys):
    X, y = _data(seed=8)
    model = LMNNPL(base="nca", perturbation_weight=1.0, max_iter=60, verbose=1).fit(X, y)
    assert model.objective_curve_[-1] < model.objective_curve_[0]
    assert "[LMNNPL] iter" in capsys.readouterr().out
    # the base loss changes the learned metric
    lmnn = LMNNPL(base="lmnn", perturbation_weight=1.0, max_iter=60).fit(X, y)
    assert not np.allclose(model.components_, lmnn.components_)
