"""UAEGenerator: adversarial examples as a scikit-learn transformer."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from . import _streaming as st
from ._base import SHARED_DOCS, _BaseUAE
from .utils import resolve_device, seed_from_random_state
from .utils._versions import package_versions
from .utils._docstring import fill_doc


@fill_doc(**SHARED_DOCS)
class UAEGenerator(OneToOneFeatureMixin, TransformerMixin, _BaseUAE):
    """Transformer that maps ``X`` to adversarial examples of a fitted model.

    ``fit`` trains a clone of ``estimator`` (or takes it as is with
    ``prefit=True``) and fits the attack on the same rows (resolving, e.g.,
    ``clip_values="auto"`` to their range); ``transform`` returns, for
    every row, the adversarial example that ``attack`` finds against the
    fitted model, with the same shape, dtype and feature names. With the
    default :class:`~sk_uae.attacks.MinMaxMINE` attack and an autoencoder
    these are the paper's unsupervised adversarial examples (UAEs): inputs
    that the autoencoder reconstructs at least as well as the originals
    while sharing as little information with them as the per-sample MINE can
    find.

    Parameters
    ----------
    %(estimator)s
    %(attack)s
    prefit : bool, default=False
        Use ``estimator`` as already fitted instead of fitting a clone. Like
        scikit-learn's ``prefit`` options it does not survive ``clone`` (a
        clone's estimator is unfitted); under ``GridSearchCV`` or
        ``cross_validate`` pass ``sklearn.frozen.FrozenEstimator(model)`` as
        ``estimator`` instead, which is used as it is, never refitted.
    %(run)s
    %(constraints)s
    %(memory)s

    Attributes
    ----------
    estimator_ : estimator
        The fitted (or prefit) model that is attacked.
    attack_ : BaseAttack
        The fitted clone of ``attack`` (its ``clip_values_`` is the range
        the examples are clipped to).
    constraints_ : FeatureConstraints or None
        The fitted clone of ``constraints``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names (e.g. a pandas DataFrame).

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

    _parameter_constraints = {**_BaseUAE._parameter_constraints, "prefit": ["boolean"]}

    def __init__(self, estimator=None, attack=None, *, prefit=False, batch_size=64,
                 device="cpu", random_state=None, verbose=0, n_jobs=None,
                 precision="float32", constraints=None, memory=None):
        super().__init__(estimator, attack, batch_size=batch_size, device=device,
                         random_state=random_state, verbose=verbose, n_jobs=n_jobs,
                         precision=precision, constraints=constraints, memory=memory)
        self.prefit = prefit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the model to attack (unless ``prefit``) and the attack.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows of the model (float32 or float64; the model is
            fitted on float32). With ``prefit=True`` they are not trained
            on: only their number of columns is checked, and the attack is
            fitted on them (e.g. their range for ``clip_values="auto"``).
        y : array-like of shape (n_samples,), default=None
            Passed to the model's ``fit`` when given (autoencoders ignore it).

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=(np.float32, np.float64))
        if y is not None:
            check_consistent_length(X, y)
        self._check_shared()
        self.constraints_ = self._fit_constraints(X)
        memory = self._check_memory()
        self.attack_ = self._fit_attack(X)
        if self.prefit:
            self.estimator_ = self._check_prefit(X)
        else:
            self.estimator_ = self._fit_estimator(
                X, y, seed_from_random_state(self.random_state), memory)
        # e.g. MinMaxMINE's mine_backend_: the engine for this device and model
        self.attack_._prepare_run(resolve_device(self.device), self.estimator_)
        return self

    def _check_prefit(self, X):
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
        return self.estimator

    def generate(self, X, y=None, return_info=True):
        """Adversarial examples of ``X``, with per-sample statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to attack, with the columns seen in ``fit`` (and, for an
            explicit ``clip_values`` of the attack, within it up to float
            rounding).
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
            ``success`` (bool: an iterate met the attack's goal -- after the
            repair of integer and one-hot columns, when ``constraints`` has
            any), ``mi`` (the per-sample MINE estimate of the returned example,
            before such a repair; NaN for attacks without one), ``loss`` (its
            attack loss, see :class:`~sk_uae.attacks.AttackResult`),
            ``distortion_linf`` and ``distortion_l2`` (in the data's units),
            ``distortion_linf_units`` (the L-infinity distortion in the
            attack's ``eps_scale_`` units, comparable with its ``eps``; columns
            of unit 0 left out); with ``constraints``
            also ``constraints_satisfied`` (bool: the example keeps every
            constraint).
        """
        X, y = self._check_generate_input(X, y)
        X_adv, info = self._perturb(self.estimator_, self.attack_, X, y,
                                    seed_from_random_state(self.random_state))
        return (X_adv, info) if return_info else X_adv

    def generate_to(self, path, X, y=None, *, shard_size=1024, resume=True, return_info=False):
        """Stream the adversarial examples of ``X`` to disk, shard by shard, resumably.

        The rows are attacked ``shard_size`` at a time (each shard in batches
        of ``batch_size``, over ``n_jobs`` workers); every finished shard is
        written to ``path`` (``shard_<i>.npy`` and ``shard_<i>.info.npy``)
        and recorded in ``path/manifest.json`` with the sha256 of its files
        and a fingerprint of what determines it: the generator's and the
        attack's parameters, the engine that runs the attack (the attack's
        :meth:`~sk_uae.attacks.BaseAttack.engine_for`, e.g. MinMaxMINE's
        compiled or torch MINE step), the versions of sk_uae, torch, numpy
        and scikit-learn, a hash of the fitted model's ``state_dict``, the
        seed and a hash of the shard's input rows (and labels). The result
        is assembled into ``path/X_adv.npy`` (and ``path/info.npy``),
        preallocated and filled shard by shard, so memory is bounded by
        ``shard_size`` and ``batch_size``, not by ``len(X)`` (pass a
        memory-mapped ``X``, e.g. ``np.load(..., mmap_mode="r")``, to keep
        the input off memory too).

        Called again on the same ``path`` (e.g. after the process was
        killed), it reuses the shards whose files still match their
        checksum and whose fingerprint equals the one of this call, and
        recomputes the others (corrupt files, other parameters, engine,
        package versions, model, seed or data); the output is byte-identical
        to an uninterrupted run.

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
        if not self._deterministic():
            raise ValueError(
                "generate_to needs an int random_state so that a resumed run uses the seed "
                f"of the interrupted one; got random_state={self.random_state!r}. Set e.g. "
                "gen.set_params(random_state=0).")
        if not isinstance(shard_size, Integral) or isinstance(shard_size, bool) \
                or shard_size < 1:
            raise ValueError(f"shard_size must be an int >= 1; got {shard_size!r}.")
        if not isinstance(resume, (bool, np.bool_)):
            raise ValueError(f"resume must be a bool; got {resume!r}.")
        X, y = self._check_generate_input(X, y)
        seed = seed_from_random_state(self.random_state)
        gen_params = {k: v for k, v in self.get_params(deep=False).items()
                      if k not in ("estimator", "attack", "n_jobs", "verbose", "random_state",
                                   "memory")}
        header = {
            "generator": st.jsonable(gen_params),
            "attack": st.jsonable(self.attack_),
            # what runs: engines agree only to float rounding, so two must never mix
            "engine": self.attack_.engine_for(resolve_device(self.device), self.estimator_),
            "versions": package_versions(),
            "clip_values": st.jsonable(self.attack_.clip_values_),
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
            X_adv, info = self._perturb(self.estimator_, self.attack_, X[start:stop],
                                        None if y is None else y[start:stop], seed)
            return X_adv, st.info_to_struct(info)

        st.stream_to(path, n_samples=X.shape[0], n_features=X.shape[1], dtype=X.dtype,
                     shard_size=int(shard_size), header=header, fingerprint=fingerprint,
                     compute=compute, resume=bool(resume))
        X_adv, info = st.open_outputs(path)
        return (X_adv, st.struct_to_info(info)) if return_info else X_adv

    def _check_generate_input(self, X, y):
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        if y is not None:
            y = np.asarray(y)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}.")
        if self.constraints_ is not None:
            self.constraints_.check_rows(X, "X")
        return X, y

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


class _BaseAugment(_BaseUAE):
    """Base of the estimators that append UAEs of a ``ratio`` of the training rows."""

    _parameter_constraints = {**_BaseUAE._parameter_constraints,
                              "ratio": [Interval(Real, 0, 1, closed="both")]}

    def _fit_generator(self, X, y, seed, estimator=None):
        """A UAEGenerator with the shared parameters fitted on ``(X, y)``: the first model.

        ``estimator`` (a ``FrozenEstimator`` around a fitted model) replaces
        the ``estimator`` parameter: that model is attacked, not refitted.
        """
        # names were resolved by the caller's fit; the generator sees positions
        constraints = self._fit_constraints(X)
        if constraints is not None:
            constraints = constraints.positional()
        params = {**self._shared_params(), "random_state": seed, "constraints": constraints}
        if estimator is not None:
            params["estimator"] = estimator
        return UAEGenerator(**params).fit(X, y)

    def _make_uaes(self, X, y, seed, estimator=None):
        """Fit the model on ``(X, y)`` (or take ``estimator``) and attack a ``ratio`` of the rows.

        Returns
        -------
        generator : fitted UAEGenerator (its ``estimator_`` is the first model)
        indices : ndarray of int, the attacked rows (sorted)
        X_adv : ndarray, their adversarial examples
        info : dict of per-sample arrays (see :meth:`UAEGenerator.generate`)
        """
        gen = self._fit_generator(X, y, seed, estimator)
        n = X.shape[0]
        n_aug = int(round(self.ratio * n))
        rng = check_random_state(seed)
        indices = np.sort(rng.choice(n, size=n_aug, replace=False)) if n_aug < n else np.arange(n)
        X_adv, info = gen.generate(X[indices], None if y is None else y[indices])
        return gen, indices, X_adv, info
