"""UAEGenerator: adversarial examples as a scikit-learn transformer."""

import copy
import inspect
import logging
import threading
from contextlib import contextmanager
from numbers import Integral

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data
from tqdm.auto import tqdm

from .attacks import BaseAttack, MinMaxMINE, resolve_objective
from .attacks._minmax import minmax_goal_met
from .models import AutoencoderNet, first_layer_features
from .utils import resolve_device, seed_from_random_state, torch_seed
from .utils._torch import PRECISIONS, with_precision


class UAEGenerator(TransformerMixin, BaseEstimator):
    """Transformer that maps ``X`` to adversarial examples of a fitted model.

    ``fit`` trains a clone of ``estimator`` (or takes it as is with
    ``prefit=True``); ``transform`` returns, for every row, the adversarial
    example that ``attack`` finds against the fitted model, with the same
    shape and dtype. With the default :class:`~sk_uae.attacks.MinMaxMINE`
    attack and an autoencoder these are the paper's unsupervised
    adversarial examples (UAEs): inputs that the autoencoder reconstructs at
    least as well as the originals while sharing as little information with
    them as the per-sample MINE can find.

    Parameters
    ----------
    estimator : skorch-style net, default=None
        The model to attack; ``None`` means ``AutoencoderNet()`` (a dense
        autoencoder). It must expose its torch module as ``module_`` once
        fitted.
    attack : BaseAttack, default=None
        ``None`` means ``MinMaxMINE()``. Its parameters are reachable as
        ``attack__<name>``.
    prefit : bool, default=False
        Use ``estimator`` as already fitted instead of fitting a clone. Like
        scikit-learn's ``prefit`` options it does not survive ``clone`` (a
        clone's estimator is unfitted); under ``GridSearchCV`` or
        ``cross_validate`` pass ``sklearn.frozen.FrozenEstimator(model)`` as
        ``estimator`` instead, which is used as it is, never refitted.
    batch_size : int, default=64
        Rows attacked together. Results do not depend on it.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or ``"auto"``; where the attack runs.
    random_state : int, RandomState or None, default=None
        Seeds the model's training and every draw of the attack. An int makes
        ``fit`` and ``transform`` repeatable. :meth:`generate_to` requires an
        int (a resumed run must use the seed of the interrupted one).
    verbose : int, default=0
        ``> 0`` shows a progress bar over batches (sequential runs only);
        ``>= 2`` also logs the MinMax loop of every iteration (mean ``c``,
        ``f``, MI and the share of rows meeting the goal) to the
        ``"sk_uae"`` logger at INFO level.
    n_jobs : int or None, default=None
        Processes (or workers of the active joblib backend) that attack the
        rows in parallel: the rows are cut into ``n_jobs`` contiguous chunks
        of whole batches and handed to :class:`joblib.Parallel`, each worker
        using one torch thread. ``None`` means 1 unless inside a
        :func:`joblib.parallel_config` context; ``-1`` means all processors.
        Under ``joblib.parallel_config(backend="dask")`` with a
        ``dask.distributed.Client`` the chunks run on the Dask cluster.
        Results do not depend on it (every batch is the same as in a
        sequential run).
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Precision of the attacked model's forward and backward passes during
        the attack (:func:`torch.autocast`; the model's weights, the
        perturbation, the dual variables and the MINE networks stay float32).
        Reduced precision can be faster for large models on GPUs with tensor
        cores but changes the examples, and the MinMax goal ``f(x') == 0``
        compares two nearly equal losses that rounding alone can make equal:
        every MinMax success is therefore re-checked in float32 (a failed
        re-check sets ``success`` to False). The model's training is
        unaffected. See the performance page for measured differences.

    Attributes
    ----------
    estimator_ : estimator
        The fitted (or prefit) model that is attacked.
    n_features_in_ : int

    See Also
    --------
    sk_uae.attacks.MinMaxMINE : the attack and its parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae import UAEGenerator
    >>> from sk_uae.attacks import MinMaxMINE
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(40, 16).astype("float32")
    >>> gen = UAEGenerator(AutoencoderNet(max_epochs=2), MinMaxMINE(eps=0.1, max_iter=3),
    ...                    random_state=0).fit(X)
    >>> X_adv, info = gen.generate(X, return_info=True)
    >>> X_adv.shape, bool(np.abs(X_adv - X).max() <= 0.1 + 1e-6)
    ((40, 16), True)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "attack": [BaseAttack, None],
        "prefit": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
        "precision": [StrOptions(set(PRECISIONS))],
    }

    def __init__(self, estimator=None, attack=None, *, prefit=False, batch_size=64,
                 device="cpu", random_state=None, verbose=0, n_jobs=None,
                 precision="float32"):
        self.estimator = estimator
        self.attack = attack
        self.prefit = prefit
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.precision = precision

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y=None):
        """Fit the model to attack (unless ``prefit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows of the model (float32 or float64; the model is
            fitted on float32). With ``prefit=True`` only their number of
            columns is checked.
        y : array-like of shape (n_samples,), default=None
            Passed to the model's ``fit`` when given (autoencoders ignore it).

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_data(self, X, dtype=(np.float32, np.float64))
        if y is not None:
            check_consistent_length(X, y)
        self._check_attack()
        resolve_device(self.device)
        if self.prefit:
            if self.estimator is None:
                raise ValueError("prefit=True needs a fitted `estimator`; got None.")
            check_is_fitted(
                self.estimator,
                msg=("prefit=True needs a fitted `estimator`, but %(name)s is not fitted. "
                     "clone() (e.g. in GridSearchCV) unfits it; wrap a fitted model in "
                     "sklearn.frozen.FrozenEstimator instead of using prefit=True there."))
            n_in = getattr(self.estimator, "n_features_in_", X.shape[1])
            if n_in != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features, but the prefit estimator was fitted on "
                    f"{n_in}; pass X with the columns the estimator was trained on."
                )
            self.estimator_ = self.estimator
            return self
        self.estimator_ = fit_clone(self.estimator, X, y, seed_from_random_state(self.random_state))
        return self

    def _check_attack(self):
        attack = self._attack()
        attack._check()
        return attack

    def _attack(self):
        return self.attack if self.attack is not None else MinMaxMINE()

    # -------------------------------------------------------------- generating
    def generate(self, X, y=None, return_info=True):
        """Adversarial examples of ``X``, with per-sample statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to attack, with the columns seen in ``fit`` and within the
            attack's ``clip_values`` (when it has them).
        y : array-like of shape (n_samples,), default=None
            Labels, for attacks on classifiers: the true labels (untargeted;
            ``None`` uses the classifier's own predictions) or the targets
            (attacks with ``targeted=True``, where they are required). Mapped
            to logit columns through the classifier's ``classes_``.
        return_info : bool, default=True
            Also return a dict of per-sample arrays.

        Returns
        -------
        X_adv : ndarray of shape (n_samples, n_features), dtype of ``X``
        info : dict, only with ``return_info=True``
            ``success`` (bool: an iterate met the attack's goal), ``mi`` (the
            per-sample MINE estimate of the returned example; NaN for attacks
            without one), ``loss`` (its attack loss, see
            :class:`~sk_uae.attacks.AttackResult`), ``distortion_linf`` and
            ``distortion_l2``.
        """
        X, y, attack = self._check_generate_input(X, y)
        seed = seed_from_random_state(self.random_state)
        X_adv, info = self._generate_rows(X, y, attack, seed)
        return (X_adv, info) if return_info else X_adv

    def generate_to(self, path, X, y=None, *, shard_size=1024, resume=True, return_info=False):
        """Stream the adversarial examples of ``X`` to disk, shard by shard, resumably.

        The rows are attacked ``shard_size`` at a time (each shard in batches
        of ``batch_size``, over ``n_jobs`` workers); every finished shard is
        written to ``path`` (``shard_<i>.npy`` and ``shard_<i>.info.npy``)
        and recorded in ``path/manifest.json`` with the sha256 of its files
        and a fingerprint of what determines it: the generator's and the
        attack's parameters, a hash of the fitted model's ``state_dict``, the
        seed and a hash of the shard's input rows (and labels). The result
        is assembled into ``path/X_adv.npy`` (and ``path/info.npy``),
        preallocated and filled shard by shard, so memory is bounded by
        ``shard_size`` and ``batch_size``, not by ``len(X)`` (pass a
        memory-mapped ``X``, e.g. ``np.load(..., mmap_mode="r")``, to keep
        the input off memory too).

        Called again on the same ``path`` (e.g. after the process was
        killed), it reuses the shards whose files still match their
        checksum and whose fingerprint equals the one of this call, and
        recomputes the others (corrupt files, other parameters, model, seed
        or data); the output is byte-identical to an uninterrupted run.

        Parameters
        ----------
        path : str or path-like
            Output directory; created if needed. It must be empty, new, or
            the directory of an earlier ``generate_to`` call.
        X : array-like of shape (n_samples, n_features)
            Rows to attack, as in :meth:`generate`; a memory-mapped array is
            read one shard at a time.
        y : array-like of shape (n_samples,), default=None
            As in :meth:`generate`.
        shard_size : int, default=1024
            Rows per shard (unit of checkpointing and of memory use).
        resume : bool, default=True
            Reuse verified shards already in ``path``; ``False`` recomputes all.
        return_info : bool, default=False
            Also return the per-sample statistics (see :meth:`generate`) as
            a dict of read-only memory-mapped arrays.

        Returns
        -------
        X_adv : numpy.memmap of shape (n_samples, n_features), read-only
            ``np.load(path/X_adv.npy, mmap_mode="r")``.
        info : dict of read-only arrays, only with ``return_info=True``

        Raises
        ------
        ValueError
            If ``random_state`` is not an int: a resumed run must draw the
            same random numbers as the interrupted one, so the seed has to
            be fixed. Also for a bad ``shard_size`` or a non-empty ``path``
            that is not a ``generate_to`` output.
        """
        from . import _streaming as st

        if not (isinstance(self.random_state, (Integral, np.integer))
                and not isinstance(self.random_state, bool)):
            raise ValueError(
                "generate_to needs an int random_state so that a resumed run uses the seed "
                f"of the interrupted one; got random_state={self.random_state!r}. Set e.g. "
                "gen.set_params(random_state=0).")
        if not isinstance(shard_size, Integral) or isinstance(shard_size, bool) \
                or shard_size < 1:
            raise ValueError(f"shard_size must be an int >= 1; got {shard_size!r}.")
        if not isinstance(resume, (bool, np.bool_)):
            raise ValueError(f"resume must be a bool; got {resume!r}.")
        X, y, attack = self._check_generate_input(X, y)
        seed = seed_from_random_state(self.random_state)
        gen_params = {k: v for k, v in self.get_params(deep=False).items()
                      if k not in ("estimator", "attack", "n_jobs", "verbose", "random_state")}
        header = {
            "generator": st.jsonable(gen_params),
            "attack": st.jsonable(attack),
            "model": {"class": st.jsonable(type(self.estimator_)),
                      "state_dict_sha256": st.hash_state_dict(self.estimator_.module_)},
            "seed": seed,
            "dtype": X.dtype.str,
            "n_features": int(X.shape[1]),
        }
        common = st.digest(header)

        def fingerprint(start, stop):
            return st.digest({"common": common, "start": start, "stop": stop,
                              "X": st.hash_array(X[start:stop]),
                              "y": None if y is None else st.hash_array(y[start:stop])})

        def compute(start, stop):
            X_adv, info = self._generate_rows(X[start:stop],
                                              None if y is None else y[start:stop], attack, seed)
            return X_adv, st.info_to_struct(info)

        st.stream_to(path, n_samples=X.shape[0], n_features=X.shape[1], dtype=X.dtype,
                     shard_size=int(shard_size), header=header, fingerprint=fingerprint,
                     compute=compute, resume=bool(resume))
        X_adv, info = st.open_outputs(path)
        return (X_adv, st.struct_to_info(info)) if return_info else X_adv

    def _check_generate_input(self, X, y):
        check_is_fitted(self, "estimator_")
        if self.n_jobs is not None and (
                not isinstance(self.n_jobs, Integral) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be a nonzero int or None; got {self.n_jobs!r}.")
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        attack = self._check_attack()
        _check_clip(X, getattr(attack, "clip_values", None))
        if y is not None:
            y = np.asarray(y)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}.")
        return X, y, attack

    def _generate_rows(self, X, y, attack, seed):
        """Attack the (validated) rows ``X``, in parallel when ``n_jobs`` asks for it."""
        n_chunks = min(effective_n_jobs(self.n_jobs), -(-X.shape[0] // self.batch_size))
        if n_chunks <= 1:
            return self._attack_rows(X, y, attack, seed)
        chunks = _batch_aligned_chunks(X.shape[0], self.batch_size, n_chunks)
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_attack_chunk)(self, X[a:b], None if y is None else y[a:b], attack, seed)
            for a, b in chunks)
        X_adv = np.concatenate([r[0] for r in results])
        info = {k: np.concatenate([r[1][k] for r in results]) for k in results[0][1]}
        return X_adv, info

    def _attack_rows(self, X, y, attack, seed, progress=True):
        """The batch loop of :meth:`generate`, in this process."""
        clip = getattr(attack, "clip_values", None)
        device = resolve_device(self.device)
        module, restore = self._module_on(device)
        try:
            def objective_in(precision):
                return resolve_objective(
                    self.estimator_, getattr(attack, "objective", "auto"),
                    module=with_precision(module, precision),
                    targeted=getattr(attack, "targeted", False),
                    confidence=getattr(attack, "confidence", 0.0))

            objective = objective_in(self.precision)
            # reduced precision: the goal f == 0 compares nearly equal losses, so
            # rounding alone can meet it; every success is re-checked in float32
            recheck = None
            if self.precision != "float32" and isinstance(attack, MinMaxMINE):
                recheck = objective_in("float32")
            y = _labels_for(objective, y)
            feature_fn = None
            if getattr(attack, "pairs", None) == "features":
                feature_fn = first_layer_features(module)
            parts = []
            batches = range(0, X.shape[0], self.batch_size)
            for start in tqdm(batches, disable=not (self.verbose and progress), desc="UAE",
                              unit="batch"):
                stop = start + self.batch_size
                xb = torch.tensor(X[start:stop], dtype=torch.float32, device=device)
                yb = None if y is None else torch.as_tensor(y[start:stop], device=device)
                kwargs = {}
                if self.verbose >= 2 and "callback" in inspect.signature(attack.run).parameters:
                    kwargs["callback"] = _diagnostics(start // self.batch_size)
                res = attack.run(xb, objective, y=yb, feature_fn=feature_fn, seed=seed, **kwargs)
                part = {k: getattr(res, k).detach() for k in ("x_adv", "success", "mi", "loss")}
                if recheck is not None:
                    met = minmax_goal_met(recheck, part["x_adv"], xb, yb)
                    part["success"] = part["success"] & met
                parts.append({k: v.cpu().numpy() for k, v in part.items()})
        finally:
            restore()
        return _assemble(parts, X, attack, clip)

    def _module_on(self, device):
        module = self.estimator_.module_
        param = next(module.parameters(), None)
        if param is not None and param.device != device:
            module = copy.deepcopy(module).to(device)
        was_training = module.training
        module.eval()
        return module, (lambda: module.train(was_training))

    def transform(self, X):
        """Adversarial examples of ``X`` (same shape and dtype).

        No labels are passed: on a classifier an untargeted attack starts
        from the model's own predictions, and a targeted one needs
        :meth:`generate` with the targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to attack, as in :meth:`generate`.

        Returns
        -------
        X_adv : ndarray of shape (n_samples, n_features)
            The adversarial examples, in the dtype of ``X``.
        """
        return self.generate(X, return_info=False)

    def score(self, X, y=None):
        """Attack success rate on ``X`` (fraction of rows whose goal is met).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to attack, as in :meth:`generate`.
        y : array-like of shape (n_samples,), default=None
            Labels for attacks on classifiers, as in :meth:`generate`.

        Returns
        -------
        float
            Mean of the per-sample ``success`` of :meth:`generate`.
        """
        _, info = self.generate(X, y, return_info=True)
        return float(np.mean(info["success"]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None or not isinstance(
            self.random_state, (int, np.integer))
        tags.input_tags.allow_nan = False
        return tags


def _batch_aligned_chunks(n, batch_size, n_chunks):
    """``(start, stop)`` of ``n_chunks`` contiguous chunks made of whole batches.

    Every batch of a chunk is a batch of the sequential run, so a parallel
    run does exactly the same arithmetic.
    """
    n_batches = -(-n // batch_size)
    bounds = np.linspace(0, n_batches, n_chunks + 1).round().astype(int)
    return [(int(a) * batch_size, min(int(b) * batch_size, n))
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"depth": 0, "saved": None}


@contextmanager
def _one_torch_thread():
    """Limit torch to one intra-op thread inside the block (re-entrant across threads)."""
    with _THREADS_LOCK:
        if _THREADS_STATE["depth"] == 0:
            _THREADS_STATE["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_STATE["depth"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["depth"] -= 1
            if _THREADS_STATE["depth"] == 0:
                torch.set_num_threads(_THREADS_STATE["saved"])


def _attack_chunk(generator, X, y, attack, seed):
    """Joblib task: attack one chunk of rows with one torch thread."""
    with _one_torch_thread():
        return generator._attack_rows(X, y, attack, seed, progress=False)


_LOG = logging.getLogger("sk_uae")


def _diagnostics(batch):
    """Callback logging the MinMax loop of one batch (``verbose >= 2``)."""

    def log(t, *, c, f, mi):
        _LOG.info("batch %d iteration %d: mean c %.4g, mean f %.4g, f == 0 for %.2f, "
                  "mean MI %.4g", batch, t, float(c.mean()), float(f.mean()),
                  float((f <= 0).float().mean()), float(mi.mean()))

    return log


def fit_clone(estimator, X, y, seed):
    """Fit a clone of ``estimator`` (``None``: a default ``AutoencoderNet``) with ``seed``.

    The seed goes to the clone's ``random_state`` when it has one left at
    ``None``, and seeds torch around the fit for models that have none.
    """
    if isinstance(estimator, FrozenEstimator):
        # a fitted model frozen by the user: used as it is, also after clone()
        check_is_fitted(estimator.estimator)
        return estimator.estimator
    est = clone(estimator) if estimator is not None else AutoencoderNet()
    if est.get_params().get("random_state", 0) is None:
        est.set_params(random_state=seed)
    X = X.astype(np.float32, copy=False)
    with torch_seed(seed):
        if y is None:
            est.fit(X)
        else:
            est.fit(X, y)
    return est


def _labels_for(objective, y):
    """Labels as the objective wants them: class indices for classifiers, none otherwise."""
    if y is None or not getattr(objective, "needs_labels", False):
        return None  # e.g. autoencoders: labels play no part in the attack
    encode = getattr(objective, "encode_labels", None)
    return encode(y) if encode is not None else y


def _check_clip(X, clip):
    if clip is None or X.size == 0:
        return
    lo, hi = clip
    if X.min() < lo or X.max() > hi:
        raise ValueError(
            f"X has values in [{X.min():.4g}, {X.max():.4g}], outside the attack's "
            f"clip_values=({lo}, {hi}); rescale X (e.g. images to [0, 1]) or set "
            "attack__clip_values=None for unbounded data."
        )


def _assemble(parts, X, attack, clip):
    if parts:
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        cat = {"x_adv": np.empty_like(X, dtype=np.float32), "success": np.empty(0, bool),
               "mi": np.empty(0, np.float32), "loss": np.empty(0, np.float32)}
    X_adv = cat.pop("x_adv").astype(X.dtype, copy=False)
    eps = getattr(attack, "eps", None)
    if eps is not None:  # re-impose the box in the caller's dtype
        X_adv = np.clip(X_adv, X - eps, X + eps)
    if clip is not None:
        X_adv = np.clip(X_adv, clip[0], clip[1])
    diff = (X_adv - X).astype(np.float64)
    info = {
        "success": cat["success"].astype(bool),
        "mi": cat["mi"].astype(np.float64),
        "loss": cat["loss"].astype(np.float64),
        "distortion_linf": np.abs(diff).max(axis=1) if diff.shape[1] else np.zeros(len(X)),
        "distortion_l2": np.sqrt((diff**2).sum(axis=1)),
    }
    return X_adv, info
