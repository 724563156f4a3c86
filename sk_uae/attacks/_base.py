"""Attack parameter objects: the sklearn-facing shell around pure-torch engines.

:class:`BaseAttack` is a small template. :meth:`~BaseAttack.fit` validates
the parameters once and resolves those that depend on the data;
:meth:`~BaseAttack.perturb` attacks the rows of an array batch by batch;
:meth:`~BaseAttack.run` attacks one batch of tensors. What an attack *means*
is in hooks that subclasses override -- the engine call (``_run``), the
objective it needs (:meth:`~BaseAttack.objective_for`), the goal a result is
checked against (:meth:`~BaseAttack.verify`) and the set its examples live
in (:meth:`~BaseAttack.constrain`) -- so the estimators call these and never
look inside an attack.
"""

import copy
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted
from tqdm.auto import tqdm

from ..utils import resolve_device
from ..utils._docstring import fill_doc
from ..utils._torch import REDUCED_PRECISIONS, compute_dtype, one_torch_thread, with_precision
from ..constraints import satisfied_rows
from ._common import fit_rows_to_range, resolve_clip_values, row_bounds
from ._objectives import attacked_module, resolve_objective

_LOG = logging.getLogger("sk_uae")
_LABELS = {"mi": "MI"}  # how the progress log names a callback quantity

ATTACK_NOTE = """The object stores parameters; :meth:`fit` validates them and resolves
    ``clip_values``, and :class:`~sk_uae.UAEGenerator` fits a clone and runs
    it. Attacks have no ``random_state``: their random draws come from the
    seed the estimator derives from its own ``random_state``."""

CLIP_VALUES_DOC = """\
    clip_values : "auto", tuple (low, high) or None, default="auto"
        Valid input range of the examples. ``"auto"``: the smallest and
        largest value of the rows given to :meth:`fit` (the rows the model
        was fitted on), over all columns; rows outside it at attack time
        keep their own values as bounds. A pair: an explicit range (values
        within float rounding of it are clipped into it, values further out
        are refused). ``None``: unbounded."""

# parameters of the hooks, shared by the overrides' docstrings
HOOK_DOCS = {
    "objective_for_params": """\
        estimator : fitted estimator
            The attacked model (a skorch-style net).
        module : torch.nn.Module
            Its module as the attack should use it (on the attack's device,
            possibly wrapped for reduced precision).""",
    "verify_params": """\
        objective : objective object
            The attack loss bound to the model, in float32.
        x_adv, x : torch.Tensor of shape (B, d)
            The examples and their clean inputs.
        y : torch.Tensor of shape (B,), optional
            Labels, for objectives that need them.

        Returns
        -------
        torch.BoolTensor of shape (B,)""",
    "constrain_params": """\
        X_adv : ndarray of shape (n_samples, n_features)
            The examples, in the dtype of ``X``.
        X : ndarray of shape (n_samples, n_features)
            The clean rows.

        Returns
        -------
        ndarray of shape (n_samples, n_features)""",
}


class AttackBatch:
    """One batch of an attack: what :meth:`BaseAttack.run` hands to the engine.

    Each attack takes what it needs from it; the parameters are stored as
    attributes of the same names.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
        Clean inputs, on the computation device.
    objective : objective object or None
        The attack loss bound to the model (see
        :class:`~sk_uae.attacks.ReconstructionObjective`); ``None`` for
        attacks that need none.
    y : torch.Tensor of shape (B,) or None
        Labels, for objectives that need them.
    seed : int
        Seed of every random draw; the same for every batch, so results do
        not depend on how the rows are batched.
    module : torch.nn.Module or None
        The attacked module, for attacks that read its layers (e.g. MINE
        pairs from its first layer).
    callback : callable or None
        Called by iterative attacks as ``callback(t, **per-sample tensors)``
        after every iteration (progress logging).

    constraints : TorchConstraints or None
        Feature constraints the engine keeps at every step
        (:meth:`sk_uae.FeatureConstraints.for_torch`).
    """

    __slots__ = ("x", "objective", "y", "seed", "module", "callback", "constraints")

    def __init__(self, x, objective=None, y=None, seed=0, module=None, callback=None,
                 constraints=None):
        self.x = x
        self.objective = objective
        self.y = y
        self.seed = int(seed)
        self.module = module
        self.callback = callback
        self.constraints = constraints


class BaseAttack(BaseEstimator):
    """Base class of attack parameter objects.

    An attack object stores its parameters (so ``get_params`` /
    ``set_params`` / :func:`sklearn.base.clone` work, and a meta-estimator
    exposes them as ``attack__<name>`` to
    :class:`~sklearn.model_selection.GridSearchCV`). :meth:`fit` validates
    them and resolves the data-dependent ones; :meth:`perturb` (arrays) and
    :meth:`run` (one batch of tensors) then attack.

    A subclass implements ``_run(batch)``, the engine call on an
    :class:`AttackBatch` returning an :class:`AttackResult`, and overrides
    the hooks whose default does not fit: :meth:`objective_for`,
    :meth:`verify`, :meth:`constrain` and ``_check_params`` (checks beyond
    ``_parameter_constraints``). Attacks with a ``clip_values`` parameter
    get it resolved into ``clip_values_`` by :meth:`fit`.

    Attributes
    ----------
    clip_values_ : tuple (low, high) or None
        The valid input range after :meth:`fit` (``None``: unbounded, or an
        attack without ``clip_values``).
    """

    _parameter_constraints: dict = {}
    _clip_required = False  # whether the engine needs a range (Carlini-Wagner's tanh)

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and resolve those that depend on the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows the attacked model was fitted on; ``clip_values="auto"``
            becomes their range.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        X = check_array(X, dtype=(np.float64, np.float32), ensure_min_samples=0)
        self._check_params()
        self.clip_values_ = resolve_clip_values(
            getattr(self, "clip_values", None), X, required=self._clip_required,
            owner=type(self).__name__)
        self._fit_data(X)
        return self

    def _check_params(self):
        """Checks beyond ``_parameter_constraints`` (hook; called by :meth:`fit`)."""

    def _fit_data(self, X):
        """Resolve further data-dependent parameters from the rows ``X`` (hook of :meth:`fit`)."""

    def engine_for(self, device="cpu", model=None):
        """The name of the engine that runs this attack on ``device`` against ``model`` (hook).

        Recorded with streamed outputs and checkpoints, so that results of
        two engines (which agree only to float rounding) are never mixed.

        Parameters
        ----------
        device : str or torch.device, default="cpu"
            Where the attack runs.
        model : fitted estimator or torch.nn.Module, optional
            The attacked model.

        Returns
        -------
        str or None
            ``None`` (the default): the attack has a single engine.
        """
        return None

    def _prepare_run(self, device, model):
        """Resolve what depends on the device and the model before a run (hook; a no-op)."""

    def n_iterations(self):
        """Gradient steps on the attacked model that one run makes per row (hook).

        The cost of the attack in forward and backward passes of the model,
        for accounting (e.g. :class:`~sk_uae.AdversarialTraining` records
        rows attacked times this). The default is 1.

        Returns
        -------
        int
        """
        return 1

    # ---------------------------------------------------------------- hooks
    @fill_doc(**HOOK_DOCS)
    def objective_for(self, estimator, module):
        """The objective this attack optimises against ``estimator`` (hook).

        Parameters
        ----------
        %(objective_for_params)s

        Returns
        -------
        objective object or None
            The default follows the estimator
            (:func:`~sk_uae.attacks.resolve_objective` with ``"auto"``);
            attacks that use no model return ``None``.
        """
        return resolve_objective(estimator, "auto", module=module)

    @fill_doc(**HOOK_DOCS)
    def verify(self, objective, x_adv, x, y=None):
        """Whether each example meets this attack's goal under ``objective`` (hook).

        Used to re-check, in float32, examples found with a reduced-precision
        model. The default (attacks without a goal) is True for every row.

        Parameters
        ----------
        %(verify_params)s
        """
        return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)

    @fill_doc(**HOOK_DOCS)
    def constrain(self, X_adv, X):
        """Put the examples back into the attack's set, in the caller's dtype (hook).

        The engines work in float32; for float64 rows the cast back can step
        over a boundary by a rounding error, so the estimators call this on
        every result. The default clips to the valid input range; attacks
        with a perturbation budget first project onto it.

        Parameters
        ----------
        %(constrain_params)s
        """
        bounds = self._bounds(X)
        return X_adv if bounds is None else np.clip(X_adv, bounds[0], bounds[1])

    # ------------------------------------------------------------- running
    def run(self, x, objective=None, *, y=None, seed=0, module=None, callback=None,
            constraints=None):
        """Attack one batch of tensors (the attack must be fitted).

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Clean inputs, already on the computation device.
        objective : objective object, optional
            The attack loss bound to the model (:meth:`objective_for`);
            attacks that use no model take none.
        y : torch.Tensor of shape (B,), optional
            Labels, for objectives that need them.
        seed : int, default=0
            Seed of every random draw; the same for every batch, so results
            do not depend on how the data are batched.
        module : torch.nn.Module, optional
            The attacked module, for attacks that read its layers.
        callback : callable, optional
            Progress callback of iterative attacks (see :class:`AttackBatch`).
        constraints : TorchConstraints, optional
            Feature constraints kept at every step (see :class:`AttackBatch`).

        Returns
        -------
        AttackResult
        """
        check_is_fitted(self, "clip_values_", msg=(
            f"This {type(self).__name__} is not fitted: call fit(X) with the rows the model was "
            "fitted on before run() (it resolves clip_values)."))
        return self._run(AttackBatch(x, objective, y, seed, module, callback, constraints))

    def _run(self, batch):
        raise NotImplementedError(f"{type(self).__name__} must implement _run(batch).")

    def perturb(self, estimator, X, y=None, *, seed=0, batch_size=64, device="cpu",
                precision="float32", verbose=0, constraints=None):
        """Adversarial examples of the rows ``X`` against a fitted model, batch by batch.

        Parameters
        ----------
        estimator : fitted estimator
            The attacked model; it must expose its torch module as ``module_``.
        X : ndarray of shape (n_samples, n_features)
            Rows to attack, float32 or float64, validated by the caller.
        y : ndarray of shape (n_samples,), optional
            Labels for classifiers (true labels, or targets of a targeted
            attack), mapped to logit columns by the objective.
        seed : int, default=0
            Seed of every random draw; results do not depend on
            ``batch_size`` nor on how the rows are split between calls.
        batch_size : int, default=64
            Rows attacked together.
        device : str or torch.device, default="cpu"
            Where the attack runs (``"auto"``: CUDA when available).
        precision : {"float32", "float64", "bfloat16", "float16"}, default="float32"
            Precision of the model's forward and backward passes (with
            ``"float64"`` also of the attack's own tensors, on a float64 copy
            of the model); with less than float32 every success is
            re-checked with :meth:`verify` in float32.
        verbose : int, default=0
            ``>= 1`` shows a progress bar over batches, ``>= 2`` also logs
            every iteration of iterative attacks to the ``"sk_uae"`` logger.
        constraints : fitted FeatureConstraints, optional
            Feature constraints: kept at every step of the attack; integer
            and one-hot columns are repaired at the end, and every repaired
            example is re-checked against the attack's goal (:meth:`verify`).

        Returns
        -------
        X_adv : ndarray of shape (n_samples, n_features), dtype of ``X``
        info : dict of ndarray
            ``success``, ``mi``, ``loss``, ``distortion_linf``, ``distortion_l2``
            (see :meth:`sk_uae.UAEGenerator.generate`); with ``constraints``
            also ``constraints_satisfied``.
        """
        check_is_fitted(self, "clip_values_")
        if self.clip_values_ is not None and not self._auto_clip():
            X = fit_rows_to_range(X, self.clip_values_)
        device = resolve_device(device)
        self._prepare_run(device, estimator)
        dtype = compute_dtype(precision)
        with _module_on(attacked_module(estimator), device, dtype) as module:
            objective = self.objective_for(estimator, with_precision(module, precision))
            recheck = None
            if precision in REDUCED_PRECISIONS and objective is not None:
                recheck = self.objective_for(estimator, module)
            tc = None if constraints is None else constraints.for_torch(device, dtype)
            budget = self._budget_tensor(device, dtype)
            y = _labels_for(objective, y)
            starts = range(0, X.shape[0], batch_size)

            def attack_batch(start):
                stop = start + batch_size
                xb = torch.tensor(X[start:stop], dtype=dtype, device=device)
                yb = None if y is None else torch.as_tensor(y[start:stop], device=device)
                callback = _diagnostics(start // batch_size) if verbose >= 2 else None
                res = self.run(xb, objective, y=yb, seed=seed, module=module, callback=callback,
                               constraints=tc)
                success, x_adv = res.success.detach(), res.x_adv.detach()
                changed = None
                if tc is not None:  # the repair can undo what made an example adversarial
                    repaired = tc.repair(x_adv, xb, *budget)
                    changed = (repaired != x_adv).any(1)
                    x_adv = repaired
                if recheck is not None:
                    success = success & self.verify(recheck, x_adv, xb, yb)
                elif changed is not None and objective is not None and bool(changed.any()):
                    success = success & (self.verify(objective, x_adv, xb, yb) | ~changed)
                return {"x_adv": x_adv.cpu().numpy(),
                        "success": success.cpu().numpy(),
                        "mi": res.mi.detach().cpu().numpy(),
                        "loss": res.loss.detach().cpu().numpy()}

            parts = _map_batches(attack_batch, starts, device, verbose)
        return self._assemble(parts, X, constraints)

    # ------------------------------------------------------------- helpers
    def _budget_tensor(self, device, dtype):
        """``(eps, norm)`` of the perturbation set for a repair: ``(None, "linf")`` without."""
        return None, "linf"

    def _auto_clip(self):
        return getattr(self, "clip_values", None) == "auto"

    def _bounds(self, x):
        """Bounds of the rows ``x`` (tensor or array) for the engines, or None."""
        return row_bounds(x, self.clip_values_, self._auto_clip())

    def _assemble(self, parts, X, constraints=None):
        if parts:
            cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        else:
            cat = {"x_adv": np.empty_like(X, dtype=np.float32), "success": np.empty(0, bool),
                   "mi": np.empty(0, np.float32), "loss": np.empty(0, np.float32)}
        X_adv = self.constrain(cat.pop("x_adv").astype(X.dtype, copy=False), X)
        if constraints is not None:
            eps, norm = self._budget_array()
            X_adv = constraints.enforce(X_adv, X, eps, norm)
        diff = (X_adv - X).astype(np.float64)
        info = {
            "success": cat["success"].astype(bool),
            "mi": cat["mi"].astype(np.float64),
            "loss": cat["loss"].astype(np.float64),
            "distortion_linf": _linf(diff),
            "distortion_l2": np.sqrt((diff**2).sum(axis=1)),
            "distortion_linf_units": _linf(diff, self._scale()),
        }
        if constraints is not None:
            info["constraints_satisfied"] = satisfied_rows(X_adv, X, constraints)
        return X_adv, info

    def _budget_array(self):
        return None, "linf"

    def _scale(self):
        """Per-column units of the budget, or None (the data's own)."""
        return None


class _BoxAttack(BaseAttack):
    """Base of the attacks whose perturbation lives in a ball: ``_budget()`` says which.

    Their ``eps`` is measured in the units that ``eps_scale`` gives every
    column, resolved at :meth:`fit` into ``eps_scale_``.
    """

    def _budget(self):
        """``(eps, norm)`` of the perturbation set, or ``None`` for no budget."""
        raise NotImplementedError

    def _fit_data(self, X):
        self.eps_scale_ = resolve_eps_scale(getattr(self, "eps_scale", "none"), X)

    def _scale(self):
        return getattr(self, "eps_scale_", None)

    def _budget_array(self):
        """The budget per column: ``(eps * eps_scale_, norm)``; ``(None, "linf")`` without one."""
        budget = self._budget()
        if budget is None:
            return None, "linf"
        eps, norm = budget
        scale = self._scale()
        return (eps if scale is None else eps * scale), norm

    def _budget_tensor(self, device, dtype):
        eps, norm = self._budget_array()
        if isinstance(eps, np.ndarray):
            eps = torch.as_tensor(eps, device=device, dtype=dtype)
        return eps, norm

    def _engine_eps(self, x, eps):
        """``eps`` for an engine: the float itself, or a tensor per column under ``eps_scale``."""
        scale = self._scale()
        if scale is None:
            return float(eps)
        return torch.as_tensor(float(eps) * scale, device=x.device, dtype=x.dtype)

    @fill_doc(**HOOK_DOCS)
    def constrain(self, X_adv, X):
        """Project onto the ``eps`` ball around ``X``, then clip to the valid range.

        Parameters
        ----------
        %(constrain_params)s
        """
        eps, norm = self._budget_array()
        if eps is not None:
            if np.ndim(eps):
                eps = eps.astype(X.dtype)
            if norm == "linf":
                X_adv = np.clip(X_adv, X - eps, X + eps)
            else:
                d = (X_adv - X).astype(np.float64)
                if np.ndim(eps):
                    free = eps > 0
                    d[:, ~free] = 0.0
                    n = np.sqrt(((d[:, free] / eps[free]) ** 2).sum(axis=1, keepdims=True))
                    d = np.where(n > 1, d / np.maximum(n, 1e-30), d)
                    X_adv = (X + d).astype(X.dtype, copy=False)
                else:
                    n = np.sqrt((d**2).sum(axis=1, keepdims=True))
                    X_adv = np.where(n > eps, X + d * (eps / np.maximum(n, 1e-30)), X_adv)
                    X_adv = X_adv.astype(X.dtype, copy=False)
        return super().constrain(X_adv, X)


EPS_SCALE_CONSTRAINT = [StrOptions({"none", "range", "std"}), "array-like"]

EPS_SCALE_DOC = """\
    eps_scale : {"none", "range", "std"} or array-like of shape (n_features,), default="range"
        The unit in which ``eps`` (and every step size given in units of
        it) is measured, per column: ``"range"`` (the default) the column's
        range on the rows given to :meth:`fit`, so that ``eps=0.1`` lets
        every column move by a tenth of its range -- on images in [0, 1]
        whose pixels span the whole range this is the absolute ``eps``;
        ``"std"`` its standard deviation; ``"none"`` the data's own unit
        (an absolute radius, as in the papers); an array gives the unit of
        every column. A column that is constant on the fitted rows gets
        unit 0 and never moves. The resolved units are ``eps_scale_``."""


def resolve_eps_scale(eps_scale, X):
    """The per-column unit of ``eps`` (ndarray), or None for ``"none"``.

    Parameters
    ----------
    eps_scale : {"none", "range", "std"} or array-like of shape (n_features,)
    X : ndarray of shape (n_samples, n_features)
        The rows the attack is fitted on.

    Returns
    -------
    ndarray of float64 or None
    """
    if isinstance(eps_scale, str):
        if eps_scale == "none" or X.shape[0] == 0:
            return None
        X64 = X.astype(np.float64, copy=False)
        scale = np.ptp(X64, axis=0) if eps_scale == "range" else X64.std(axis=0)
    else:
        scale = np.asarray(eps_scale, dtype=np.float64).ravel()
        if scale.shape != (X.shape[1],):
            raise ValueError(f"eps_scale has {scale.size} values; expected one per column "
                             f"({X.shape[1]}), or 'none', 'range' or 'std'.")
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise ValueError("eps_scale must give finite, non-negative units per column; got "
                         f"values in [{np.min(scale):.3g}, {np.max(scale):.3g}]. Scale the "
                         "columns of X (e.g. StandardScaler) if they overflow.")
    return scale


class _ObjectiveMixin:
    """``objective_for`` of the attacks with ``objective``, ``targeted`` and ``confidence``."""

    def n_iterations(self):
        """``max_iter``: one step on the model per iteration.

        Returns
        -------
        int
        """
        return int(self.max_iter)

    @fill_doc(**HOOK_DOCS)
    def objective_for(self, estimator, module):
        """The objective that ``objective``, ``targeted`` and ``confidence`` ask for.

        Parameters
        ----------
        %(objective_for_params)s

        Returns
        -------
        objective object
            See :func:`~sk_uae.attacks.resolve_objective`.
        """
        return resolve_objective(estimator, self.objective, module=module,
                                 targeted=self.targeted, confidence=self.confidence)


OBJECTIVE_CONSTRAINTS = {
    "objective": [StrOptions({"auto", "reconstruction", "margin"}), HasMethods(["prepare"])],
    "targeted": ["boolean"],
    "confidence": [Interval(Real, 0, None, closed="left")],
}

OBJECTIVE_DOC = """\
    objective : "auto", "reconstruction", "margin" or objective object, default="auto"
        The attack loss bound to the attacked model (see
        :func:`~sk_uae.attacks.resolve_objective`); ``"auto"`` follows the
        estimator: its own ``uae_objective``, the margin objective for
        classifiers, the reconstruction objective otherwise.
    targeted : bool, default=False
        Classifiers: the labels given to ``generate`` are targets to reach,
        not labels to leave (needs the margin objective).
    confidence : float, default=0.0
        Classifiers: the margin ``kappa`` a success must exceed beyond the
        decision boundary (see :class:`~sk_uae.attacks.MarginObjective`)."""


class _GoalMixin:
    """``verify`` of the attacks whose goal is ``f(x') == 0`` (MinMax, Carlini-Wagner)."""

    @fill_doc(**HOOK_DOCS)
    def verify(self, objective, x_adv, x, y=None):
        """Whether each example meets the goal ``f(x') == 0`` under ``objective``.

        Parameters
        ----------
        %(verify_params)s
        """
        with torch.no_grad():
            return objective.loss(x_adv, x, objective.prepare(x, y)) <= 0


class _ModelFreeMixin:
    """``objective_for`` of the attacks that use no model (noise, duplication)."""

    def n_iterations(self):
        """0: this attack takes no step on the model.

        Returns
        -------
        int
        """
        return 0

    @fill_doc(**HOOK_DOCS)
    def objective_for(self, estimator, module):
        """None: this attack uses no model.

        Parameters
        ----------
        %(objective_for_params)s

        Returns
        -------
        None
        """
        return None


def _linf(diff, scale=None):
    """Per-row L-infinity norm of ``diff``, each column in its unit ``scale`` (0: left out)."""
    if scale is not None:
        free = scale > 0
        diff = diff[:, free] / scale[free]
    return np.abs(diff).max(axis=1) if diff.shape[1] else np.zeros(len(diff))


def _available_cores():
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def batch_workers(n_batches, device):
    """Threads that attack the batches of one :meth:`BaseAttack.perturb` call on ``device``.

    On the CPU every batch runs on one torch thread (its arithmetic is then the
    same whatever the thread settings), and the threads torch would have used
    -- ``torch.get_num_threads()`` of the caller, at most the cores available --
    work through the batches side by side instead. 1 on other devices, inside
    :func:`~sk_uae.utils._torch.one_torch_thread` (e.g. ``n_jobs`` workers) and
    for a single batch.
    """
    if torch.device(device).type != "cpu":
        return 1
    return max(1, min(n_batches, torch.get_num_threads(), _available_cores()))


def _map_batches(attack_batch, starts, device, verbose):
    """``[attack_batch(start) for start in starts]``, in order, on :func:`batch_workers` threads.

    On the CPU each batch runs under one torch intra-op thread; other devices
    run the batches one after the other with torch's settings untouched.
    """
    progress = tqdm(total=len(starts), disable=not verbose, desc="UAE", unit="batch")
    try:
        if torch.device(device).type != "cpu":
            parts = []
            for start in starts:
                parts.append(attack_batch(start))
                progress.update()
            return parts
        n_workers = batch_workers(len(starts), device)

        def one(start):
            with one_torch_thread():
                return attack_batch(start)

        with one_torch_thread():
            if n_workers == 1:
                parts = []
                for start in starts:
                    parts.append(one(start))
                    progress.update()
                return parts
            pool = ThreadPoolExecutor(n_workers, thread_name_prefix="sk_uae-batch")
            try:
                futures = [pool.submit(one, start) for start in starts]
                parts = []
                for future in futures:
                    parts.append(future.result())
                    progress.update()
                return parts
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        progress.close()


@contextmanager
def _module_on(module, device, dtype):
    """``module`` on ``device`` in ``dtype`` and eval mode (a copy when it differs)."""
    param = next(module.parameters(), None)
    if param is not None and (param.device != device or param.dtype != dtype):
        module = copy.deepcopy(module).to(device=device, dtype=dtype)
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _labels_for(objective, y):
    """Labels as the objective wants them: class indices for classifiers, none otherwise."""
    if y is None or objective is None or not getattr(objective, "needs_labels", False):
        return None  # e.g. autoencoders: labels play no part in the attack
    encode = getattr(objective, "encode_labels", None)
    return encode(y) if encode is not None else y


def _diagnostics(batch):
    """Callback logging an iterative attack's per-sample quantities (``verbose >= 2``)."""

    def log(t, **stats):
        parts = [f"mean {_LABELS.get(name, name)} {float(v.float().mean()):.4g}"
                 for name, v in stats.items()]
        if "f" in stats:
            parts.append(f"f == 0 for {float((stats['f'] <= 0).float().mean()):.2f}")
        _LOG.info("batch %d iteration %d: %s", batch, t, ", ".join(parts))

    return log


class AttackResult:
    """Per-sample outcome of one batch: tensors of leading size ``B``.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    x_adv : torch.Tensor of shape (B, d)
        The returned (adversarial) example of every input row.
    success : torch.BoolTensor of shape (B,)
        Whether the attack met its goal for the row.
    mi : torch.Tensor of shape (B,), default=None
        MI estimate of the returned example; ``None`` (attacks that estimate
        none) stores NaN for every row.
    loss : torch.Tensor of shape (B,), default=None
        Attack loss of the returned example: the objective's ``f`` for
        :class:`MinMaxMINE` and :class:`CarliniWagnerL2` (0 means the goal
        is met), its ``adversarial_loss`` for :class:`PGD`; ``None`` stores
        NaN for every row.
    """

    __slots__ = ("x_adv", "success", "mi", "loss")

    def __init__(self, x_adv, success, mi=None, loss=None):
        self.x_adv = x_adv
        self.success = success
        nan = torch.full_like(success, float("nan"), dtype=x_adv.dtype)
        self.mi = nan if mi is None else mi
        self.loss = nan if loss is None else loss
