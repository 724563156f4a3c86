"""Metrics of adversarial examples and of robustness, as plain functions and as scorers.

Plain functions take arrays (``X`` clean, ``X_adv`` adversarial, rows
aligned). Scorers are callables ``scorer(generator, X, y)`` for a fitted
:class:`~sk_uae.UAEGenerator` (greater is better, as scikit-learn expects),
so they plug into :class:`~sklearn.model_selection.GridSearchCV` (``scoring=``)
to tune ``attack__*`` parameters. :func:`robustness_curve` attacks a fitted
model at a grid of budgets and :func:`make_robustness_scorer` scores one
budget from the model's side (greater is more robust).
"""

import time

import numpy as np
import torch
from sklearn.base import clone, is_classifier
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_array, check_is_fitted
from tqdm.auto import tqdm

from ._plots import plot_robustness_curve
from .attacks import PGD, MinMaxMINE
from .constraints import FeatureConstraints, satisfied_rows
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
    "robustness_curve",
    "make_robustness_scorer",
    "plot_robustness_curve",
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


def _attacked_model(model, caller="robust_accuracy", name="classifier"):
    """The torch net inside a fitted model: itself, or a meta-estimator's ``estimator_``."""
    check_is_fitted(model)
    inner = getattr(model, "estimator_", model)
    if not isinstance(getattr(inner, "module_", None), torch.nn.Module):
        hint = (" For another model pass a fitted UAEGenerator as attack (a transfer attack)."
                if caller == "robust_accuracy" else "")
        raise TypeError(
            f"{caller} attacks {name} itself, so {name} must be a fitted torch net with its "
            "module as `module_` (e.g. sk_uae.models.ClassifierNet or AutoencoderNet) or a "
            f"fitted meta-estimator around one, such as UAEAugmenter; got "
            f"{type(model).__name__}.{hint}"
        )
    return inner


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


# ------------------------------------------------------------------ robustness
DEFAULT_EPS = (0.0, 0.05, 0.1, 0.2, 0.3)
MODEL_KINDS = ("autoencoder", "classifier", "encoder")
# metric -> whether greater is better (for the model: more robust)
ROBUSTNESS_METRICS = {
    "accuracy": True,
    "probe_accuracy": True,
    "reconstruction_error": False,
    "uae_success_rate": False,
    "shift_cosine": False,
    "shift_l2": False,
}
_KIND_METRICS = {"classifier": ("accuracy",),
                 "autoencoder": ("reconstruction_error", "uae_success_rate"),
                 "encoder": ("shift_cosine", "shift_l2", "probe_accuracy")}
_NEEDS_LABELS = ("accuracy", "probe_accuracy")
_CURVE_OPTIONS = ("attack", "kind", "uae_attack", "probe", "batch_size", "random_state",
                  "device", "verbose")


def robustness_curve(model, X, y=None, attack=None, eps=DEFAULT_EPS, *, kind="auto",
                     metrics="auto", uae_attack=None, probe=None, constraints=None,
                     batch_size=64, random_state=0, device="cpu", verbose=0):
    """Attack a fitted model at every budget of ``eps`` and measure what is left.

    For each budget the attack is fitted on ``X`` (``clip_values="auto"``
    becomes the range of ``X``, ``eps_scale`` its columns' units), run
    against the model, and the model's outputs on the attacked rows are
    compared with the clean ones. The measures depend on the model's kind:

    * ``"classifier"``: ``accuracy`` on the attacked rows (the robust
      accuracy of :func:`robust_accuracy`; untargeted, against ``y``);
    * ``"autoencoder"``: ``reconstruction_error``, the mean squared error
      between the *clean* rows and the reconstructions of the attacked rows
      (under the high-loss ``attack``), and ``uae_success_rate``, the share
      of rows for which ``uae_attack`` (MinMax MINE) finds an unsupervised
      adversarial example within the budget;
    * ``"encoder"`` (a contrastive net, a concrete autoencoder's selection):
      the shift of the codes (``transform``) between clean and attacked
      rows, ``shift_cosine`` (mean of one minus their cosine similarity) and
      ``shift_l2`` (mean L2 distance), and, given ``y``,
      ``probe_accuracy``: a linear probe fitted on clean codes, scored on
      attacked ones. The probe is cross-fitted on the rows of ``X``
      (stratified 5 folds, or fewer for a class with fewer rows): each row
      is scored by a probe fitted on the clean codes of the other folds,
      so budget 0 gives the probe's cross-validated accuracy, not its
      accuracy on the rows it was fitted on.

    Budget 0 is the clean model (no attack; ``uae_success_rate`` is NaN).

    Parameters
    ----------
    model : fitted estimator
        A fitted torch net of :mod:`sk_uae.models` (or any skorch net with
        its module as ``module_``), or a fitted meta-estimator around one
        such as :class:`~sk_uae.UAEAugmenter` (its ``estimator_`` is
        attacked; ``predict`` and ``transform`` are the meta-estimator's).
    X : array-like of shape (n_samples, n_features)
        Rows to attack (held-out rows, usually).
    y : array-like of shape (n_samples,), default=None
        Labels: needed by ``accuracy`` and ``probe_accuracy``.
    attack : BaseAttack, default=None
        The high-loss attack of every measure but ``uae_success_rate``;
        ``None`` means ``PGD(eps_step=eps / 4, max_iter=10)`` on the model's
        own objective (see :func:`~sk_uae.attacks.resolve_objective`: the
        cross-entropy of a classifier, the reconstruction error of an
        autoencoder, the contrastive loss of a ``ContrastiveNet``). At each
        budget a clone gets ``eps`` set to it and, if it has one,
        ``eps_step`` scaled in proportion (the ratio ``eps_step / eps`` of
        the attack given is kept). It must be untargeted and have ``eps``.
    eps : sequence of float, default=(0.0, 0.05, 0.1, 0.2, 0.3)
        The budgets, in the attack's ``eps_scale`` units (by default each
        column's range on ``X``); one row of the result each, in this order.
    kind : {"auto", "autoencoder", "classifier", "encoder"}, default="auto"
        ``"auto"``: ``"classifier"`` for a classifier
        (:func:`sklearn.base.is_classifier`), ``"encoder"`` for a net with
        its own attack objective (``uae_objective``, e.g. ``ContrastiveNet``)
        or a feature selector (``get_support``, e.g.
        ``ConcreteAutoencoderNet``), ``"autoencoder"`` otherwise.
    metrics : "auto" or sequence of str, default="auto"
        Measures to compute, among ``accuracy``, ``probe_accuracy``,
        ``reconstruction_error``, ``uae_success_rate``, ``shift_cosine`` and
        ``shift_l2``; ``"auto"`` takes those of the kind (without
        ``probe_accuracy`` when ``y`` is None).
    uae_attack : BaseAttack, default=None
        The attack of ``uae_success_rate``; ``None`` means ``MinMaxMINE()``
        (its ``eps`` set to each budget).
    probe : classifier, default=None
        The probe of ``probe_accuracy`` (cloned and fitted once per fold on
        the clean codes); ``None`` means a ``StandardScaler`` and a
        ``LogisticRegression(max_iter=1000)``.
    constraints : FeatureConstraints, default=None
        Columns every attack's examples must keep (see
        :class:`~sk_uae.FeatureConstraints`), e.g. a table's one-hot
        categories; an unfitted one is fitted on ``X`` (a clone).
    batch_size : int, default=64
        Rows attacked together; the results do not depend on it.
    random_state : int, RandomState or None, default=0
        Seed of the attacks' draws (the same at every budget) and of the
        probe's folds.
    device : str, default="cpu"
        Where the attacks run: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or
        ``"auto"``.
    verbose : int, default=0
        ``>= 1`` shows a progress bar over the budgets.

    Returns
    -------
    pandas.DataFrame
        One row per budget: ``eps``, the measures, and ``seconds`` (the
        attacks' wall time at that budget). ``attrs["kind"]`` is the kind
        and ``attrs["greater_is_better"]`` says, per measure, whether a
        larger value means a more robust model.

    Raises
    ------
    ValueError
        If a measure needs ``y`` and none is given, the attack is targeted or
        has no ``eps``, or a budget is negative.
    TypeError
        If the model (or its ``estimator_``) has no torch module ``module_``,
        or ``constraints`` is not a :class:`~sk_uae.FeatureConstraints`.

    See Also
    --------
    make_robustness_scorer : one budget's measure as a scorer.
    plot_robustness_curve : draw the curve.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae.metrics import robustness_curve
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(64, 8).astype("float32")
    >>> ae = AutoencoderNet(module__hidden_units=4, max_epochs=2, random_state=0).fit(X)
    >>> curve = robustness_curve(ae, X, eps=(0.0, 0.1), metrics=["reconstruction_error"])
    >>> list(curve.columns)
    ['eps', 'reconstruction_error', 'seconds']
    """
    import pandas as pd

    X = check_array(X, dtype=(np.float32, np.float64))
    y = None if y is None else np.asarray(y)
    if y is not None and y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}.")
    target = _attacked_model(model, "robustness_curve", "model")
    kind = _model_kind(model, target) if kind == "auto" else kind
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind={kind!r} is not known; expected 'auto' or one of {MODEL_KINDS}.")
    metrics = _curve_metrics(kind, metrics, y)
    budgets = [float(e) for e in np.atleast_1d(np.asarray(eps, dtype=np.float64))]
    if not budgets or not all(np.isfinite(e) and e >= 0 for e in budgets):
        raise ValueError(f"eps must be non-negative finite budgets, at least one; got {eps!r}.")
    high = attack if attack is not None else PGD(eps=0.1, eps_step=0.025, max_iter=10)
    uae = uae_attack if uae_attack is not None else MinMaxMINE()
    needs_high = any(m != "uae_success_rate" for m in metrics)
    for a, used in ((high, needs_high), (uae, "uae_success_rate" in metrics)):
        if used:
            _check_curve_attack(a)
    if constraints is not None:
        if not isinstance(constraints, FeatureConstraints):
            raise TypeError(f"constraints must be a FeatureConstraints or None; got "
                            f"{type(constraints).__name__}.")
        if not hasattr(constraints, "immutable_"):
            constraints = clone(constraints).fit(X)
    seed = seed_from_random_state(random_state)
    run = dict(seed=seed, batch_size=batch_size, device=device, constraints=constraints)
    clean = {}
    if any(m.startswith(("shift", "probe")) for m in metrics):
        clean["codes"] = np.asarray(model.transform(X), dtype=np.float64)
    if "probe_accuracy" in metrics:
        clean["probe"] = _CrossFittedProbe(probe if probe is not None else _default_probe(),
                                           seed).fit(clean["codes"], y)
    rows = []
    for e in tqdm(budgets, disable=not verbose, desc="robustness", unit="eps"):
        start = time.perf_counter()
        row = {"eps": e}
        if needs_high:
            X_adv = X if e == 0 else _at_budget(high, e).fit(X).perturb(target, X, y, **run)[0]
            for m in metrics:
                if m != "uae_success_rate":
                    row[m] = _ROBUSTNESS_VALUES[m](model, X, X_adv, y, clean)
        if "uae_success_rate" in metrics:
            row["uae_success_rate"] = float("nan") if e == 0 else float(np.mean(
                _at_budget(uae, e).fit(X).perturb(target, X, y, **run)[1]["success"]))
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    curve = pd.DataFrame(rows, columns=["eps", *metrics, "seconds"])
    curve.attrs["kind"] = kind
    curve.attrs["greater_is_better"] = {m: ROBUSTNESS_METRICS[m] for m in metrics}
    return curve


def _model_kind(model, target):
    """The kind of a model for :func:`robustness_curve` (see its ``kind``)."""
    if is_classifier(model):
        return "classifier"
    if callable(getattr(target, "uae_objective", None)) or callable(
            getattr(target, "get_support", None)):
        return "encoder"
    return "autoencoder"


def _curve_metrics(kind, metrics, y):
    if isinstance(metrics, str):
        if metrics != "auto":
            raise ValueError(f"metrics={metrics!r}: expected 'auto' or a list of measures.")
        return [m for m in _KIND_METRICS[kind] if y is not None or m not in _NEEDS_LABELS]
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in ROBUSTNESS_METRICS]
    if unknown or not metrics or len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics must name distinct measures among "
                         f"{sorted(ROBUSTNESS_METRICS)}; got {metrics!r}.")
    if y is None and any(m in _NEEDS_LABELS for m in metrics):
        raise ValueError(f"the measures {[m for m in metrics if m in _NEEDS_LABELS]} need the "
                         "labels y.")
    return metrics


def _check_curve_attack(attack):
    params = attack.get_params(deep=False)
    if "eps" not in params:
        raise ValueError(
            f"a robustness curve sets the attack's budget eps, and {type(attack).__name__} has "
            "none; use an attack with eps (PGD, MinMaxMINE, GaussianNoise).")
    if params.get("targeted", False):
        raise ValueError(
            f"a robustness curve needs an untargeted attack; got {type(attack).__name__} with "
            "targeted=True.")


def _at_budget(attack, eps):
    """A clone of ``attack`` with budget ``eps`` (``eps_step`` kept in proportion to it)."""
    params = attack.get_params(deep=False)
    new = {"eps": eps}
    if "eps_step" in params and params.get("eps"):
        new["eps_step"] = float(params["eps_step"]) * eps / float(params["eps"])
    return clone(attack).set_params(**new)


class _CrossFittedProbe:
    """A probe per fold of the rows, each scoring the rows it was not fitted on.

    ``score(codes, y)`` takes the codes of the same rows, in the same order,
    as ``fit`` (the attacked rows' codes), so that no row is scored by a probe
    that saw it: at budget 0 this is the probe's cross-validated accuracy.
    """

    def __init__(self, probe, seed, n_splits=5):
        self.probe, self.seed, self.n_splits = probe, seed, n_splits

    def fit(self, codes, y):
        from sklearn.model_selection import StratifiedKFold

        _, counts = np.unique(y, return_counts=True)
        k = min(self.n_splits, int(counts.min()))
        if len(counts) < 2 or k < 2:
            raise ValueError(
                "probe_accuracy cross-fits its probe and needs at least two classes with two "
                f"rows each in y; got class counts {counts.tolist()}.")
        folds = StratifiedKFold(k, shuffle=True, random_state=self.seed % (2**32 - 1))
        self.folds_ = [(clone(self.probe).fit(codes[train], y[train]), test)
                       for train, test in folds.split(codes, y)]
        return self

    def score(self, codes, y):
        right = sum(int(np.sum(probe.predict(codes[test]) == y[test]))
                    for probe, test in self.folds_)
        return right / len(y)


def _default_probe():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _reconstruction_error(model, X, X_adv, y, clean):
    recon = np.asarray(model.predict(X_adv), dtype=np.float64)
    if recon.shape != X.shape:
        raise ValueError(f"reconstruction_error needs a model whose predict rebuilds the rows; "
                         f"{type(model).__name__}.predict gives shape {recon.shape} for X of "
                         f"shape {X.shape}.")
    return float(np.mean((recon - X.astype(np.float64)) ** 2))


def _codes(model, X_adv):
    return np.asarray(model.transform(X_adv), dtype=np.float64)


_ROBUSTNESS_VALUES = {
    "accuracy": lambda model, X, X_adv, y, clean: float(
        accuracy_score(y, model.predict(X_adv))),
    "reconstruction_error": _reconstruction_error,
    "shift_cosine": lambda model, X, X_adv, y, clean: 1.0 - cosine_similarity(
        clean["codes"], _codes(model, X_adv)),
    "shift_l2": lambda model, X, X_adv, y, clean: distortion(
        clean["codes"], _codes(model, X_adv), norm="l2"),
    "probe_accuracy": lambda model, X, X_adv, y, clean: float(
        clean["probe"].score(_codes(model, X_adv), y)),
}


def make_robustness_scorer(eps=0.1, metric=None, **kwargs):
    """Scorer ``scorer(estimator, X, y)``: a fitted model's robustness at one budget.

    Runs :func:`robustness_curve` at the single budget ``eps`` and returns
    the measure, signed so that greater is better for the *model* (more
    robust): accuracies as they are; the reconstruction error, the shift of
    the codes and the UAE success rate negated. For
    :class:`~sklearn.model_selection.GridSearchCV` (``scoring=``) over the
    model's parameters, e.g. those of an :class:`~sk_uae.AdversarialTraining`
    callback (``callbacks__<name>__ratio``).

    Parameters
    ----------
    eps : float, default=0.1
        The budget (in the attack's ``eps_scale`` units).
    metric : str or None, default=None
        A measure of :func:`robustness_curve`; ``None`` takes the kind's
        first: ``accuracy`` (classifiers), ``reconstruction_error``
        (autoencoders), ``probe_accuracy`` (encoders, with labels; else
        ``shift_l2``).
    **kwargs
        Passed to :func:`robustness_curve`: ``attack``, ``kind``,
        ``uae_attack``, ``probe``, ``batch_size``, ``random_state``,
        ``device``, ``verbose``.

    Returns
    -------
    callable

    Examples
    --------
    >>> from sk_uae.attacks import PGD
    >>> from sk_uae.metrics import make_robustness_scorer
    >>> scoring = {"pgd_0.1": make_robustness_scorer(0.1),
    ...            "pgd_0.2": make_robustness_scorer(0.2, attack=PGD(eps_step=0.05))}
    """
    unknown = sorted(set(kwargs) - set(_CURVE_OPTIONS))
    if unknown:
        raise TypeError(f"make_robustness_scorer got unexpected arguments {unknown}; it passes "
                        f"on only {list(_CURVE_OPTIONS)}.")
    if metric is not None and metric not in ROBUSTNESS_METRICS:
        raise ValueError(f"metric={metric!r} is not known; expected None or one of "
                         f"{sorted(ROBUSTNESS_METRICS)}.")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a non-negative budget; got {eps!r}.")

    def scorer(estimator, X, y=None):
        name = metric
        if name is None:
            kind = kwargs.get("kind", "auto")
            if kind == "auto":
                kind = _model_kind(estimator, _attacked_model(estimator, "robustness_curve",
                                                              "model"))
            name = _KIND_METRICS[kind][0]
            if kind == "encoder":
                name = "probe_accuracy" if y is not None else "shift_l2"
        curve = robustness_curve(estimator, X, y, eps=(eps,), metrics=[name], **kwargs)
        value = float(curve[name].iloc[0])
        return value if ROBUSTNESS_METRICS[name] else -value

    scorer.__name__ = f"robustness_{metric or 'auto'}_scorer"
    return scorer
