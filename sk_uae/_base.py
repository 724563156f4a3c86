"""The base of the UAE estimators: shared parameters, their checks, docs and helpers.

:class:`UAEGenerator`, :class:`UAEAugmenter` and :class:`UAESampler` share
eight parameters (the model, the attack and how the attack runs). They are
declared here once -- constraints, docstring fragments and the checks that
``_parameter_constraints`` cannot express -- together with the helpers all
three need: fitting a clone of the model and attacking rows in parallel.
"""

import os
from numbers import Integral

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory

from .attacks import BaseAttack, MinMaxMINE
from .constraints import FeatureConstraints
from .models import AutoencoderNet
from .utils import resolve_device, torch_seed
from .utils._checks import check_finite_train_loss
from .utils._torch import PRECISIONS, one_torch_thread

SHARED_DOCS = {
    "estimator": """\
    estimator : skorch-style net, default=None
        The model to fit (a clone; never fitted in place) and attack; it
        must expose its torch module as ``module_`` once fitted. ``None``
        means ``AutoencoderNet()`` (a dense autoencoder). A
        ``sklearn.frozen.FrozenEstimator`` around a fitted model is used as
        it is, never refitted.""",
    "attack": """\
    attack : BaseAttack, default=None
        The attack that makes the adversarial examples; ``None`` means
        ``MinMaxMINE()``, the paper's MinMax MINE attack. Its parameters are
        reachable as ``attack__<name>``; a fitted clone is kept as
        ``attack_``.""",
    "run": """\
    batch_size : int, default=64
        Rows attacked together. Results do not depend on it.
    device : str or torch.device, default="cpu"
        Where the attack runs: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or
        ``"auto"`` (CUDA when available). The models train on their own
        ``device`` parameter.
    random_state : int, RandomState or None, default=None
        Seeds the model's training and every draw of the attack; an int
        makes the results repeatable, ``None`` draws a fresh seed every time.
    verbose : int, default=0
        ``> 0`` shows a progress bar over the attacked batches; ``>= 2``
        also logs every iteration of iterative attacks (for MinMax: mean
        ``c``, ``f``, MI and the share of rows meeting the goal) to the
        ``"sk_uae"`` logger at INFO level. Both in sequential runs only
        (``n_jobs`` workers stay silent). The models' own output follows
        their ``verbose``.
    n_jobs : int or None, default=None
        Processes (or workers of the active joblib backend) that attack the
        rows in parallel: the rows are cut into ``n_jobs`` contiguous chunks
        of whole batches and handed to :class:`joblib.Parallel`, each worker
        using one torch thread. ``None`` means 1 unless inside a
        :func:`joblib.parallel_config` context; ``-1`` means all processors.
        Under ``joblib.parallel_config(backend="dask")`` with a
        ``dask.distributed.Client`` the chunks run on the Dask cluster.
        Without workers the CPU's cores still work: the batches run side by
        side on threads, ``torch.get_num_threads()`` of them. Results do not
        depend on it nor on torch's thread count (every batch runs on one
        torch thread, as in a sequential run).
    precision : {"float32", "float64", "bfloat16", "float16"}, default="float32"
        Precision of the attacked model's forward and backward passes during
        the attack. ``"float64"`` runs the whole attack -- a float64 copy of
        the model, the perturbation, the dual variables and the MINE
        networks -- in double precision: slower, but free of float32
        rounding, so that results agree across batch layouts and machines to
        float64 accuracy. ``"bfloat16"`` and ``"float16"`` use
        :func:`torch.autocast` for the model only (the rest stays float32);
        they can be faster for large models on GPUs with tensor cores but
        change the examples, and a goal such as MinMax's ``f(x') == 0``
        compares two nearly equal losses that rounding alone can make equal:
        every success is therefore re-checked in float32 (the attack's
        ``verify``; a failed re-check sets ``success`` to False). The
        model's training is unaffected.""",
    "constraints": """\
    constraints : FeatureConstraints, default=None
        Columns the examples must keep (immutable, integer, one-hot,
        bounds, directions; see :class:`~sk_uae.FeatureConstraints`): every
        attack keeps them at each step and repairs integer and one-hot
        columns at the end, re-checking its goal on the repaired example. A
        clone is fitted on the training rows (``constraints_``); the
        per-row satisfaction is reported as ``constraints_satisfied``.""",
    "memory": """\
    memory : str, path-like, joblib.Memory-like or None, default=None
        Caches the fit of the model on the training rows, as
        ``Pipeline(memory=...)`` caches its transformers: ``None`` caches
        nothing, a path is the folder of a :class:`joblib.Memory`, and any
        object with a joblib-style ``cache`` method is used as it is (it
        must return a fresh copy on every hit, as ``joblib.Memory`` does:
        ``retrain="continue"`` trains the result further). The fit is keyed
        on the unfitted model's parameters, the rows, the labels and the
        seed, so the candidates of a ``GridSearchCV`` that differ only in
        the attack or in the rows it attacks (``ratio``,
        ``sampling_strategy``) train the model once per fold -- also across
        ``n_jobs`` processes, the cache being on disk -- provided
        ``random_state`` is an int (``None`` draws a new seed, hence a new
        key, every fit). Results are those without a cache. The cache is
        never cleared: delete the folder when done. Fits on the UAEs are not
        cached (they differ by candidate).""",
    "ratio": """\
    ratio : float in [0, 1], default=1.0
        Fraction of the rows that get an adversarial example (chosen at
        random); 1.0 doubles the data, as in the paper, and 0 adds none.""",
}


class _BaseUAE(BaseEstimator):
    """Shared parameters and helpers of the UAE estimators (not for direct use)."""

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "attack": [BaseAttack, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
        "precision": [StrOptions(set(PRECISIONS))],
        "constraints": [FeatureConstraints, None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
    }

    def __init__(self, estimator=None, attack=None, *, batch_size=64, device="cpu",
                 random_state=None, verbose=0, n_jobs=None, precision="float32",
                 constraints=None, memory=None):
        self.estimator = estimator
        self.attack = attack
        self.constraints = constraints
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.precision = precision
        self.memory = memory

    def _shared_params(self):
        """The values of the shared parameters, by name."""
        return {name: getattr(self, name) for name in _BaseUAE._parameter_constraints}

    def _check_shared(self):
        """What the constraints cannot check: the device must exist here."""
        resolve_device(self.device)

    def _check_memory(self):
        """``memory`` as an object with ``cache`` (a path becomes a ``joblib.Memory``)."""
        memory = os.fspath(self.memory) if isinstance(self.memory, os.PathLike) else self.memory
        return check_memory(memory)

    def _fit_estimator(self, X, y, seed, memory=None):
        """A fitted clone of ``estimator`` (``None``: ``AutoencoderNet()``), trained with ``seed``.

        The seed goes to the clone's ``random_state`` when it has one left at
        ``None``, and seeds torch around the fit for models that have none.
        A ``FrozenEstimator`` gives its fitted model, also after ``clone``.
        With ``memory`` (checked by ``check_memory``) the fit goes through
        ``memory.cache``, keyed on the unfitted clone, the rows and the seed.
        A skorch net whose training loss ends up infinite or NaN raises
        ``ValueError``: its examples would be X unchanged, with NaN scores.
        """
        if isinstance(self.estimator, FrozenEstimator):
            check_is_fitted(self.estimator.estimator)
            return self.estimator.estimator
        est = clone(self.estimator) if self.estimator is not None else AutoencoderNet()
        if est.get_params().get("random_state", 0) is None:
            est.set_params(random_state=seed)
        X = X.astype(np.float32, copy=False)
        fit = _fit_seeded if memory is None else memory.cache(_fit_seeded)
        est = fit(est, X, y, seed)
        # also for a user's own skorch net, which does not check itself as ours do
        check_finite_train_loss(est, X)
        return est

    def _fit_constraints(self, X):
        """A clone of ``constraints`` fitted on the training rows (names from ``fit``), or None."""
        if self.constraints is None:
            return None
        return clone(self.constraints).fit(
            X, feature_names=getattr(self, "feature_names_in_", None))

    def _fit_attack(self, X):
        """A clone of ``attack`` (``None``: ``MinMaxMINE()``) fitted on the training rows."""
        attack = self.attack if self.attack is not None else MinMaxMINE()
        return clone(attack).fit(X)

    def _perturb(self, model, attack, X, y, seed):
        """``attack.perturb`` of the rows, in ``n_jobs`` batch-aligned chunks when asked."""
        kwargs = dict(seed=seed, batch_size=self.batch_size, device=self.device,
                      precision=self.precision, constraints=getattr(self, "constraints_", None))
        n_chunks = min(effective_n_jobs(self.n_jobs), -(-X.shape[0] // self.batch_size))
        if n_chunks <= 1:
            return attack.perturb(model, X, y, verbose=self.verbose, **kwargs)
        # the workers resolve the engine on copies of the attack: resolve it here too
        attack._prepare_run(resolve_device(self.device), model)
        chunks = _batch_aligned_chunks(X.shape[0], self.batch_size, n_chunks)
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_perturb_chunk)(attack, model, X[a:b], None if y is None else y[a:b],
                                    kwargs)
            for a, b in chunks)
        X_adv = np.concatenate([r[0] for r in results])
        info = {k: np.concatenate([r[1][k] for r in results]) for k in results[0][1]}
        return X_adv, info

    def _deterministic(self):
        return isinstance(self.random_state, (Integral, np.integer)) and not isinstance(
            self.random_state, bool)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = not self._deterministic()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


def _fit_seeded(est, X, y, seed):
    """Fit ``est`` with torch seeded by ``seed``, on one torch intra-op thread.

    One thread: the fit's rounding is then the same whatever the thread
    settings, and the small nets the estimators train gain nothing from
    more threads on an idle machine but lose severalfold beside other work
    (``docs/architecture.md``, "Threads").

    A module-level function of its arguments only, so that ``memory.cache``
    can key it on them. A cache hit returns a fresh unpickled copy (joblib
    loads the file anew every call), so retraining the result in place
    (``retrain="continue"``) never alters the cached model.
    """
    with torch_seed(seed), one_torch_thread():
        if y is None:
            est.fit(X)
        else:
            est.fit(X, y)
    return est


def _batch_aligned_chunks(n, batch_size, n_chunks):
    """``(start, stop)`` of ``n_chunks`` contiguous chunks made of whole batches.

    Every batch of a chunk is a batch of the sequential run, so a parallel
    run does exactly the same arithmetic.
    """
    n_batches = -(-n // batch_size)
    bounds = np.linspace(0, n_batches, n_chunks + 1).round().astype(int)
    return [(int(a) * batch_size, min(int(b) * batch_size, n))
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _perturb_chunk(attack, model, X, y, kwargs):
    """Joblib task: attack one chunk of rows with one torch thread, no progress bar."""
    with one_torch_thread():
        return attack.perturb(model, X, y, verbose=0, **kwargs)
