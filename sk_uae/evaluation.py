"""Fair comparisons: of augmentations (``sk-uae augment``) and of adversarial training.

For one task, one data split and one seed, :func:`compare_augmentations`
trains the task's model with each augmentation method through
:class:`~sk_uae.UAEAugmenter` and scores the final model on held-out data.
Every method gets the **same number of optimiser steps**: augmented methods
train ``epochs`` epochs on ``(1 + ratio) * n`` rows, the ``none`` baseline
as many epochs on the ``n`` original rows as make the same number of
mini-batches (the nearest whole number of epochs): ``(1 + ratio) * epochs``
when the rows fill whole batches. With ``retrain="continue"`` the augmented
model also keeps the ``epochs`` epochs of its first fit on the ``n`` rows,
which ``none`` gets too. The optimiser steps and the training rows each final
model has seen are counted from its history and returned as ``steps`` and
``samples_seen``.

Methods
-------
``none``       no augmentation, equal step budget;
``duplicate``  the training rows doubled with exact copies;
``noise``      Gaussian noise rescaled to the UAEs' mean L-infinity distortion;
``pgd``        a PGD "high-loss" perturbation (maximises the model's loss) with
               the UAEs' mean L-infinity distortion as its budget;
``uae``        the paper's unsupervised adversarial examples (MinMax MINE).

``noise`` and ``pgd`` are matched to the UAEs of the same seed, so ``uae``
runs first.
"""

import tempfile
import time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from joblib import Memory
from sklearn.base import clone
from sklearn.utils._param_validation import (Interval, StrOptions, validate_parameter_constraints,
                                            validate_params)

from ._augmenter import RETRAIN_MODES, UAEAugmenter
from .callbacks import EVERY, AdversarialTraining
from .constraints import FeatureConstraints
from .exceptions import FitQualityWarning
from .attacks import PGD, BaseAttack, Duplicate, GaussianNoise, MinMaxMINE
from .metrics import DEFAULT_EPS, robustness_curve
from .models import (AutoencoderNet, ClassifierNet, ConcreteAutoencoderNet, ContrastiveNet,
                     ConvAutoencoder, ConvEncoder, DenseAutoencoder, MLPEncoder,
                     SparseAutoencoder)

METHODS = ("none", "duplicate", "noise", "pgd", "uae")


@dataclass
class Task:
    """A model family and the held-out metric that judges it.

    Parameters
    ----------
    name : str
        Task name, a key of ``TASKS`` (``"reconstruction"``,
        ``"representation"`` or ``"contrastive"``).
    metric : str
        Human-readable name of the held-out metric.
    higher_is_better : bool
        Whether a larger metric value is better (False for a reconstruction
        error).
    needs_labels : bool
        Whether the metric needs labels (``y_train`` and ``y_test`` of
        :func:`compare_augmentations`).
    """

    name: str
    metric: str
    higher_is_better: bool
    needs_labels: bool


def _reconstruction_models():
    def make(module, **kw):
        def factory(n_features, image_shape, epochs, seed):
            params = dict(module__hidden_units=64 if n_features <= 64 else 128, lr=1e-2,
                          batch_size=128)
            if module is ConvAutoencoder:
                # the reference's recipe (BCE, Adadelta, batch 100): with MSE and Adam
                # the conv AE collapses to the mean image on MNIST (test MSE 0.119
                # against 0.017 at 1,000 rows and 20 epochs)
                params = dict(module__input_shape=image_shape, criterion=torch.nn.BCELoss,
                              optimizer=torch.optim.Adadelta, lr=1.0, batch_size=100)
            params.update(kw)
            return AutoencoderNet(module, max_epochs=epochs, random_state=seed, **params)
        return factory

    return {"sparse": make(SparseAutoencoder), "dense": make(DenseAutoencoder),
            "conv": make(ConvAutoencoder)}


def _representation_models():
    def factory(n_features, image_shape, epochs, seed):
        k = min(50, max(2, n_features // 4))  # the paper selects 50 of MNIST's 784 pixels
        return ConcreteAutoencoderNet(module__n_selected=k, module__hidden_units=(64,),
                                      max_epochs=epochs, lr=1e-2, random_state=seed)

    return {"concrete": factory}


def _contrastive_models():
    def mlp(n_features, image_shape, epochs, seed):
        return ContrastiveNet(MLPEncoder, module__hidden_units=(128, 64), max_epochs=epochs,
                              lr=1e-3, random_state=seed)

    def cnn(n_features, image_shape, epochs, seed):
        return ContrastiveNet(ConvEncoder, module__input_shape=image_shape, max_epochs=epochs,
                              lr=1e-3, random_state=seed)

    return {"mlp": mlp, "cnn": cnn}


def _reconstruction_metric(model, X_train, y_train, X_test, y_test, seed):
    return float(np.mean((model.predict(X_test) - X_test) ** 2))


def _selected_features_metric(model, X_train, y_train, X_test, y_test, seed):
    from sklearn.ensemble import ExtraTreesClassifier

    clf = ExtraTreesClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    clf.fit(model.transform(X_train), y_train)
    return float(clf.score(model.transform(X_test), y_test))


def _linear_probe_metric(model, X_train, y_train, X_test, y_test, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(model.transform(X_train), y_train)
    return float(probe.score(model.transform(X_test), y_test))


TASKS = {
    "reconstruction": Task("reconstruction", "test reconstruction MSE", False, False),
    "representation": Task("representation", "extra-trees accuracy on the selected features",
                           True, True),
    "contrastive": Task("contrastive", "linear-probe accuracy on the representation", True,
                        True),
}
_MODEL_FACTORIES = {"reconstruction": _reconstruction_models,
                    "representation": _representation_models,
                    "contrastive": _contrastive_models}
_METRICS = {"reconstruction": _reconstruction_metric,
            "representation": _selected_features_metric,
            "contrastive": _linear_probe_metric}


@validate_params({"task": [StrOptions(set(TASKS))]}, prefer_skip_nested_validation=True)
def task_models(task):
    """Names of the models available for ``task``.

    Parameters
    ----------
    task : {"reconstruction", "representation", "contrastive"}
        The task.

    Returns
    -------
    list of str
        Sorted model names, valid as ``model`` of :func:`make_model`.
    """
    return sorted(_MODEL_FACTORIES[task]())


@validate_params(
    {"task": [StrOptions(set(TASKS))], "model": [str],
     "n_features": [Interval(Integral, 1, None, closed="left")],
     "image_shape": [tuple, list, None], "epochs": [Interval(Integral, 1, None, closed="left")],
     "seed": [Interval(Integral, 0, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def make_model(task, model, n_features, image_shape, epochs, seed):
    """An unfitted model of ``task``.

    Parameters
    ----------
    task : {"reconstruction", "representation", "contrastive"}
        The task.
    model : str
        A name from :func:`task_models` (``"sparse"``, ``"dense"``,
        ``"conv"``; ``"concrete"``; ``"mlp"``, ``"cnn"``).
    n_features : int
        Input width; chooses the width of the dense autoencoders' code (64
        up to 64 features, else 128) and the number of features the concrete
        autoencoder selects.
    image_shape : tuple (C, H, W) or None
        Image shape, for the convolutional models (``None``: one square
        channel).
    epochs : int
        ``max_epochs`` of the net.
    seed : int
        ``random_state`` of the net.

    Returns
    -------
    estimator
        A skorch net (:class:`~sk_uae.models.AutoencoderNet`,
        :class:`~sk_uae.models.ConcreteAutoencoderNet` or
        :class:`~sk_uae.models.ContrastiveNet`).
    """
    factories = _MODEL_FACTORIES[task]()
    if model not in factories:
        raise ValueError(f"model {model!r} is not available for task {task!r}; expected one "
                         f"of {sorted(factories)}.")
    return factories[model](n_features, image_shape, epochs, seed)


def baseline_attack(method, uae_linf, clip_values="auto", eps_scale="none"):
    """The attack object of a baseline method, matched to the UAEs' distortion.

    Parameters
    ----------
    method : {"duplicate", "noise", "pgd"}
        ``"duplicate"``: :class:`~sk_uae.attacks.Duplicate`; ``"noise"``:
        :class:`~sk_uae.attacks.GaussianNoise` rescaled to L-infinity norm
        ``uae_linf``; ``"pgd"``: :class:`~sk_uae.attacks.PGD` in the
        L-infinity ball of radius ``uae_linf`` (10 steps of a quarter of it).
    uae_linf : float
        Mean L-infinity distortion of the UAEs (floored at ``1e-6``), in
        the units of ``eps_scale``.
    clip_values : "auto", tuple (low, high) or None, default="auto"
        Valid input range of the attack (see
        :class:`~sk_uae.attacks.GaussianNoise`).
    eps_scale : {"none", "range", "std"} or array-like, default="none"
        The per-column unit of ``uae_linf`` (the UAE attack's ``eps_scale``).

    Returns
    -------
    BaseAttack
    """
    eps = max(float(uae_linf), 1e-6)
    if method == "duplicate":
        return Duplicate()
    if method == "noise":
        return GaussianNoise(eps=eps, norm="linf", clip_values=clip_values, eps_scale=eps_scale)
    if method == "pgd":
        return PGD(eps=eps, eps_step=eps / 4, max_iter=10, norm="linf", clip_values=clip_values,
                   eps_scale=eps_scale)
    raise ValueError(f"method {method!r} is not a baseline; expected one of {METHODS}.")


_FIRST_FIT = {"scratch": 0, "continue": 1}  # epochs-worth of the first fit the final model keeps


def step_budget(retrain="scratch"):
    """How ``none`` gets the augmented methods' optimiser steps, in words.

    Parameters
    ----------
    retrain : {"scratch", "continue"}, default="scratch"
        The augmented methods' retraining mode.

    Returns
    -------
    str
    """
    return (f"equal: 'none' trains as many optimiser steps on the original rows as the "
            f"others on theirs ({_FIRST_FIT[retrain] + 1} + ratio) * epochs when the rows fill "
            "whole batches")


_COMPARE_CONSTRAINTS = {
    "task": [StrOptions(set(TASKS))],
    "model": [str],
    "methods": [list, tuple],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "ratio": [Interval(Real, 0, 1, closed="both")],
    "retrain": [StrOptions(set(RETRAIN_MODES))],
    "attack": [BaseAttack, None],
    "image_shape": [tuple, list, None],
    "seed": [Interval(Integral, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "verbose": ["verbose"],
    "done": [dict, None],
    "on_result": [callable, None],
    "constraints": [FeatureConstraints, None],
}


def compare_augmentations(X_train, X_test, y_train=None, y_test=None, *, task="reconstruction",
                          model="sparse", methods=METHODS, epochs=20, ratio=1.0,
                          retrain="scratch", attack=None, image_shape=None, seed=0,
                          batch_size=256, device="cpu", verbose=0, done=None, on_result=None,
                          constraints=None):
    """Train and score the task's model under each augmentation method.

    Parameters
    ----------
    X_train, X_test : ndarray of shape (n, d)
        Training rows (augmented) and held-out rows (scored). The attacks
        clip to the range of ``X_train`` (their ``clip_values="auto"``).
    y_train, y_test : ndarray of shape (n,), optional
        Labels, for tasks whose metric needs them. ``y_train`` is passed to
        the models' ``fit``, which the unsupervised nets of the built-in
        tasks ignore.
    task : {"reconstruction", "representation", "contrastive"}, default="reconstruction"
        What is learned and how it is judged (see ``TASKS``).
    model : str, default="sparse"
        A name from :func:`task_models`.
    methods : sequence of str, default=METHODS
        Methods to score, a subset of ``("none", "duplicate", "noise",
        "pgd", "uae")``. ``"uae"`` is run (unscored) whenever ``"noise"`` or
        ``"pgd"`` is asked for without it.
    epochs : int, default=20
        Epochs of the augmented methods (``none`` gets as many optimiser
        steps: ``(1 + ratio) * epochs`` epochs, or ``(2 + ratio) * epochs``
        with ``retrain="continue"``, when the rows fill whole batches).
    ratio : float, default=1.0
        Fraction of the training rows that get an augmented copy.
    retrain : {"scratch", "continue"}, default="scratch"
        How the augmented methods retrain (see :class:`~sk_uae.UAEAugmenter`).
        With ``"continue"`` the final model keeps the ``epochs`` epochs of
        its first fit, and ``none`` gets those steps too.
    attack : BaseAttack, optional
        The UAE attack (default ``MinMaxMINE()``).
    image_shape : tuple (C, H, W), optional
        Image shape, for the convolutional models.
    seed : int, default=0
        ``random_state`` of the models, the augmenters and the attacks.
    batch_size : int, default=256
        Rows attacked together (results do not depend on it).
    device : str, default="cpu"
        Where the attacks run: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or
        ``"auto"``.
    verbose : int, default=0
        Verbosity of the UAE attack (see :class:`~sk_uae.UAEGenerator`):
        ``>= 1`` progress bar, ``>= 2`` MinMax iterations logged to the
        ``"sk_uae"`` logger.
    done : dict, optional
        Records of methods already run with these arguments (what
        ``on_result`` was given by an earlier, interrupted call), by method:
        reused instead of recomputed, so the result is that of an
        uninterrupted call.
    on_result : callable, optional
        Called as ``on_result(method, record)`` when a method finishes,
        ``record`` a JSON-serialisable dict, so that a caller can checkpoint.
    constraints : FeatureConstraints, optional
        Feature constraints every augmentation method's examples keep (see
        :class:`~sk_uae.UAEAugmenter`); the UAE record then has their
        ``constraint_satisfaction``.

    Returns
    -------
    dict
        ``scores`` (method -> metric), ``steps`` (method -> optimiser steps
        of the final model, from its history), ``samples_seen`` (method -> training
        rows the final model was trained on, summed over its epochs, read
        from its history), ``uae`` (success rate and distortion of the UAEs),
        ``examples`` (a few originals and their UAEs; with
        ``retrain="continue"`` they are regenerated from the retrained model).
    """
    # checked here, not through validate_params: that decorator would report a bad
    # parameter of the attack (checked when it is fitted) as one of this function
    validate_parameter_constraints(_COMPARE_CONSTRAINTS, dict(
        task=task, model=model, methods=methods, epochs=epochs, ratio=ratio, retrain=retrain,
        attack=attack, image_shape=image_shape, seed=seed, batch_size=batch_size,
        device=device, verbose=verbose, done=done, on_result=on_result,
        constraints=constraints), caller_name="compare_augmentations")
    spec = TASKS[task]
    if spec.needs_labels and (y_train is None or y_test is None):
        raise ValueError(f"task {task!r} is judged with labels; the data have none.")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; expected a subset of {METHODS}.")
    base = make_model(task, model, X_train.shape[1], image_shape, epochs, seed)
    # the augmented methods' first models are one fit (same net, rows and seed): made once
    cache = tempfile.TemporaryDirectory(prefix="sk_uae-first-fit-")
    run = {"X_train": X_train, "y_train": y_train, "ratio": ratio, "retrain": retrain,
           "batch_size": batch_size, "device": device, "seed": seed, "constraints": constraints,
           "memory": Memory(cache.name, verbose=0)}
    order = sorted(methods, key=lambda m: m != "uae")  # matched baselines need the UAEs
    if any(m in ("noise", "pgd") for m in order) and "uae" not in order:
        order = ["uae"] + order
    done = dict(done or {})
    try:
        uae = None
        for method in order:
            if method not in done or (method in methods and done[method]["score"] is None):
                aug = _fit_method(method, base, run, epochs=epochs, attack=attack, uae=uae,
                                  verbose=verbose)
                done[method] = _record(method, aug, _METRICS[task], X_train, y_train, X_test,
                                       y_test, scored=method in methods)
                if on_result is not None:
                    on_result(method, done[method])
            if method == "uae":
                uae = done[method]["uae"]
    finally:
        cache.cleanup()
    scored = [m for m in order if m in methods]
    examples = done["uae"]["examples"] if "uae" in done else None
    return {"scores": {m: done[m]["score"] for m in scored},
            "samples_seen": {m: done[m]["samples_seen"] for m in scored},
            "steps": {m: done[m].get("steps") for m in scored},
            "uae": uae,
            "examples": None if examples is None else {
                k: np.asarray(v, dtype=np.float32) for k, v in examples.items()}}


def _fit_method(method, base, run, *, epochs, attack, uae, verbose):
    """The fitted ``UAEAugmenter`` of one method; ``uae``: the UAEs' record, for matching."""
    if method == "none":
        est = clone(base).set_params(max_epochs=_none_epochs(
            base, len(run["X_train"]), epochs, run["ratio"], run["retrain"]))
        return UAEAugmenter(est, ratio=0.0, random_state=run["seed"]).fit(
            run["X_train"], run["y_train"])
    if method == "uae":
        return _augment(clone(base), attack or MinMaxMINE(), verbose=verbose, **run)
    if method == "duplicate":  # needs no UAEs to match
        return _augment(clone(base), Duplicate(), **run)
    # matched in the units the UAE attack measures eps in
    return _augment(clone(base), baseline_attack(
        method, uae["distortion_linf_units_mean"], eps_scale=uae["eps_scale"]), **run)


def _augment(est, attack, *, X_train, y_train, ratio, retrain, batch_size, device, seed,
             constraints, memory, verbose=0):
    return UAEAugmenter(est, attack, ratio=ratio, retrain=retrain, batch_size=batch_size,
                        device=device, random_state=seed, verbose=verbose,
                        constraints=constraints, memory=memory).fit(X_train, y_train)


def _record(method, aug, metric, X_train, y_train, X_test, y_test, scored):
    """What one method gives: its score, the rows its model saw, and for UAEs their statistics."""
    record = {"score": metric(aug.estimator_, X_train, y_train, X_test, y_test,
                              aug.random_state) if scored else None,
              "samples_seen": _samples_seen(aug.estimator_),
              "steps": _steps(aug.estimator_)}
    if method == "uae":
        info = aug.uae_info_
        scale = getattr(aug.generator_.attack_, "eps_scale_", None)
        record["uae"] = {"success_rate": aug.uae_success_rate_,
                         "distortion_linf_mean": float(info["distortion_linf"].mean()),
                         "distortion_linf_units_mean": float(info["distortion_linf_units"].mean()),
                         "eps_scale": "none" if scale is None else scale.tolist(),
                         "constraint_satisfaction": float(np.mean(
                             info["constraints_satisfied"])) if "constraints_satisfied" in info
                         else None,
                         "distortion_l2_mean": float(info["distortion_l2"].mean())}
        idx = aug.augment_indices_[:8]
        # batch invariance: regenerating a few rows gives the UAEs trained on
        record["examples"] = {"original": X_train[idx].tolist(),
                              "adversarial": aug.generator_.transform(X_train[idx]).tolist(),
                              "success": info["success"][:8].tolist()}
    return record


def _none_epochs(model, n, epochs, ratio, retrain):
    """Epochs on ``n`` rows that come nearest the augmented methods' optimiser steps.

    Counting rows instead (``(1 + ratio) * epochs``) gives ``none`` more steps
    whenever the rows do not fill whole batches: 160 against 140 for 398 rows
    in batches of 128.
    """
    batch = model.get_params().get("batch_size", -1)
    per_epoch = (lambda rows: 1) if batch in (-1, None) else (lambda rows: -(-rows // batch))
    n_aug = n + int(round(ratio * n))
    steps = epochs * (per_epoch(n_aug) + _FIRST_FIT[retrain] * per_epoch(n))
    return max(1, int(round(steps / per_epoch(n))))


def _steps(net):
    """Optimiser steps (training mini-batches) of a skorch net, over its history."""
    return int(sum(sum("train_batch_size" in b for b in epoch["batches"])
                   for epoch in net.history))


def _samples_seen(net):
    """Training rows a skorch net was trained on, summed over its history."""
    return int(sum(sum(b["train_batch_size"] for b in epoch["batches"] if "train_batch_size" in b)
                   for epoch in net.history))


# ----------------------------------------------------------- adversarial training
# the models of compare_robustness (``sk-uae robustness --model``) and their kinds
ROBUSTNESS_MODELS = {"autoencoder": "autoencoder", "classifier": "classifier",
                     "concrete": "encoder", "contrastive": "encoder"}
TRAINING_ATTACKS = ("pgd", "noise", "uae")


def _robustness_model(model, n_features, epochs, seed):
    """An unfitted model of :func:`compare_robustness` (see its ``model``)."""
    if model == "classifier":
        return ClassifierNet(module__hidden_units=(64,), max_epochs=epochs, lr=1e-2,
                             random_state=seed)
    task, name = {"autoencoder": ("reconstruction", "sparse"),
                  "concrete": ("representation", "concrete"),
                  "contrastive": ("contrastive", "mlp")}[model]
    return make_model(task, name, n_features, None, epochs, seed)


def training_attack(name, eps, max_iter=10):
    """The attack of :func:`compare_robustness`'s adversarial training, by name.

    Parameters
    ----------
    name : {"pgd", "noise", "uae"}
        ``"pgd"``: :class:`~sk_uae.attacks.PGD` on the model's own
        objective (high loss), ``max_iter`` steps of ``eps / 4``;
        ``"noise"``: :class:`~sk_uae.attacks.GaussianNoise` rescaled to
        L-infinity ``eps``; ``"uae"``: :class:`~sk_uae.attacks.MinMaxMINE`
        (unsupervised adversarial examples; supervised on a classifier),
        ``max_iter`` iterations.
    eps : float
        The budget, in units of each column's range (``eps_scale="range"``).
    max_iter : int, default=10
        Iterations of PGD and MinMax MINE.

    Returns
    -------
    BaseAttack
    """
    if name == "pgd":
        return PGD(eps=eps, eps_step=eps / 4, max_iter=max_iter)
    if name == "noise":
        return GaussianNoise(eps=eps)
    if name == "uae":
        return MinMaxMINE(eps=eps, max_iter=max_iter)
    raise ValueError(f"attack {name!r} is not known; expected one of {TRAINING_ATTACKS}.")


_ROBUSTNESS_CONSTRAINTS = {
    "model": [StrOptions(set(ROBUSTNESS_MODELS))],
    "attack": [StrOptions(set(TRAINING_ATTACKS)), BaseAttack],
    "eps": [Interval(Real, 0, None, closed="neither")],
    "eps_grid": [list, tuple, np.ndarray],
    "every": [StrOptions(set(EVERY))],
    "ratio": [Interval(Real, 0, 1, closed="both")],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "constraints": [FeatureConstraints, None],
    "seed": [Interval(Integral, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "verbose": ["verbose"],
}


def compare_robustness(X_train, X_test, y_train=None, y_test=None, *, model="autoencoder",
                       attack="pgd", eps=0.1, eps_grid=DEFAULT_EPS, every="batch", ratio=1.0,
                       epochs=20, max_iter=10, constraints=None, seed=0, batch_size=256,
                       device="cpu", verbose=0):
    """Robustness curves of one model trained without and with adversarial training.

    The model is trained twice on ``X_train`` with the same seed, for
    ``epochs`` epochs each (the same optimiser steps): as it is (``"none"``)
    and with an :class:`~sk_uae.AdversarialTraining` callback
    (``"adversarial"``), whose examples join every batch (so that model
    sees ``1 + ratio`` times the rows). Both are then attacked on
    ``X_test`` at every budget of ``eps_grid`` by
    :func:`~sk_uae.metrics.robustness_curve` with a PGD of ``max_iter``
    steps of a quarter of the budget on the model's own objective (and, for
    the autoencoder, MinMax MINE of ``max_iter`` iterations for the UAE
    success rate).

    Parameters
    ----------
    X_train, X_test : ndarray of shape (n, d)
        Training rows and attacked held-out rows.
    y_train, y_test : ndarray of shape (n,), optional
        Labels: needed for the classifier; for the encoders they add the
        probe's accuracy to the curve.
    model : {"autoencoder", "classifier", "concrete", "contrastive"}, default="autoencoder"
        A sparse autoencoder, an MLP classifier (64 hidden units), a concrete
        autoencoder (an encoder: a feature selection) or an MLP
        contrastive net (an encoder), as :func:`make_model` makes them.
    attack : {"pgd", "noise", "uae"} or BaseAttack, default="pgd"
        The attack of the adversarial training (see :func:`training_attack`).
    eps : float, default=0.1
        Its budget, in units of each column's range.
    eps_grid : sequence of float, default=(0.0, 0.05, 0.1, 0.2, 0.3)
        The budgets of the curves.
    every : {"batch", "epoch"}, default="batch"
        Which net the training examples are made against: the current one
        at each step, or the one at the start of each epoch (see
        :class:`~sk_uae.AdversarialTraining`).
    ratio : float in [0, 1], default=1.0
        Share of every batch's rows that get an example.
    epochs : int, default=20
        Training epochs of both models.
    max_iter : int, default=10
        Iterations of the training attack (PGD, MinMax MINE) and of the
        curves' attacks.
    constraints : FeatureConstraints, default=None
        Columns every example keeps, in training and in the curves (e.g.
        the one-hot categories of an encoded table; see
        :meth:`~sk_uae.FeatureConstraints.from_column_transformer`).
    seed : int, default=0
        Seed of the models, the attacks and the probe's folds.
    batch_size : int, default=256
        Rows attacked together (results do not depend on it).
    device : str, default="cpu"
        Where the attacks run.
    verbose : int, default=0
        ``>= 1`` shows a progress bar over the four stages (two fits, two
        curves).

    Returns
    -------
    dict
        ``kind`` (``"autoencoder"``, ``"classifier"`` or ``"encoder"``),
        ``curves`` (``{"none": DataFrame, "adversarial": DataFrame}``, see
        :func:`~sk_uae.metrics.robustness_curve`), ``training``
        (per model: ``seconds`` of its fit, timed after an untimed one-epoch
        fit that pays torch's start-up, ``rows_seen`` summed over its
        epochs, and for ``"adversarial"`` the attack's ``adv_rows``,
        ``adv_iterations`` and ``adv_seconds`` summed over the epochs).
    """
    from tqdm.auto import tqdm

    validate_parameter_constraints(_ROBUSTNESS_CONSTRAINTS, dict(
        model=model, attack=attack, eps=eps, eps_grid=eps_grid, every=every, ratio=ratio,
        epochs=epochs, max_iter=max_iter, constraints=constraints, seed=seed,
        batch_size=batch_size, device=device, verbose=verbose), caller_name="compare_robustness")
    kind = ROBUSTNESS_MODELS[model]
    if kind == "classifier" and (y_train is None or y_test is None):
        raise ValueError("model 'classifier' is trained and judged with labels; the data have "
                         "none.")
    labelled = y_train is not None and y_test is not None
    train_attack = attack if isinstance(attack, BaseAttack) else training_attack(
        attack, eps, max_iter)
    base = _robustness_model(model, X_train.shape[1], epochs, seed)
    if constraints is not None:
        constraints = clone(constraints).fit(X_train)
    callback = AdversarialTraining(train_attack, every=every, ratio=ratio, batch_size=batch_size,
                                   device=device, constraints=constraints, random_state=seed)
    nets = {"none": clone(base),
            "adversarial": clone(base).set_params(callbacks=[("adversarial", callback)])}
    curve_kw = dict(attack=PGD(eps=0.1, eps_step=0.025, max_iter=max_iter),
                    uae_attack=MinMaxMINE(max_iter=max_iter), constraints=constraints,
                    batch_size=batch_size, random_state=seed, device=device)
    y_fit = y_train if labelled else None
    bar = tqdm(total=4, disable=not verbose, desc="robustness", unit="stage")
    training, curves = {}, {}
    try:
        for name, net in nets.items():
            bar.set_postfix(stage=f"fit {name}")
            # the first fit in a process pays torch's one-off start-up (thread pool, first
            # calls of its kernels); a one-epoch fit of a throwaway copy keeps that out of
            # the timings that are compared (one epoch does not train it: no verdict on that)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FitQualityWarning)
                clone(net).set_params(max_epochs=1).fit(X_train, y_fit)
            start = time.perf_counter()
            net.fit(X_train, y_fit)
            training[name] = {"seconds": time.perf_counter() - start,
                              "rows_seen": _samples_seen(net)}
            if name == "adversarial":
                training[name].update({key: _history_sum(net, key) for key in
                                       ("adv_rows", "adv_iterations", "adv_seconds")})
            bar.update()
        for name, net in nets.items():
            bar.set_postfix(stage=f"curve {name}")
            curves[name] = robustness_curve(net, X_test, y_test if labelled else None,
                                            eps=eps_grid, **curve_kw)
            bar.update()
    finally:
        bar.close()
    return {"kind": kind, "curves": curves, "training": training}


def _history_sum(net, key):
    """A per-epoch quantity of a skorch net's history, summed over its epochs."""
    return float(sum(epoch.get(key, 0) for epoch in net.history))
