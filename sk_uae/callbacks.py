"""Adversarial training as a skorch callback: examples made against the net as it trains.

:class:`AdversarialTraining` makes adversarial examples of the rows of every
training batch against the net being trained and adds them to the batch, so
that each optimiser step sees clean and adversarial rows together. It works
through skorch's callback hooks alone, so any skorch net takes it -- the nets
of :mod:`sk_uae.models` and a user's own ``NeuralNet``,
``NeuralNetRegressor`` or ``NeuralNetClassifier``.
"""

import copy
import time
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.validation import check_array
from skorch.callbacks import Callback

from .attacks import BaseAttack
from .attacks._random import row_uniform
from .constraints import FeatureConstraints
from .utils import seed_from_random_state
from .utils._docstring import fill_doc
from .utils._torch import PRECISIONS

__all__ = ["AdversarialTraining"]

_MAX_SEED = 2**31 - 1
EVERY = ("batch", "epoch")  # which net the examples are made against
# parameters of the skorch hooks, for their docstrings
_HOOK_DOCS = {
    "net": """net : skorch.NeuralNet
            The net being trained.""",
    "kwargs": """**kwargs
            What else skorch passes (ignored).""",
}
# what the callback records in the net's history, per epoch
HISTORY_KEYS = ("adv_rows", "adv_iterations", "adv_seconds", "adv_success")


class AdversarialTraining(Callback):
    """Train a skorch net on clean rows plus examples made against the current net.

    At every training batch the callback attacks a ``ratio`` of the batch's
    rows with ``attack`` and appends the examples to the batch; the
    optimiser step then sees the clean and the adversarial rows together.
    An adversarial row keeps the *target* of its clean row, which is what
    each kind of net trains towards:

    * a classifier (``ClassifierNet``, ``NeuralNetClassifier``): the label
      (Madry et al.'s adversarial training with ``PGD``, or with the
      supervised ``MinMaxMINE``);
    * an autoencoder (``AutoencoderNet``, ``ConcreteAutoencoderNet``, a
      ``NeuralNetRegressor`` fitted on ``(X, X)``): the clean row, so that
      it learns to rebuild the clean row from the adversarial one (a
      denoising target);
    * a contrastive net (``ContrastiveNet``): the clean row, so that a view
      of the adversarial example is paired with a view of its clean row
      (and the two pairs of one row are not each other's negatives).

    The examples are made against the current weights at every step
    (``every="batch"``, Madry et al.'s scheme) or against the net as it was
    when the epoch began (``every="epoch"``). The attack runs in eval mode,
    on a frozen copy of the module for ``"epoch"``; the training draws of
    the net (shuffling, dropout) are not touched by it.

    Parameters
    ----------
    attack : BaseAttack
        The attack that makes the examples, e.g. ``PGD`` (the model's own
        objective, high loss), ``MinMaxMINE`` (UAEs; supervised on
        classifiers) or ``GaussianNoise``. A clone is fitted on the
        training rows at the start of every ``fit`` (``clip_values="auto"``
        becomes their range, ``eps_scale`` their columns' units). Its
        objective follows the net (see
        :func:`~sk_uae.attacks.resolve_objective`): a user's autoencoder
        gets the reconstruction objective, a classifier the margin one.
    every : {"batch", "epoch"}, default="batch"
        Which net the examples are made against: ``"batch"`` the current
        net at each step, ``"epoch"`` the net at the start of the epoch (a
        frozen copy, so every example of an epoch comes from one model and
        does not depend on the batch layout). Either way every training row
        is attacked once per epoch, at the same cost. ``"batch"`` is the
        default because stale examples helped less: a small autoencoder
        trained with PGD at ``"epoch"`` had a *higher* reconstruction error
        under PGD than one trained without adversarial examples, at
        ``"batch"`` a lower one (see the user guide, "Robustness").
    ratio : float in [0, 1], default=1.0
        Share of the training rows that get an example, chosen anew every
        epoch, per row, from the seed and the row's values (the choice does
        not depend on the batch layout); 1.0 doubles every batch.
    batch_size : int, default=64
        Rows attacked together; the examples do not depend on it.
    device : str, torch.device or None, default=None
        Where the attack runs; ``None`` is the net's ``device``.
    precision : {"float32", "float64", "bfloat16", "float16"}, default="float32"
        Precision of the model's passes in the attack (see
        :class:`~sk_uae.UAEGenerator`).
    constraints : FeatureConstraints, default=None
        Columns the training examples must keep (immutable, integer,
        one-hot, bounds, directions; see :class:`~sk_uae.FeatureConstraints`),
        so that a table's categories stay categories in the rows the net
        trains on. A clone is fitted on the training rows at the start of
        every ``fit`` (``constraints_``) and handed to every attack.
    random_state : int, RandomState or None, default=None
        Seeds the attack's draws and the choice of rows. ``None`` draws the
        seed from torch's global generator when training starts, so it
        follows the net's ``random_state`` for the nets of
        :mod:`sk_uae.models` (which seed torch while they train).

    Attributes
    ----------
    attack_ : BaseAttack
        The fitted clone of ``attack`` of the last training call.
    constraints_ : FeatureConstraints or None
        The fitted clone of ``constraints`` of the last training call.
    seed_ : int
        The seed of the last training call; epoch ``e`` of the net's history
        attacks with a seed derived from ``(seed_, e)``.

    Notes
    -----
    **How the batch changes.** skorch hands every training batch to the
    callbacks' ``on_batch_begin`` and then, the same object, to the net's
    ``train_step``. The callback replaces the batch's two entries in place:
    ``batch[0]`` becomes ``cat([Xi, Xi_adv])`` and ``batch[1]``
    ``cat([yi, yi[rows]])``. This needs the batch as a list ``[X, y]`` of
    tensors, which skorch's ``Dataset`` and torch's default collation give;
    a ``collate_fn`` that returns a tuple, or ``X`` as a dict, is refused
    with a ``TypeError``. The nets of :mod:`sk_uae.models` give skorch
    their rows as targets (``y = X``) for this reason; a user's autoencoder
    should be fitted on ``(X, X)``. Validation batches are not changed.

    **Cost.** The history of the net gets, per epoch, ``adv_rows`` (rows
    attacked), ``adv_iterations`` (rows attacked times the attack's
    :meth:`~sk_uae.attacks.BaseAttack.n_iterations`, i.e. forward and
    backward passes of one row), ``adv_seconds`` (wall time in the attack)
    and ``adv_success`` (share of the examples that met the attack's goal),
    e.g. ``net.history[-1, "adv_seconds"]``; each training batch records its
    ``adv_rows``. Training rows count the appended rows:
    ``train_batch_size`` is the enlarged batch.

    The callback keeps no data between training calls; ``clone`` gives a
    fresh one, and a net with it pickles.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae import AdversarialTraining
    >>> from sk_uae.attacks import PGD
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(64, 8).astype("float32")
    >>> adv = AdversarialTraining(PGD(eps=0.1, eps_step=0.05, max_iter=3), random_state=0)
    >>> ae = AutoencoderNet(module__hidden_units=4, max_epochs=2, callbacks=[("adv", adv)],
    ...                     random_state=0).fit(X)
    >>> ae.history[-1, "adv_rows"], ae.history[-1, "batches", -1, "train_batch_size"]
    (64, 128)
    """

    _parameter_constraints = {
        "attack": [BaseAttack],
        "every": [StrOptions(set(EVERY))],
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device, None],
        "precision": [StrOptions(set(PRECISIONS))],
        "constraints": [FeatureConstraints, None],
        "random_state": ["random_state"],
    }

    def __init__(self, attack, every="batch", ratio=1.0, *, batch_size=64, device=None,
                 precision="float32", constraints=None, random_state=None):
        self.attack = attack
        self.every = every
        self.ratio = ratio
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.constraints = constraints
        self.random_state = random_state

    # ------------------------------------------------------------ skorch hooks
    def initialize(self):
        """Check the parameters and drop the state of an earlier training.

        Returns
        -------
        self
        """
        validate_parameter_constraints(self._parameter_constraints, self.get_params(deep=False),
                                       caller_name=type(self).__name__)
        self.snapshot_ = None
        self.epoch_seed_ = None
        self._reset_counts()
        return self

    @fill_doc(**_HOOK_DOCS)
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Fit clones of the attack and the constraints on the training rows; draw the seed.

        Parameters
        ----------
        %(net)s
        X : array-like of shape (n_samples, n_features)
            The rows given to ``fit``; the attack and the constraints are
            fitted on them.
        y : array-like, optional
            Their targets (unused here).
        %(kwargs)s
        """
        if not hasattr(self, "snapshot_"):  # a net that never called initialize()
            self.initialize()
        rows = _rows_of(X)
        self.attack_ = clone(self.attack).fit(rows)
        self.constraints_ = None if self.constraints is None else clone(self.constraints).fit(
            rows, feature_names=_names_of(X))
        if self.random_state is None:
            self.seed_ = int(torch.randint(0, _MAX_SEED, ()))
        else:
            self.seed_ = seed_from_random_state(self.random_state)

    @fill_doc(**_HOOK_DOCS)
    def on_epoch_begin(self, net, **kwargs):
        """Derive the epoch's seed and, for ``every="epoch"``, freeze a copy of the module.

        Parameters
        ----------
        %(net)s
        %(kwargs)s
        """
        epoch = len(net.history)  # the net's on_epoch_begin has opened this epoch's row
        self.epoch_seed_ = int(np.random.SeedSequence([self.seed_, epoch]).generate_state(1)[0]
                               % _MAX_SEED)
        self._reset_counts()
        if self.every == "epoch" and self.ratio > 0:
            snapshot = copy.deepcopy(net.module_)
            snapshot.eval()
            snapshot.requires_grad_(False)
            self.snapshot_ = snapshot

    @fill_doc(**_HOOK_DOCS)
    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        """Append the examples of the batch's chosen rows to the batch, in place.

        Parameters
        ----------
        %(net)s
        batch : list [X, y] of torch.Tensor
            The batch that ``train_step`` receives next; changed in place.
        training : bool
            Whether it is a training batch (validation batches are left
            as they are).
        %(kwargs)s
        """
        if not training or self.ratio == 0:
            return
        Xi, yi = _unpack(batch)
        rows = self._chosen(Xi)
        n = int(rows.numel())
        net.history.record_batch("adv_rows", n)
        if n == 0:
            return
        start = time.perf_counter()
        X_adv, info = self._attack(net, Xi[rows], yi[rows])
        self.counts_["seconds"] += time.perf_counter() - start
        self.counts_["rows"] += n
        self.counts_["iterations"] += n * int(self.attack_.n_iterations())
        self.counts_["success"] += int(np.sum(info["success"]))
        x_adv = torch.as_tensor(X_adv, dtype=Xi.dtype).to(Xi.device)
        batch[0] = torch.cat([Xi, x_adv])
        batch[1] = torch.cat([yi, yi[rows]])

    @fill_doc(**_HOOK_DOCS)
    def on_epoch_end(self, net, **kwargs):
        """Record the epoch's cost in the net's history.

        Parameters
        ----------
        %(net)s
        %(kwargs)s
        """
        c = self.counts_
        net.history.record("adv_rows", c["rows"])
        net.history.record("adv_iterations", c["iterations"])
        net.history.record("adv_seconds", c["seconds"])
        net.history.record("adv_success", c["success"] / c["rows"] if c["rows"] else float("nan"))

    @fill_doc(**_HOOK_DOCS)
    def on_train_end(self, net, **kwargs):
        """Drop the frozen copy of the module.

        Parameters
        ----------
        %(net)s
        %(kwargs)s
        """
        self.snapshot_ = None

    # ----------------------------------------------------------------- helpers
    def _reset_counts(self):
        self.counts_ = {"rows": 0, "iterations": 0, "seconds": 0.0, "success": 0}

    def _chosen(self, Xi):
        """Indices of the rows of ``Xi`` that get an example this epoch."""
        if self.ratio >= 1:
            return torch.arange(Xi.shape[0], device=Xi.device)
        flat = Xi.detach().reshape(Xi.shape[0], -1)
        draw = row_uniform(flat, self.epoch_seed_, stream=11)[:, 0]
        return torch.nonzero(draw < float(self.ratio)).flatten().to(Xi.device)

    def _attack(self, net, Xi, yi):
        """The examples of the rows ``Xi`` (labels or targets ``yi``) against the net."""
        X = Xi.detach().cpu().numpy()
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float32)
        kwargs = dict(seed=self.epoch_seed_, batch_size=self.batch_size,
                      device=net.device if self.device is None else self.device,
                      precision=self.precision, constraints=self.constraints_)
        labels = _labels(net, yi)
        if self.every == "batch":
            return self.attack_.perturb(net, X, labels, **kwargs)
        live = net.module_
        net.module_ = self.snapshot_  # the attack sees the net as the epoch began
        try:
            return self.attack_.perturb(net, X, labels, **kwargs)
        finally:
            net.module_ = live


def _names_of(X):
    """The column names of a DataFrame, or None (constraints may name columns)."""
    columns = getattr(X, "columns", None)
    return None if columns is None else [str(c) for c in columns]


def _rows_of(X):
    """The training rows as a 2-D float array (what the attack is fitted on)."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        return check_array(X, dtype=(np.float32, np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "AdversarialTraining needs the training rows X as a 2-D array of numbers (the "
            f"attack is fitted on them); got {type(X).__name__}: {exc}") from exc


def _unpack(batch):
    """``(Xi, yi)`` of a training batch that can be changed in place."""
    if not (isinstance(batch, list) and len(batch) == 2):
        raise TypeError(
            "AdversarialTraining changes the training batch in place and needs it as a list "
            f"[X, y] (what skorch's Dataset with torch's default collation gives); got "
            f"{type(batch).__name__}. A collate_fn that returns a tuple cannot be changed.")
    Xi, yi = batch
    if not isinstance(Xi, torch.Tensor) or not isinstance(yi, torch.Tensor):
        raise TypeError(
            "AdversarialTraining needs tensors as the batch's X and y; got "
            f"{type(Xi).__name__} and {type(yi).__name__} (X as a dict is not supported).")
    return Xi, yi


def _labels(net, yi):
    """The batch's targets as the attack takes labels: classes for a ``ClassifierNet``.

    A net with ``encode_labels`` (:class:`~sk_uae.models.ClassifierNet`)
    hands skorch the indices of its labels in ``classes_``, which the
    attack's objective encodes again: they go back to labels here. Other
    nets' targets are passed as they are (labels of a
    ``NeuralNetClassifier``; rows of an autoencoder, which its objective
    ignores).
    """
    y = yi.detach().cpu().numpy()
    if y.ndim == 1 and callable(getattr(net, "encode_labels", None)):
        return np.asarray(net.classes_)[y]
    return y
