"""Large-margin nearest neighbour metric learning with a perturbation loss (LMNN-PL)."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from scipy.optimize import minimize
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._loss import objective_and_grad, select_triplets

# The reference scheme never stops before this many iterations.
_MIN_ITER = 50
# Eigenvalues below this are set to zero by the PSD projection.
_EIG_FLOOR = 1e-10


class LMNNPL(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Mahalanobis metric learning with a perturbation loss (LMNN-PL).

    Learns ``M = L^T L`` so that each point's ``k`` nearest same-class points
    (target neighbours) are close, other-class points (impostors) are pushed out
    of a unit margin, and the input-space distance from each point to the bisector
    of a target neighbour and an impostor is at least ``tau``. That last term, the
    perturbation loss, enlarges the certified robustness radius of kNN under the
    learned metric (see :func:`certified_radius`).  With ``perturbation_weight=0``
    the objective is the one of LMNN.

    Objective, averaged over the ``n k`` target pairs and the ``|T| = n k v``
    triplets ``(i, j, l)``, with ``d_ij = d_M^2(x_i, x_j)``::

        mu * mean d_ij + (1 - mu) * mean [1 + d_ij - d_il]_+ + lambda * mean PL_ijl

        PL = tau^2                                  if d_il < d_ij
             [tau^2 - (d_il - d_ij)^2 / (4 ||M (x_l - x_j)||^2)]_+   otherwise

    Reference: X. Yang, Y. Guo, M. Dong, J.-H. Xue, "Towards Certified Robustness
    of Distance Metric Learning", IEEE TNNLS, arXiv:2006.05945.

    Parameters
    ----------
    n_neighbors : int, default=3
        Number of target neighbours ``k`` per point (nearest same-class points in
        the input space, fixed before optimisation).
    n_impostors : int, default=10
        Number of impostor candidates ``v`` per point (nearest other-class points,
        fixed before optimisation). Reduced to the size of the smallest class
        complement when larger.
    pull_weight : float, default=0.5
        ``mu`` in [0, 1]: weight of the pull term; the base (push) term gets
        ``1 - mu``.
    perturbation_weight : float, default=1.0
        ``lambda`` >= 0: weight of the perturbation loss. 0 gives plain LMNN (or
        plain ``base`` loss).
    min_margin : float, default=0.1
        ``tau`` >= 0: desired input-space L2 distance from each point to the
        bisectors of its target neighbours and impostors.
    base : {"lmnn", "nca"}, default="lmnn"
        Base loss the perturbation loss is added to. ``"lmnn"``: triplet hinge
        ``[1 + d_ij - d_il]_+``. ``"nca"``: NCA-style softmax loss
        ``-log p_i``, where ``p_i`` is the probability of picking a target
        neighbour among the point's target neighbours and impostor candidates
        (a local, linear-cost version of NCA), averaged over points.
    solver : {"factor", "pgd"}, default="factor"
        ``"factor"``: L-BFGS-B on ``L`` directly (``M = L^T L`` is PSD by
        construction, no eigendecomposition); ``components_`` has the shape
        of ``init``. ``"pgd"``: the reference scheme, projected gradient
        descent on ``M`` (eigendecomposition onto the PSD cone each step),
        step size times 1.01 after a decrease of the objective and times 0.5
        after an increase, at least 50 iterations, stop when the objective
        changes by less than ``tol`` (relative) over 5 iterations;
        ``components_`` is square (``n_components = n_features``). Both
        minimise the same objective; ``"factor"`` needs far fewer
        iterations, and was the faster one on average on every data set and
        perturbation weight (0 to 200) of the solver grid on the results page
        (about even only where both run to ``max_iter``). Either solver
        emits a :class:`~sklearn.exceptions.ConvergenceWarning` when it stops at
        ``max_iter`` without meeting ``tol``.
    learning_rate : float, default=1.0
        Initial step size of the ``"pgd"`` solver.
    init : {"identity", "random"} or ndarray of shape (n_components, n_features), \
            default="identity"
        Initial linear map ``L`` (``M = L^T L``). ``"random"`` draws a Gaussian
        matrix scaled by ``1/sqrt(n_features)``. An array with
        ``n_components < n_features`` rows (a low-rank map) needs
        ``solver="factor"``; ``solver="pgd"`` raises ``ValueError`` for it.
    max_iter : int, default=1000
        Maximum number of iterations; reaching it without meeting ``tol`` emits a
        ``ConvergenceWarning``.
    tol : float, default=1e-7
        Relative tolerance on the objective.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Torch device of the solver; ``"auto"`` uses CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the ``"random"`` initialisation.
    verbose : int, default=0
        Print the objective every 10 iterations when positive.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L``; ``transform(X) = X @ L.T``.
    objective_curve_ : ndarray of shape (n_iter + 1,)
        Objective at the initialisation and after each of the ``n_iter_`` iterations.
    n_iter_ : int
        Number of iterations run (``max_iter`` when the solver stopped at the cap).
    n_triplets_ : int
        Number of triplets ``n k v``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    certified_radius : Certified L2 radius of kNN predictions under a metric.
    sklearn.neighbors.NeighborhoodComponentsAnalysis : NCA metric learning.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer, StandardScaler
    >>> from sk_uae.metric_learning import LMNNPL
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), Normalizer(), LMNNPL(),
    ...                       KNeighborsClassifier(3)).fit(X, y)
    >>> model.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_impostors": [Interval(Integral, 1, None, closed="left")],
        "pull_weight": [Interval(Real, 0, 1, closed="both")],
        "perturbation_weight": [Interval(Real, 0, None, closed="left")],
        "min_margin": [Interval(Real, 0, None, closed="left")],
        "base": [StrOptions({"lmnn", "nca"})],
        "solver": [StrOptions({"pgd", "factor"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "init": [StrOptions({"identity", "random"}), np.ndarray],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_neighbors=3,
        n_impostors=10,
        *,
        pull_weight=0.5,
        perturbation_weight=1.0,
        min_margin=0.1,
        base="lmnn",
        solver="factor",
        learning_rate=1.0,
        init="identity",
        max_iter=1000,
        tol=1e-7,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.n_neighbors = n_neighbors
        self.n_impostors = n_impostors
        self.pull_weight = pull_weight
        self.perturbation_weight = perturbation_weight
        self.min_margin = min_margin
        self.base = base
        self.solver = solver
        self.learning_rate = learning_rate
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the metric from labelled data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points (scaled and L2-normalised rows work best, as in the
            paper: ``StandardScaler`` then ``Normalizer``).
        y : array-like of shape (n_samples,)
            Class labels; at least two classes, each with more than
            ``n_neighbors`` members.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = validate_data(self, X, y, ensure_min_samples=2, y_numeric=False)
        check_classification_targets(y)
        y = LabelEncoder().fit_transform(y)
        n_impostors = _check_class_sizes(y, self.n_neighbors, self.n_impostors)
        device = _resolve_device(self.device)
        L0 = self._initialize(X)

        targets, impostors = select_triplets(X, y, self.n_neighbors, n_impostors)
        self.n_triplets_ = targets.size * n_impostors
        problem = _Problem(
            X=torch.tensor(X, dtype=torch.float64, device=device),
            targets=torch.as_tensor(targets, device=device),
            impostors=torch.as_tensor(impostors, device=device),
            weights=dict(
                pull_weight=self.pull_weight,
                perturbation_weight=self.perturbation_weight,
                min_margin=self.min_margin,
                base=self.base,
            ),
        )
        solve = _solve_pgd if self.solver == "pgd" else _solve_factor
        L, curve, capped, rel_change = solve(problem, L0, self.max_iter, self.tol,
                                             self.learning_rate, self.verbose)
        self.components_ = L
        self.objective_curve_ = np.asarray(curve)
        self.n_iter_ = len(curve) - 1
        if capped:
            warnings.warn(
                f"LMNNPL(solver={self.solver!r}) stopped at max_iter={self.max_iter} "
                f"iterations ({self.n_iter_} run) without meeting tol={self.tol:g}: the "
                f"last relative change of the objective was {rel_change:.2g}. Increase "
                "max_iter, raise tol, or try the other solver.",
                ConvergenceWarning,
                stacklevel=3,  # past scikit-learn's _fit_context wrapper, to the caller
            )
        return self

    def transform(self, X):
        """Map ``X`` by the learned linear map: ``X @ components_.T``.

        Euclidean distances after the map are the learned Mahalanobis distances.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to map, with the features seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return X @ self.components_.T

    def get_mahalanobis_matrix(self):
        """The learned PSD matrix ``M = L^T L`` (metric-learn's API).

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self)
        return self.components_.T @ self.components_

    def get_metric(self):
        """A function ``metric(u, v)`` giving the learned distance ``d_M(u, v)``.

        As metric-learn's ``get_metric``: usable as ``metric=`` of scikit-learn's
        neighbours estimators.

        Returns
        -------
        metric : callable
        """
        check_is_fitted(self)
        return _MahalanobisDistance(self.components_.copy())

    def _initialize(self, X):
        n_features = X.shape[1]
        if isinstance(self.init, np.ndarray):
            L0 = check_array(self.init, dtype=np.float64)
            if L0.shape[1] != n_features or L0.shape[0] > n_features:
                raise ValueError(
                    f"init has shape {L0.shape}; expected (n_components, {n_features})"
                    f" with n_components <= {n_features}."
                )
            if self.solver == "pgd" and L0.shape[0] != n_features:
                # the PSD projection of the full M would give components_ of
                # n_features rows whatever init's rank: refuse, don't ignore
                raise ValueError(
                    f"init has shape {L0.shape}, but solver='pgd' learns the full "
                    f"({n_features}, {n_features}) matrix M and needs a square init of "
                    f"shape ({n_features}, {n_features}); use solver='factor' to learn a "
                    f"map of n_components={L0.shape[0]} rows."
                )
            return L0
        if self.init == "random":
            rng = check_random_state(self.random_state)
            return rng.standard_normal((n_features, n_features)) / np.sqrt(n_features)
        return np.eye(n_features)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _MahalanobisDistance:
    """Picklable callable ``d_M(u, v) = ||L (u - v)||``."""

    def __init__(self, components):
        self.components = components

    def __call__(self, u, v):
        return float(np.linalg.norm(self.components @ (np.asarray(u) - np.asarray(v))))


class _Problem:
    """Data of one fit: tensors, triplet indices and loss weights."""

    def __init__(self, X, targets, impostors, weights):
        self.X, self.targets, self.impostors, self.weights = X, targets, impostors, weights

    def __call__(self, M):
        return objective_and_grad(M, self.X, self.targets, self.impostors, **self.weights)


def _check_class_sizes(y, n_neighbors, n_impostors):
    """Raise on unusable labels; return the number of impostors actually used."""
    counts = np.bincount(y)
    if counts.size < 2:
        raise ValueError(
            "LMNNPL needs at least 2 classes in y; got 1 class. Metric learning "
            "separates classes, so labels must differ."
        )
    if counts.min() <= n_neighbors:
        raise ValueError(
            f"Every class needs more than n_neighbors={n_neighbors} samples to "
            f"have n_neighbors target neighbours; the smallest class has "
            f"{counts.min()}. Lower n_neighbors or gather more samples."
        )
    return int(min(n_impostors, y.size - counts.max()))


def _resolve_device(device):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but CUDA is not available.")
    return torch.device(device)


def _psd_project(M):
    """Nearest PSD matrix in Frobenius norm, and its eigendecomposition."""
    eigval, eigvec = torch.linalg.eigh((M + M.T) / 2)
    eigval = torch.where(eigval < _EIG_FLOOR, torch.zeros_like(eigval), eigval)
    return (eigvec * eigval) @ eigvec.T, eigval, eigvec


def _components_from_eigh(eigval, eigvec):
    """``L`` with ``L^T L = M``, rows ordered by decreasing eigenvalue."""
    order = torch.argsort(eigval, descending=True)
    L = eigval[order].sqrt()[:, None] * eigvec[:, order].T
    return L.cpu().numpy()


def _solve_pgd(problem, L0, max_iter, tol, learning_rate, verbose):
    """The reference's projected gradient descent on ``M`` with adaptive step."""
    L0 = torch.as_tensor(L0, dtype=torch.float64, device=problem.X.device)
    M, eigval, eigvec = _psd_project(L0.T @ L0)
    value, grad = problem(M)
    curve, step, capped = [value], learning_rate, True
    for it in range(1, max_iter + 1):
        M, eigval, eigvec = _psd_project(M - step * grad)
        value, grad = problem(M)
        curve.append(value)
        if verbose and it % 10 == 0:
            print(f"[LMNNPL] iter {it:4d}  objective {value:.6g}  step {step:.3g}")
        recent = np.asarray(curve[-6:])
        rel_change = np.abs(np.diff(recent)).max() / max(abs(value), 1e-300)
        if not torch.any(M) or (it >= _MIN_ITER and rel_change < tol):
            capped = False
            break
        step = step * 1.01 if curve[-1] < curve[-2] else max(step * 0.5, 1e-4)
    return _components_from_eigh(eigval, eigvec), curve, capped, rel_change


def _solve_factor(problem, L0, max_iter, tol, learning_rate, verbose):
    """L-BFGS-B on ``L`` (``M = L^T L``); ``learning_rate`` is unused."""
    shape, device = L0.shape, problem.X.device

    def fun(flat):
        L = torch.as_tensor(flat.reshape(shape), dtype=torch.float64, device=device)
        value, grad_M = problem(L.T @ L)
        return value, (2 * L @ grad_M).cpu().numpy().ravel()

    curve = [fun(L0.ravel())[0]]

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if verbose and len(curve) % 10 == 0:
            print(f"[LMNNPL] iter {len(curve) - 1:4d}  objective {curve[-1]:.6g}")

    result = minimize(fun, L0.ravel(), jac=True, method="L-BFGS-B", callback=callback,
                      options=dict(maxiter=max_iter, ftol=tol, gtol=1e-10))
    # status 1: maxiter (or maxfun) reached; 0 converged; 2 stopped by the line search
    capped = result.status == 1
    rel_change = (abs(curve[-2] - curve[-1]) / max(abs(curve[-2]), abs(curve[-1]), 1.0)
                  if len(curve) > 1 else np.nan)
    return result.x.reshape(shape), curve, capped, rel_change
