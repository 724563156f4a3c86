"""Metrics of adversarial examples, as plain functions and as scorers.

Plain functions take arrays (``X`` clean, ``X_adv`` adversarial, rows
aligned). Scorers are callables ``scorer(generator, X, y)`` for a fitted
:class:`~sk_uae.UAEGenerator` (greater is better, as scikit-learn expects),
so they plug into :class:`~sklearn.model_selection.GridSearchCV` (``scoring=``)
to tune ``attack__*`` parameters.
"""

import numpy as np
import torch
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_array, check_is_fitted

from .constraints import satisfied_rows
from .mine import estimate_mi
from .utils import seed_from_random_state

__all__ = [
    "attack_success_rate",
    "distortion",
    "mine_similarity",
    "ssim",
    "cosine_similarity",
    "similarity",
    "robust_accuracy",
    "make_attack_scorer",
    "constraint_satisfaction",
]


def _pair(X, X_adv):
    X = np.asarray(X, dtype=np.float64)
    X_adv = np.asarray(X_adv, dtype=np.float64)
    if X.ndim != 2 or X.shape != X_adv.shape:
        raise ValueError(
            f"X and X_adv must be 2-D arrays of one shape; got {X.shape} and {X_adv.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError("X and X_adv are empty; expected at least one row.")
    for name, A in (("X", X), ("X_adv", X_adv)):
        if not np.all(np.isfinite(A)):
            raise ValueError(f"{name} contains NaN or infinite values; expected finite numbers.")
    return X, X_adv


def constraint_satisfaction(X_adv, X, constraints, *, reduce="mean"):
    """Fraction of examples that keep every feature constraint.

    Parameters
    ----------
    X_adv, X : array-like of shape (n_samples, n_features)
        Examples and their clean rows (row ``i`` of ``X_adv`` is the
        perturbed row ``i`` of ``X``); finite values.
    constraints : FeatureConstraints
        Fitted (e.g. a generator's ``constraints_``), or unfitted: then it
        is fitted on ``X`` (column names from a DataFrame ``X``).
    reduce : {"mean", None}, default="mean"
        ``None`` returns the per-row booleans.

    Returns
    -------
    float or ndarray of bool
        The share of rows with immutable columns bit-identical, integer
        columns integral, one-hot groups with exactly one 1, values within
        the bounds and on the allowed side of the clean value (float
        rounding allowed, except for immutable columns).
    """
    if not hasattr(constraints, "immutable_"):
        constraints = clone(constraints).fit(X)
    X, X_adv = _pair(X, X_adv)
    return _reduce(satisfied_rows(X_adv, X, constraints), reduce)


def _reduce(values, reduce):
    if reduce == "mean":
        return float(np.mean(values)) if len(values) else float("nan")
    if reduce is None:
        return values
    raise ValueError(f"reduce={reduce!r} is not supported; expected 'mean' or None.")


def attack_success_rate(y_true, y_pred_adv, *, targets=None):
    """Fraction of adversarial inputs that are misclassified (or hit their target).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels (ignored when ``targets`` is given).
    y_pred_adv : array-like of shape (n_samples,)
        Predictions of the classifier on the adversarial inputs.
    targets : array-like of shape (n_samples,), optional
        Targets of a targeted attack: success means ``y_pred_adv == targets``.

    Returns
    -------
    float
    """
    y_pred_adv = np.asarray(y_pred_adv)
    ref = np.asarray(targets if targets is not None else y_true)
    name = "targets" if targets is not None else "y_true"
    if ref.shape != y_pred_adv.shape or y_pred_adv.ndim != 1:
        raise ValueError(f"{name} and y_pred_adv must be 1-D of one length; got shapes "
                         f"{ref.shape} and {y_pred_adv.shape}.")
    if y_pred_adv.size == 0:
        raise ValueError("y_pred_adv is empty; expected at least one prediction.")
    if targets is not None:
        return float(np.mean(y_pred_adv == np.asarray(targets)))
    return float(np.mean(y_pred_adv != np.asarray(y_true)))


def distortion(X, X_adv, *, norm="linf", reduce="mean"):
    """Per-row ``norm`` of ``X_adv - X`` (``"linf"``, ``"l2"`` or ``"l0"``).

    Parameters
    ----------
    X, X_adv : array-like of shape (n_samples, n_features)
        Clean and adversarial rows, aligned (row ``i`` of ``X_adv`` is the
        perturbed row ``i`` of ``X``); finite values.
    norm : {"linf", "l2", "l0"}, default="linf"
        Norm of each row's difference (``"l0"`` counts the changed entries).
    reduce : {"mean", None}, default="mean"
        ``"mean"`` returns the mean over rows; ``None`` the per-row values.

    Returns
    -------
    float or ndarray of shape (n_samples,)
    """
    X, X_adv = _pair(X, X_adv)
    diff = X_adv - X
    if norm == "linf":
        d = np.abs(diff).max(1) if diff.shape[1] else np.zeros(len(diff))
    elif norm == "l2":
        d = np.sqrt((diff**2).sum(1))
    elif norm == "l0":
        d = (diff != 0).sum(1).astype(np.float64)
    else:
        raise ValueError(f"norm={norm!r} is not supported; expected 'linf', 'l2' or 'l0'.")
    return _reduce(d, reduce)


def mine_similarity(X, X_adv, *, reduce="mean", random_state=0, **kwargs):
    """Per-row MINE estimate of ``I(x; x')`` with fresh statistics networks.

    Wraps :func:`sk_uae.mine.estimate_mi` (an attack-free yardstick: the same
    settings for everything compared); higher means more similar.

    Parameters
    ----------
    X, X_adv : array-like of shape (n_samples, n_features)
        Clean and adversarial rows, aligned (row ``i`` of ``X_adv`` is the
        perturbed row ``i`` of ``X``); finite values.
    reduce : {"mean", None}, default="mean"
        ``"mean"`` returns the mean over rows; ``None`` the per-row values.
    random_state : int, default=0
        Seeds the random projections, initial weights and shuffles of the
        estimator (keep it fixed across everything compared).
    **kwargs
        Passed to :func:`~sk_uae.mine.estimate_mi` (``n_mine_steps``, ``n_pairs``...).

    Returns
    -------
    float or ndarray of shape (n_samples,)
    """
    _pair(X, X_adv)
    return _reduce(estimate_mi(X, X_adv, random_state=random_state, **kwargs).astype(np.float64),
                   reduce)


def ssim(X, X_adv, image_shape, *, data_range=1.0, win_size=7, reduce="mean"):
    """Structural similarity (SSIM) of flattened images, per row.

    Wang et al.'s SSIM with a uniform ``win_size`` window (``K1=0.01``,
    ``K2=0.03``, sample covariances), averaged over the valid window
    positions of each channel -- the defaults of scikit-image's
    ``structural_similarity``. The window shrinks to the largest odd size
    that fits small images (e.g. 7 on 8x8 digits).

    Parameters
    ----------
    X, X_adv : array-like of shape (n_samples, n_features)
        Clean and adversarial rows, aligned (row ``i`` of ``X_adv`` is the
        perturbed row ``i`` of ``X``); finite values.
        Every row is a flattened image.
    image_shape : tuple (H, W) or (C, H, W)
        With ``C * H * W == n_features``; channels are compared separately
        and averaged.
    data_range : float, default=1.0
        Range of the pixel values (``max - min`` possible), which scales the
        stabilising constants ``(K1 * data_range)**2`` and
        ``(K2 * data_range)**2``.
    win_size : int, default=7
        Side of the uniform window; a positive odd integer.
    reduce : {"mean", None}, default="mean"
        ``"mean"`` returns the mean over rows; ``None`` the per-row values.

    Returns
    -------
    float or ndarray of shape (n_samples,)
    """
    X, X_adv = _pair(X, X_adv)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3 or np.prod(shape) != X.shape[1]:
        raise ValueError(
            f"image_shape={image_shape!r} does not match the {X.shape[1]} features; expected "
            "(H, W) or (C, H, W) with product equal to n_features."
        )
    if win_size < 1 or win_size % 2 != 1:
        raise ValueError(f"win_size must be a positive odd integer; got {win_size!r}.")
    win = min(win_size, shape[1] - (1 - shape[1] % 2), shape[2] - (1 - shape[2] % 2))
    a = torch.as_tensor(X).reshape(-1, 1, shape[1], shape[2])
    b = torch.as_tensor(X_adv).reshape(-1, 1, shape[1], shape[2])

    def mean(z):
        return torch.nn.functional.avg_pool2d(z, win, stride=1)

    n = win * win
    cov_norm = n / (n - 1) if n > 1 else 1.0
    mu_a, mu_b = mean(a), mean(b)
    var_a = cov_norm * (mean(a * a) - mu_a**2)
    var_b = cov_norm * (mean(b * b) - mu_b**2)
    cov = cov_norm * (mean(a * b) - mu_a * mu_b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    per_row = s.reshape(X.shape[0], -1).mean(1).numpy()
    return _reduce(per_row, reduce)


def cosine_similarity(X, X_adv, *, reduce="mean"):
    """Per-row cosine similarity of ``X`` and ``X_adv`` (tabular data).

    Rows of zero norm count as similarity 1 with an all-zero partner, else 0.

    Parameters
    ----------
    X, X_adv : array-like of shape (n_samples, n_features)
        Clean and adversarial rows, aligned (row ``i`` of ``X_adv`` is the
        perturbed row ``i`` of ``X``); finite values.
    reduce : {"mean", None}, default="mean"
        ``"mean"`` returns the mean over rows; ``None`` the per-row values.

    Returns
    -------
    float or ndarray of shape (n_samples,)
    """
    X, X_adv = _pair(X, X_adv)
    na, nb = np.linalg.norm(X, axis=1), np.linalg.norm(X_adv, axis=1)
    dot = (X * X_adv).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    cos = np.where((na == 0) | (nb == 0), ((na == 0) & (nb == 0)).astype(float), cos)
    return _reduce(cos, reduce)


def similarity(X, X_adv, *, image_shape=None, reduce="mean", **kwargs):
    """Estimator-free similarity: SSIM for images (``image_shape`` given), else cosine.

    Parameters
    ----------
    X, X_adv : array-like of shape (n_samples, n_features)
        Clean and adversarial rows, aligned (row ``i`` of ``X_adv`` is the
        perturbed row ``i`` of ``X``); finite values.
    image_shape : tuple (H, W) or (C, H, W) or None, default=None
        Given: the rows are flattened images and :func:`ssim` is used;
        ``None``: :func:`cosine_similarity`.
    reduce : {"mean", None}, default="mean"
        ``"mean"`` returns the mean over rows; ``None`` the per-row values.
    **kwargs
        Passed to :func:`ssim` (``data_range``, ``win_size``); only with
        ``image_shape`` (cosine similarity takes none).

    Returns
    -------
    float or ndarray of shape (n_samples,)

    Raises
    ------
    TypeError
        If keyword arguments are given without ``image_shape``.
    """
    if image_shape is not None:
        return ssim(X, X_adv, image_shape, reduce=reduce, **kwargs)
    if kwargs:
        raise TypeError(
            f"similarity got keyword arguments {sorted(kwargs)} that only SSIM takes, but "
            "image_shape is None (cosine similarity); pass image_shape=(H, W) or "
            "(C, H, W) for SSIM, or drop them."
        )
    return cosine_similarity(X, X_adv, reduce=reduce)


def robust_accuracy(classifier, X, y, attack, *, batch_size=64, random_state=0, device="cpu"):
    """Accuracy of a fitted classifier on adversarial inputs of an untargeted ``attack``.

    Parameters
    ----------
    classifier : fitted classifier
        The classifier whose accuracy is measured. When ``attack`` is an
        attack object it is also the attacked model: a fitted torch net that
        exposes its module as ``module_`` (e.g.
        :class:`~sk_uae.models.ClassifierNet`) or a fitted meta-estimator
        around one, such as :class:`~sk_uae.UAEAugmenter` (its ``estimator_``
        is attacked). Any fitted classifier with ``predict`` works with a
        generator as ``attack``.
    X : array-like of shape (n_samples, n_features)
        Clean inputs to attack.
    y : array-like of shape (n_samples,)
        True labels; the attack is run against them (untargeted) and the
        accuracy measured on them.
    attack : BaseAttack or fitted UAEGenerator
        An untargeted attack. An attack object is cloned and fitted on ``X``
        (so ``clip_values="auto"`` is the range of ``X``). A generator is
        used as it is (its own estimator is attacked, but the accuracy is
        that of ``classifier``: a transfer attack when they differ).
    batch_size : int, default=64
        Rows attacked together by an attack object (ignored for a generator).
    random_state : int, RandomState or None, default=0
        Seed of an attack object's draws (ignored for a generator).
    device : str, default="cpu"
        Where an attack object runs: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"``
        or ``"auto"`` (ignored for a generator).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the attack is targeted (``targeted=True``): ``y`` would be taken
        as the targets, so the attack would push every row towards its true
        class.
    TypeError
        If ``attack`` is an attack object and ``classifier`` (or the
        ``estimator_`` of a UAEAugmenter) has no torch module ``module_``.
    """
    X = check_array(X, dtype=(np.float32, np.float64))
    y = np.asarray(y)
    if hasattr(attack, "generate"):  # a fitted UAEGenerator, used as it is
        check_is_fitted(attack, "attack_")
        attack_params = attack.attack_.get_params()
    else:
        attack_params = attack.get_params()
    if attack_params.get("targeted", False):
        raise ValueError(
            f"robust_accuracy needs an untargeted attack; got {type(attack).__name__} with "
            "targeted=True, which would take the true labels y as targets. Use targeted=False "
            "(or attack_success_rate with the targets for a targeted attack)."
        )
    if hasattr(attack, "generate"):
        X_adv = attack.generate(X, y, return_info=False)
    else:
        fitted = clone(attack).fit(X)
        X_adv, _ = fitted.perturb(_attacked_model(classifier), X, y,
                                  seed=seed_from_random_state(random_state),
                                  batch_size=batch_size, device=device)
    return float(accuracy_score(y, classifier.predict(X_adv)))


def _attacked_model(classifier):
    """The torch net inside a fitted classifier: itself, or a meta-estimator's ``estimator_``."""
    check_is_fitted(classifier)
    model = getattr(classifier, "estimator_", classifier)
    if not isinstance(getattr(model, "module_", None), torch.nn.Module):
        raise TypeError(
            "robust_accuracy attacks classifier itself when attack is an attack object, so "
            "classifier must be a fitted torch net with its module as `module_` (e.g. "
            "sk_uae.models.ClassifierNet) or a fitted meta-estimator around one, such as "
            f"UAEAugmenter; got {type(classifier).__name__}. For another model pass a fitted "
            "UAEGenerator as attack (a transfer attack)."
        )
    return model


_SCORES = {
    "success_rate": (1, lambda g, X, X_adv, info, y, kw: float(np.mean(info["success"]))),
    "distortion_linf": (-1, lambda g, X, X_adv, info, y, kw: distortion(X, X_adv, norm="linf")),
    "distortion_l2": (-1, lambda g, X, X_adv, info, y, kw: distortion(X, X_adv, norm="l2")),
    "similarity": (1, lambda g, X, X_adv, info, y, kw: similarity(X, X_adv, **kw)),
    "mine": (1, lambda g, X, X_adv, info, y, kw: mine_similarity(X, X_adv, **kw)),
    "robust_accuracy": (-1, lambda g, X, X_adv, info, y, kw: float(
        accuracy_score(y, g.estimator_.predict(X_adv)))),
}


def make_attack_scorer(metric, **kwargs):
    """Scorer ``scorer(generator, X, y)`` of a fitted :class:`~sk_uae.UAEGenerator`.

    The scorer runs ``generator.generate(X, y)`` and returns the metric of the
    result, signed so that greater is better for the *attacker*: success rate,
    similarity and MINE as they are; distortions and the attacked model's
    robust accuracy negated.

    Parameters
    ----------
    metric : {"success_rate", "distortion_linf", "distortion_l2", "similarity", "mine", \
            "robust_accuracy"}
    **kwargs
        Passed to the metric (``image_shape`` for ``"similarity"``;
        :func:`mine_similarity` options for ``"mine"``).

    Returns
    -------
    callable

    Examples
    --------
    >>> from sk_uae.metrics import make_attack_scorer
    >>> scoring = {"success": make_attack_scorer("success_rate"),
    ...            "ssim": make_attack_scorer("similarity", image_shape=(8, 8))}
    """
    if metric not in _SCORES:
        raise ValueError(f"metric={metric!r} is not known; expected one of {sorted(_SCORES)}.")
    sign, fn = _SCORES[metric]
    if metric == "robust_accuracy":
        def needs_y(y):
            if y is None:
                raise ValueError("the 'robust_accuracy' scorer needs true labels y.")
    else:
        def needs_y(y):
            pass

    def scorer(generator, X, y=None):
        needs_y(y)
        X = np.asarray(X)
        X_adv, info = generator.generate(X, y, return_info=True)
        return sign * fn(generator, X, X_adv, info, y, kwargs)

    scorer.__name__ = f"{metric}_scorer"
    return scorer
