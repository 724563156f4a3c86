"""The MinMax MINE attack: a pure-torch engine and its parameter object."""

import math
from dataclasses import dataclass, field, replace
from numbers import Integral, Real

import torch
from torch import nn
from sklearn.utils._param_validation import Interval, StrOptions

from .._nn.features import first_layer, first_layer_features
from ..mine import FeaturePairs, RandomProjectionPairs, StatisticsNetworks
from ..mine._engines import ENGINE_NAMES, MINEOptions, make_networks, resolve_engine
from ..utils import resolve_device
from ..utils._docstring import fill_doc
from ._base import (ATTACK_NOTE, CLIP_VALUES_DOC, EPS_SCALE_CONSTRAINT, EPS_SCALE_DOC,
                    OBJECTIVE_CONSTRAINTS, OBJECTIVE_DOC, AttackResult, _BoxAttack, _GoalMixin,
                    _ObjectiveMixin)
from ._common import CLIP_VALUES_CONSTRAINT, clip, masked
from ._random import row_uniform
from ._search import BestKeeper, ConstSearch


class _Randomness:
    """The draws of one attack run that all samples share, from one seed in a fixed order.

    They depend on the seed and on the iteration only -- never on the batch
    layout -- so a sample gets the same attack alone or in any batch. The
    start of ``delta`` is drawn per row instead (:func:`initial_delta`).
    """

    def __init__(self, seed, n_features, *, random_projection, n_pairs, pair_dim,
                 dtype=torch.float32, device="cpu"):
        self.generator = torch.Generator().manual_seed(int(seed))
        self.projection = None
        if random_projection:
            # drawn on the CPU generator, centred in the attack's dtype on its device
            self.projection = RandomProjectionPairs(n_features, n_pairs, pair_dim,
                                                    generator=self.generator, device=device,
                                                    dtype=dtype)

    def mine_draws(self, pair_dim, n_pairs, hidden_sizes, n_phases, n_steps, conv_front=None):
        """Initial MINE weights and the shuffles, shape (n_phases, n_steps + 1, K)."""
        g = self.generator
        theta0 = StatisticsNetworks.initial_parameters(pair_dim, hidden_sizes, generator=g,
                                                       conv_front=conv_front)
        perms = torch.stack([torch.randperm(n_pairs, generator=g)
                             for _ in range(n_phases * (n_steps + 1))])
        return theta0, perms.reshape(n_phases, n_steps + 1, n_pairs)


_START_STREAM = 16  # row_uniform stream of the start, apart from the streams of PGD's start


def glorot_limit(n_features, image_shape=None):
    """Half-width of the reference's start of ``delta``: TF1's Glorot-uniform limit.

    The reference optimises a variable of shape ``(1, H, W, C)`` created
    without an initializer, so TF1 draws it from ``U(-L, L)`` with
    ``L = sqrt(6 / (fan_in + fan_out))``, ``fan_in = W * H`` and
    ``fan_out = C * H``.

    Parameters
    ----------
    n_features : int
        Width ``d`` of a flat row.
    image_shape : tuple (C, H, W), optional
        The rows' image shape. ``None``: one square channel when ``d`` is a
        square (``H = W = sqrt(d)``, MNIST: ``L = 0.0860``, 8x8 digits:
        ``0.2887``); otherwise a tabular row, a variable of shape ``(1, d)``
        (``fan_in = 1``, ``fan_out = d``).

    Returns
    -------
    float
    """
    if image_shape is None:
        side = math.isqrt(int(n_features))
        if side * side != n_features:
            return math.sqrt(6.0 / (1 + n_features))
        image_shape = (1, side, side)
    c, h, w = (int(s) for s in image_shape)
    return math.sqrt(6.0 / (w * h + c * h))


def initial_delta(x, init, eps, seed, image_shape=None):
    """The start ``delta_0`` of every row of ``x``.

    Row ``i``'s start depends on the seed and on ``x[i]`` only (see
    :mod:`sk_uae.attacks._random`), so it is the same in any batch, shard or
    worker; identical rows get identical starts.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
        Clean inputs.
    init : {"zeros", "uniform", "glorot"}
        Zero; ``U(-eps, eps)`` per element; or the reference's
        ``U(-L, L)`` with ``L = glorot_limit(d, image_shape)``, clipped to
        the box ``[-eps, eps]``.
    eps : float or torch.Tensor of shape (d,)
        Half-width of the box (per column when a tensor).
    seed : int
        The attack's seed.
    image_shape : tuple (C, H, W), optional
        For ``"glorot"`` (see :func:`glorot_limit`).

    Returns
    -------
    torch.Tensor of the shape and dtype of ``x``
    """
    if init == "zeros":
        return torch.zeros_like(x)
    if init == "uniform":
        limit = eps.double() if isinstance(eps, torch.Tensor) else float(eps)
    elif init == "glorot":
        limit = glorot_limit(x.shape[1], image_shape)
    else:
        raise ValueError(f"init={init!r} is not known; expected 'zeros', 'uniform' or 'glorot'.")
    u = row_uniform(x, seed, stream=_START_STREAM) * 2 - 1
    box = eps.double() if isinstance(eps, torch.Tensor) else eps
    return (u * limit).clamp_(-box, box).to(x.dtype)


def conv_map_shape(pair_width, image_shape=None):
    """``(H, W)`` of first-layer maps flattened to ``pair_width``, for the conv front.

    The image's own ``(H, W)`` when the maps keep its size (``"same"``
    padding), else a square; anything else is an error.
    """
    if image_shape is not None and image_shape[1] * image_shape[2] == pair_width:
        return int(image_shape[1]), int(image_shape[2])
    side = math.isqrt(int(pair_width))
    if side * side != pair_width:
        raise ValueError(
            f"the MINE conv front needs square first-layer maps or maps of the image's size; "
            f"got maps of {pair_width} values. Pass mine_conv_front=None."
        )
    return side, side


@dataclass(frozen=True, eq=False)
class MinMaxOptions:
    """The settings of one MinMax MINE run, as :func:`minmax_mine` takes them.

    What a run is given besides -- the rows, the objective, the labels, the
    pair features, the callback and the feature constraints -- are its
    inputs, not settings (:class:`_MinMaxRun`). The fields are the keywords
    of :func:`minmax_mine` of the same names; ``mine`` holds its MINE
    keywords (``mine_backend``, ``n_mine_steps``, ``mine_lr``, ...).

    Parameters
    ----------
    eps : float or torch.Tensor of shape (d,), default=0.3
        Half-width of the L-infinity box on ``delta``.
    lr : float, default=0.01
        Step size on ``delta``.
    step : {"plain", "normalized"}, default="plain"
        The move of ``delta`` (:func:`_step`).
    max_iter : int, default=40
        MinMax iterations ``T``.
    initial_const : float or torch.Tensor of shape (B,), default=1e-3
        Initial dual variable ``c_0``.
    dual_step : float, default=0.1
        ``beta`` of the dual update; 0 keeps ``c`` fixed.
    clip_values : tuple (low, high) or None, default=(0.0, 1.0)
        Valid input range of ``x'``.
    init : {"zeros", "uniform", "glorot"}, default="zeros"
        Start ``delta_0`` (:func:`initial_delta`).
    seed : int, default=0
        Seed of all random draws.
    image_shape : tuple (C, H, W), optional
        Image shape of the rows.
    conv_front : tuple (filters, kernel), optional
        A Conv2D front on each branch of the statistics networks.
    mine : MINEOptions
        The statistics networks, their pairs and their training.
    """

    eps: float | torch.Tensor = 0.3
    lr: float = 0.01
    step: str = "plain"
    max_iter: int = 40
    initial_const: float | torch.Tensor = 1e-3
    dual_step: float = 0.1
    clip_values: tuple | None = (0.0, 1.0)
    init: str = "zeros"
    seed: int = 0
    image_shape: tuple | None = None
    conv_front: tuple | None = None
    mine: MINEOptions = field(default_factory=MINEOptions)


class _MinMaxRun:
    """One MinMax MINE run on a batch: its state, and the steps of :meth:`run`.

    Every sample has its own perturbation ``delta``, its own dual variable
    ``c`` and its own statistics network; all are updated together.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
        Clean inputs.
    objective : objective object
        ``prepare``, ``loss`` and ``mi_sign`` (see :func:`minmax_mine`).
    options : MinMaxOptions
        The settings.
    y, feature_fn, callback, constraints
        As :func:`minmax_mine`.
    """

    def __init__(self, x, objective, options, *, y=None, feature_fn=None, callback=None,
                 constraints=None):
        if options.conv_front is not None and feature_fn is None:
            raise ValueError("conv_front needs pairs from first-layer maps (feature_fn); "
                             "random projections are not maps.")
        self.x, self.objective, self.options = x, objective, options
        self.callback, self.constraints = callback, constraints
        self._init_mine(feature_fn)
        self.ctx = objective.prepare(x, y)
        self.s = float(objective.mi_sign)
        n = x.shape[0]
        self.c = torch.as_tensor(options.initial_const, device=x.device,
                                 dtype=x.dtype).expand(n).clone()
        delta = initial_delta(x, options.init, options.eps, options.seed, options.image_shape)
        if constraints is not None:
            delta = constraints.project_delta(delta, x)
        self.delta = delta.requires_grad_(True)
        self.best, self.fallback = BestKeeper(x), BestKeeper(x)
        # the MI's gradient in delta: by autograd through the pairs and the bound
        # where the engine keeps that graph (the reference), else written out
        if self.nets.differentiable:
            self._mine_phase, self._gradient = self._autograd_phase, self._autograd_gradient
        else:
            self._mine_phase, self._gradient = self._written_phase, self._written_gradient

    def _init_mine(self, feature_fn):
        """The pairs, the clean side ``fx`` of every pair, the networks and their shuffles."""
        x, options, mine = self.x, self.options, self.options.mine
        rnd = _Randomness(options.seed, x.shape[1], random_projection=feature_fn is None,
                          n_pairs=mine.n_pairs, pair_dim=mine.pair_dim, dtype=x.dtype,
                          device=x.device)
        self.pairs = rnd.projection if feature_fn is None else FeaturePairs(feature_fn)
        with torch.no_grad():
            self.fx = self.pairs(x)
        k, p = self.fx.shape[1], self.fx.shape[2]
        front = None
        if options.conv_front is not None:
            filters, kernel = (int(v) for v in options.conv_front)
            front = (filters, kernel, conv_map_shape(p, options.image_shape))
        theta0, perms = rnd.mine_draws(p, k, mine.hidden_sizes, options.max_iter + 1,
                                       mine.n_steps, conv_front=front)
        self.perms = perms.to(x.device)  # (iteration, the training steps and the estimate, K)
        self.nets = make_networks(mine, x.shape[0], p, init=theta0, device=x.device,
                                  dtype=x.dtype, conv_front=front)

    def run(self):
        """The MinMax iterations ``t = 0 .. max_iter``.

        Returns
        -------
        AttackResult
            Per sample, the best iterate where one qualified, else the
            iterate of smallest ``f`` (see :func:`minmax_mine`).
        """
        for t in range(self.options.max_iter + 1):
            x_adv, f, mi = self._mine_phase(t)
            self._record(t, x_adv, f, mi)
            if t == self.options.max_iter:
                break
            grad = self._gradient(f, mi)
            self._primal_step(grad)
            self._dual_step(t, f)
        return _best_or_fallback(self.best, self.fallback)

    # ------------------------------------------ MINE phase: train, then evaluate
    def _autograd_phase(self, t):
        """Train the networks on the pairs of ``(x, x')``; ``x'``, ``f(x')`` and ``MI(x, x')``."""
        x, options = self.x, self.options
        with torch.enable_grad():
            x_adv = clip(x + self.delta, options.clip_values)
            fy = self.pairs(x_adv)
            self.nets.train(self.fx, fy, self.perms[t, :-1])
            f = self.objective.loss(x_adv, x, self.ctx)
            mi = self.nets.estimate(self.fx, fy, self.perms[t, -1])
        return x_adv, f, mi

    def _written_phase(self, t):
        """As :meth:`_autograd_phase`, keeping what :meth:`_written_gradient` needs."""
        x, options = self.x, self.options
        with torch.no_grad():
            fy, self._pair_cache = self.pairs.forward_for_backward(
                clip(x + self.delta, options.clip_values))
        self.nets.train(self.fx, fy, self.perms[t, :-1])
        with torch.enable_grad():  # autograd only through the model
            x_adv = clip(x + self.delta, options.clip_values)
            f = self.objective.loss(x_adv, x, self.ctx)
        mi, self._grad_fy = self.nets.estimate_and_grad(self.fx, fy, self.perms[t, -1])
        return x_adv, f, mi

    # ------------------------------------------- the gradient of c * f + s * MI
    def _autograd_gradient(self, f, mi):
        """``d/d delta`` of ``sum(c * f + s * MI)``, all by autograd."""
        with torch.enable_grad():
            (grad,) = torch.autograd.grad((self.c * f + self.s * mi).sum(), self.delta)
        return grad

    def _written_gradient(self, f, mi):
        """As :meth:`_autograd_gradient`: autograd through ``f``, the MI's term written out."""
        clip_values = self.options.clip_values
        with torch.enable_grad():
            (grad,) = torch.autograd.grad((self.c * f).sum(), self.delta, allow_unused=True)
            grad_mi = self.pairs.backward(self.s * self._grad_fy, self._pair_cache)
            if clip_values is not None:  # the clamp's derivative, as autograd's
                v = (self.x + self.delta).detach()
                grad_mi = grad_mi * ((v >= clip_values[0]) & (v <= clip_values[1]))
        return grad_mi if grad is None else grad + grad_mi

    # ------------------------------------------------------------ the updates
    def _record(self, t, x_adv, f, mi):
        """Report an evaluation; from ``t = 1`` on, offer ``x'`` to the best and the fallback.

        The start ``delta_0`` is not a candidate, so ``max_iter`` steps give
        ``max_iter`` candidates.
        """
        with torch.no_grad():
            f, mi, x_adv = f.detach(), mi.detach(), x_adv.detach()
            if self.callback is not None:
                self.callback(t, c=self.c, f=f, mi=mi)
            if t > 0:
                ok = f <= 0
                if self.s > 0:
                    ok &= mi > 0
                self.best.offer(x_adv, ok, self.s * mi, mi=mi, loss=f)
                self.fallback.offer(x_adv, torch.ones_like(ok), f, mi=mi, loss=f)

    def _dual_step(self, t, f):
        """``c <- max(0, (1 - beta * gamma_t) * c + beta * f)``, ``gamma_t = (t + 1) ** (-1/4)``."""
        beta = self.options.dual_step
        with torch.no_grad():
            gamma = (t + 1) ** -0.25
            self.c = torch.clamp((1 - beta * gamma) * self.c + beta * f.detach(), min=0)

    def _primal_step(self, grad):
        """A step of ``delta`` against ``grad``, projected onto the box and the constraints."""
        options, constraints = self.options, self.constraints
        eps = options.eps
        with torch.no_grad():
            move = _step(masked(grad, constraints), options.lr, eps, options.step)
            delta = (self.delta - move).clamp_(-eps, eps)
            if constraints is not None:
                delta = constraints.project_delta(delta, self.x)
        self.delta = delta.requires_grad_(True)


def minmax_mine(
    x,
    objective,
    *,
    y=None,
    feature_fn=None,
    eps=0.3,
    lr=0.01,
    step="plain",
    max_iter=40,
    initial_const=1e-3,
    dual_step=0.1,
    n_mine_steps=20,
    mine_lr=1e-3,
    mine_hidden_sizes=(32, 10),
    mine_ma_rate=None,
    n_pairs=64,
    pair_dim=32,
    clip_values=(0.0, 1.0),
    init="zeros",
    seed=0,
    callback=None,
    mine_backend="auto",
    image_shape=None,
    conv_front=None,
    constraints=None,
):
    """Run the MinMax MINE attack on a batch (pure torch, any device).

    Every sample has its own perturbation ``delta``, its own dual variable
    ``c`` and its own statistics network; all are updated together. One
    iteration ``t``:

    1. train the statistics networks for ``n_mine_steps`` Adam steps on the
       pairs of ``(x, x')`` with ``x' = clip(x + delta)``;
    2. evaluate ``f(x')`` and ``MI(x, x')``; keep ``x'`` if it is the best
       iterate so far (see below);
    3. one gradient step on ``L = c * f + s * MI`` for ``delta`` (plain, or
       normalised per row, see ``step``), then projection onto the box
       ``[-eps, eps]`` and onto the feature ``constraints``;
    4. dual update ``c <- max(0, (1 - beta * gamma_t) * c + beta * f)`` with
       ``gamma_t = (t + 1) ** (-1/4)``.

    ``s = objective.mi_sign``. Best iterate: with ``s = +1`` the iterate
    with ``f == 0`` and ``MI > 0`` of lowest MI; with ``s = -1`` the iterate
    with ``f == 0`` of highest MI; where no iterate qualifies, the one of
    smallest ``f``. The start ``delta_0`` is not a candidate; ``max_iter``
    steps give ``max_iter`` candidates.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
        Clean inputs.
    objective : objective object
        Provides ``prepare(x, y)``, the attack loss ``loss(x_adv, x, ctx)``
        and ``mi_sign`` (see :class:`~sk_uae.attacks.ReconstructionObjective`).
    y : torch.Tensor of shape (B,), optional
        Labels given to ``objective.prepare`` (classifiers: true labels, or
        targets when the objective is targeted; ``None`` uses the model's
        predictions).
    feature_fn : callable, optional
        If given, MINE pairs come from it (:class:`~sk_uae.mine.FeaturePairs`);
        otherwise from random projections.
    eps : float or torch.Tensor of shape (d,), default=0.3
        Half-width of the L-infinity box on ``delta`` (per column when a
        tensor).
    lr : float, default=0.01
        Step size on ``delta``: of the gradient itself (``step="plain"``) or
        of the largest coordinate's move, as a fraction of ``eps``
        (``step="normalized"``).
    step : {"plain", "normalized"}, default="plain"
        ``"plain"``: ``delta -= lr * grad`` (the reference). ``"normalized"``:
        the gradient in units of ``eps`` divided by its L-infinity norm per
        row, so that each step moves the row's most sensitive column by
        ``lr * eps`` whatever the scale of the loss.
    max_iter : int, default=40
        MinMax iterations ``T`` (candidates for the returned example).
    initial_const : float or torch.Tensor of shape (B,), default=1e-3
        Initial dual variable ``c_0`` (one per sample when a tensor).
    dual_step : float, default=0.1
        ``beta`` of the dual update; 0 keeps ``c`` fixed.
    n_mine_steps : int, default=20
        Adam steps on the statistics networks per iteration.
    mine_lr : float, default=1e-3
        Adam learning rate of the statistics networks.
    mine_hidden_sizes : tuple of int, default=(32, 10)
        Dense widths of each branch of the statistics networks.
    mine_ma_rate : float or None, default=None
        Moving-average bias correction of the MINE gradient (``None``: off).
    n_pairs : int, default=64
        Number of random projections ``K`` (ignored with ``feature_fn``).
    pair_dim : int, default=32
        Dimension of each random projection (ignored with ``feature_fn``).
    clip_values : tuple (low, high) or None, default=(0.0, 1.0)
        Valid input range of ``x'`` (numbers, or tensors of the shape of
        ``x``: per element); ``None`` for unbounded data.
    init : {"zeros", "uniform", "glorot"}, default="zeros"
        Start ``delta_0``: zero, a uniform draw in the box, or the
        reference's Glorot-uniform draw; the random starts are drawn per row
        and depend on the seed and the row only.
    seed : int, default=0
        Seed of all random draws (projections, ``delta_0``, MINE weights,
        shuffles).
    callback : callable, optional
        Called as ``callback(t, c=..., f=..., mi=...)`` after each evaluation.
    mine_backend : {"auto", "native", "fused", "autograd"}, default="auto"
        How the statistics networks are trained:
        :class:`~sk_uae.mine.FusedStatisticsNetworks` with written-out
        gradients, through its compiled step where that applies (``"auto"``
        and ``"native"``: CPU, float32 or float64, two dense layers per
        branch, no conv front, no ``mine_ma_rate``, the compiled library
        built; elsewhere as ``"fused"``) or in torch only (``"fused"``), or
        :class:`~sk_uae.mine.StatisticsNetworks` (autograd and a
        multi-tensor Adam: the reference the others are tested against).
        The results agree to float rounding.
    image_shape : tuple (C, H, W), optional
        Image shape of the rows, for ``init="glorot"`` and for the map shape
        of the conv front (``None``: one square channel, or a tabular row,
        as :class:`MinMaxMINE` describes).
    conv_front : tuple (filters, kernel), optional
        A Conv2D front on each branch of the statistics networks, over the
        first-layer maps of ``feature_fn`` (the reference's ``conv`` mode:
        ``(16, 2)``); see :class:`~sk_uae.mine.StatisticsNetworks`.
    constraints : TorchConstraints, optional
        Feature constraints: immutable columns take no step, and ``delta``
        is projected onto the bounds and directions after every step.

    Returns
    -------
    AttackResult
        Where an iterate qualified (``success``), the best one and its MI
        and ``f``; elsewhere the iterate of smallest ``f``.

    See Also
    --------
    MinMaxMINE : The parameter object, with more details on the parameters.
    """
    options = MinMaxOptions(
        eps=eps, lr=lr, step=step, max_iter=max_iter, initial_const=initial_const,
        dual_step=dual_step, clip_values=clip_values, init=init, seed=seed,
        image_shape=image_shape, conv_front=conv_front,
        mine=MINEOptions(backend=mine_backend, n_steps=n_mine_steps, lr=mine_lr,
                         hidden_sizes=mine_hidden_sizes, ma_rate=mine_ma_rate, n_pairs=n_pairs,
                         pair_dim=pair_dim))
    return _MinMaxRun(x, objective, options, y=y, feature_fn=feature_fn, callback=callback,
                      constraints=constraints).run()


def _step(grad, lr, eps, step):
    """The move of ``delta``: ``lr * grad``, or normalised per row in units of ``eps``."""
    if step == "plain":
        return lr * grad
    g = grad * eps  # the gradient with respect to delta / eps
    top = g.abs().amax(1, keepdim=True)
    return (lr * eps) * g / top.clamp_min(torch.finfo(g.dtype).tiny)


def _best_or_fallback(best, fallback):
    """The kept best example where one qualified, else the fallback (smallest ``f``)."""
    found = best.found
    pick = lambda k: torch.where(found, best.extra[k], fallback.extra[k])  # noqa: E731
    return AttackResult(x_adv=torch.where(found[:, None], best.x, fallback.x), success=found,
                        mi=pick("mi"), loss=pick("loss"))


def _const_search(attack, x, mi_sign, const_search_steps, initial_const):
    """Full runs ``attack(c)`` with ``c`` moved between them by a binary search.

    ``attack(c)`` runs MinMax MINE with ``c`` held fixed per sample; the
    best successful example over all runs is kept by the rule within a run.
    """
    s = float(mi_sign)
    search = ConstSearch(initial_const, x.shape[0], x.device, x.dtype)
    best, fallback = BestKeeper(x), BestKeeper(x)
    for _ in range(const_search_steps):
        res = attack(search.const)
        best.offer(res.x_adv, res.success, s * res.mi, mi=res.mi, loss=res.loss)
        fallback.offer(res.x_adv, torch.ones_like(res.success), res.loss, mi=res.mi,
                       loss=res.loss)
        search.update(res.success)
    return _best_or_fallback(best, fallback)


def minmax_mine_search(x, objective, *, const_search_steps=9, initial_const=1e-3, **kwargs):
    """MinMax MINE with a Carlini-Wagner binary search over ``c`` instead of the dual update.

    Runs :func:`minmax_mine` ``const_search_steps`` times with ``c`` held
    fixed per sample (``dual_step=0``); after each run, a sample's ``c``
    moves by the rule of :class:`~sk_uae.attacks._search.ConstSearch`
    (down after a success, up otherwise). The output is the best successful
    example over all runs by the same rule as within a run (``s * MI``
    lowest: highest MI for supervised objectives); where no run succeeded,
    the example of smallest ``f``. Every run uses the same ``seed``.

    Parameters
    ----------
    x, objective
        As :func:`minmax_mine`.
    const_search_steps : int
        Number of full MinMax runs (the reference's supervised script: 9).
    initial_const : float
        ``c`` of the first run.
    **kwargs
        Passed to :func:`minmax_mine` (not ``dual_step``).

    Returns
    -------
    AttackResult
    """
    kwargs.pop("dual_step", None)
    return _const_search(
        lambda const: minmax_mine(x, objective, initial_const=const, dual_step=0.0, **kwargs),
        x, objective.mi_sign, const_search_steps, initial_const)


@fill_doc(note=ATTACK_NOTE, clip_values=CLIP_VALUES_DOC, objective=OBJECTIVE_DOC,
          eps_scale=EPS_SCALE_DOC)
class MinMaxMINE(_GoalMixin, _ObjectiveMixin, _BoxAttack):
    """MinMax attack with a per-sample MINE similarity (the UAE attack).

    Finds, for every sample ``x``, a perturbation ``delta`` in the box
    ``[-eps, eps]^d`` such that ``x' = clip(x + delta)`` meets the
    objective's goal (``f(x') == 0``) while the mutual information between
    ``x`` and ``x'`` -- estimated by a statistics network trained for that
    sample alone -- is as low (unsupervised objectives) or as high
    (supervised ones) as possible. The constraint weight ``c`` follows a
    dual ascent. See Hsu et al., *Adversarial Examples Can Be Effective Data
    Augmentation for Unsupervised Machine Learning*, AAAI 2022.

    %(note)s

    Parameters
    ----------
    eps : float, default=0.3
        Half-width of the L-infinity box on ``delta``, in the units of
        ``eps_scale`` (by default each column's range). This is the
        parameter a grid search should search: with the default normalised
        step the examples use the box it sets.
    max_iter : int, default=40
        MinMax iterations ``T`` (reference scripts: 40 for autoencoders).
    lr : float, default=0.1
        Step size on ``delta``: with ``step="normalized"`` the move of the
        row's most sensitive column per iteration, as a fraction of
        ``eps``; with ``step="plain"`` the factor of the raw gradient (the
        reference: 0.01). ``0`` leaves the start in place: the returned
        examples are the starts.
    step : {"normalized", "plain"}, default="normalized"
        ``"normalized"``: the gradient, in units of ``eps``, divided by its
        largest entry per row, as PGD normalises its step -- the budget
        binds whatever the scale of the loss. ``"plain"``: ``lr`` times the
        raw gradient, the reference's step, whose size depends on the scale
        of the loss and of the data (on standardised tables it barely moves
        the rows, so ``eps`` never binds).
    %(eps_scale)s
    initial_const : float, default=1e-3
        Initial dual variable ``c_0``.
    dual_step : float, default=0.1
        ``beta`` of the dual update.
    n_mine_steps : int or "auto", default="auto"
        Adam steps on the statistics networks per iteration; ``"auto"`` is
        20 for unsupervised objectives and 1 for supervised ones.
    mine_lr : float, default=1e-3
        Adam learning rate of the statistics networks. The reference code
        uses ``1.5e-5``; with it the networks barely move in the attack's
        budget, the MI estimates stay negative and (on digits, sparse AE,
        eps=0.3, 40 iterations) no sample meets ``MI > 0``, so the default
        is larger (see ``docs/algorithms.md``).
    mine_hidden_sizes : tuple of int, default=(32, 10)
        Dense widths of each branch of the statistics network (reference:
        ``(512, 10)``; the layers of a branch have no activation in between,
        so the first width changes the optimisation, not what the network can
        express, and a smaller one keeps CPUs fast).
    mine_ma_rate : float or None, default=None
        Moving-average bias correction of the MINE gradient (``None``: off,
        as in the reference).
    pairs : {"random_projection", "features", "auto"}, default="random_projection"
        How one sample becomes MINE pairs: ``n_pairs`` random projections to
        ``pair_dim`` dimensions, or the channels of the model's first layer;
        ``"auto"`` (the reference's choice) takes the features when the
        model's first layer is a ``Conv2d`` and the projections otherwise.
    mine_conv_front : tuple (filters, kernel) or None, default=None
        A Conv2D front on each branch of the statistics networks, applied to
        the first-layer maps when the pairs are ``"features"`` of a conv
        layer (reference: ``(16, 2)``; unused with random projections). It
        multiplies the networks' size: at ``(16, 2)`` on 28x28 maps each
        branch has 6 million weights (timings on the performance page).
    n_pairs : int, default=64
        Number of random projections ``K`` (reference: 500).
    pair_dim : int, default=32
        Dimension of each projection (reference: 128).
    %(clip_values)s
    init : {"zeros", "uniform", "glorot"}, default="zeros"
        Start of ``delta``: zero; a uniform draw in the box; or the
        reference's start, TF1's Glorot-uniform ``U(-L, L)`` with
        ``L = sqrt(6 / (W * H + C * H))`` for images of shape ``(C, H, W)``
        (MNIST: 0.0860), clipped to the box. The random starts are drawn
        per row from the seed and the row's values, so they do not depend
        on the batch layout. The image shape is the model module's
        ``input_shape`` when it has one, else one square channel; rows whose
        width is not a square are tabular, a ``(1, d)`` variable with
        ``L = sqrt(6 / (1 + d))``.
    %(objective)s
    const_search_steps : int, default=0
        ``0``: the dual update of ``c`` (the paper's MinMax). ``k > 0``: ``k``
        full runs of ``max_iter`` iterations, ``c`` fixed per sample within a
        run and moved between runs by a Carlini-Wagner binary search from
        ``initial_const`` (the reference's supervised script: 9 steps); ``k``
        times the cost.
    mine_backend : {"auto", "native", "fused", "autograd"}, default="auto"
        How the statistics networks are trained (see :func:`minmax_mine`):
        with written-out gradients, by a compiled step (``"native"``, the
        fastest on CPUs) or in torch (``"fused"``), or with autograd, the
        engine before the fused one (the performance page has the figures).
        ``"auto"`` runs the compiled step where it can run -- on the CPU,
        with two dense layers per branch, no conv front, no
        ``mine_ma_rate`` and the library built by a C++ compiler (not with
        ``SK_UAE_NATIVE=0``) -- and the fused engine elsewhere; an explicit
        ``"native"`` falls back the same way. The engines agree to float
        rounding, which in float32 can change single examples and the
        success rate: ``mine_backend_`` names the engine that runs, and
        :meth:`~sk_uae.UAEGenerator.generate_to` and ``sk-uae augment``
        record it.

    Attributes
    ----------
    clip_values_ : tuple (low, high) or None
        The valid input range after :meth:`fit`.
    eps_scale_ : ndarray of shape (n_features,) or None
        The units of ``eps`` per column after :meth:`fit`.
    mine_backend_ : {"native", "fused", "autograd"}
        The engine that runs (:meth:`engine_for`): set by :meth:`fit` for
        the CPU, then by every run for its device and model (a CUDA run,
        or a conv front on the model's first-layer maps, gives
        ``"fused"``); a :class:`~sk_uae.UAEGenerator` sets it for its
        ``device`` and model when it is fitted.

    See Also
    --------
    MinMaxMINE.reference : The reference code's unsupervised settings.

    Examples
    --------
    >>> from sk_uae.attacks import MinMaxMINE
    >>> MinMaxMINE(eps=0.1, max_iter=20).get_params()["eps"]
    0.1
    >>> MinMaxMINE.reference().get_params()["mine_lr"]
    1.5e-05
    """

    _REFERENCE = {
        "eps": 1.0,
        "lr": 0.01,
        "max_iter": 40,
        "initial_const": 1e-3,
        "dual_step": 0.1,
        "n_mine_steps": 20,
        "mine_lr": 1.5e-5,
        "mine_hidden_sizes": (512, 10),
        "init": "glorot",
        "pairs": "auto",
        "mine_conv_front": (16, 2),
        "n_pairs": 500,
        "pair_dim": 128,
        "step": "plain",
        "eps_scale": "none",
    }

    _parameter_constraints = {
        "eps": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="left")],
        "step": [StrOptions({"normalized", "plain"})],
        "eps_scale": EPS_SCALE_CONSTRAINT,
        "initial_const": [Interval(Real, 0, None, closed="left")],
        "dual_step": [Interval(Real, 0, None, closed="left")],
        "n_mine_steps": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "mine_lr": [Interval(Real, 0, None, closed="neither")],
        "mine_hidden_sizes": [tuple, list],
        "mine_ma_rate": [Interval(Real, 0, 1, closed="neither"), None],
        "pairs": [StrOptions({"random_projection", "features", "auto"})],
        "mine_conv_front": [tuple, list, None],
        "n_pairs": [Interval(Integral, 2, None, closed="left")],
        "pair_dim": [Interval(Integral, 2, None, closed="left")],
        "clip_values": CLIP_VALUES_CONSTRAINT,
        "init": [StrOptions({"zeros", "uniform", "glorot"})],
        **OBJECTIVE_CONSTRAINTS,
        "const_search_steps": [Interval(Integral, 0, None, closed="left")],
        "mine_backend": [StrOptions(set(ENGINE_NAMES))],  # "auto" and the three engines
    }

    def __init__(
        self,
        eps=0.3,
        max_iter=40,
        lr=0.1,
        step="normalized",
        eps_scale="range",
        initial_const=1e-3,
        dual_step=0.1,
        n_mine_steps="auto",
        mine_lr=1e-3,
        mine_hidden_sizes=(32, 10),
        mine_ma_rate=None,
        pairs="random_projection",
        n_pairs=64,
        pair_dim=32,
        clip_values="auto",
        init="zeros",
        objective="auto",
        targeted=False,
        confidence=0.0,
        const_search_steps=0,
        mine_backend="auto",
        mine_conv_front=None,
    ):
        self.eps = eps
        self.max_iter = max_iter
        self.lr = lr
        self.step = step
        self.eps_scale = eps_scale
        self.initial_const = initial_const
        self.dual_step = dual_step
        self.n_mine_steps = n_mine_steps
        self.mine_lr = mine_lr
        self.mine_hidden_sizes = mine_hidden_sizes
        self.mine_ma_rate = mine_ma_rate
        self.pairs = pairs
        self.n_pairs = n_pairs
        self.pair_dim = pair_dim
        self.clip_values = clip_values
        self.init = init
        self.objective = objective
        self.targeted = targeted
        self.confidence = confidence
        self.const_search_steps = const_search_steps
        self.mine_backend = mine_backend
        self.mine_conv_front = mine_conv_front

    @classmethod
    def reference(cls, **overrides):
        """A ``MinMaxMINE`` with the reference code's unsupervised settings.

        The settings of the reference's autoencoder scripts: ``eps=1.0``
        in the data's own units (``eps_scale="none"``; only the input range
        binds), the plain step ``lr=0.01`` (``step="plain"``), ``max_iter=40``,
        ``initial_const=1e-3``, ``dual_step=0.1``, 20 MINE steps per
        iteration at ``mine_lr=1.5e-5``, branch widths ``(512, 10)``, the
        Glorot start (``init="glorot"``), and MINE pairs from the first-layer
        maps with a Conv2D(16, 2) front for models whose first layer is a
        convolution, 500 random projections to 128 dimensions otherwise
        (``pairs="auto"``). What still differs from the reference is listed
        in the algorithms page.

        Parameters
        ----------
        **overrides
            Parameters to set differently (any of the constructor's).

        Returns
        -------
        MinMaxMINE
        """
        unknown = set(overrides) - set(cls._get_param_names())
        if unknown:
            raise TypeError(f"MinMaxMINE.reference() got unknown parameters {sorted(unknown)}; "
                            f"expected MinMaxMINE's: {cls._get_param_names()}.")
        return cls(**{**cls._REFERENCE, **overrides})

    def _check_params(self):
        if not self.mine_hidden_sizes or any(int(h) < 1 for h in self.mine_hidden_sizes):
            raise ValueError(
                "mine_hidden_sizes must be a non-empty tuple of positive widths; "
                f"got {self.mine_hidden_sizes!r}."
            )
        front = self.mine_conv_front
        if front is not None and (len(front) != 2 or any(int(v) < 1 for v in front)):
            raise ValueError("mine_conv_front must be None or (filters, kernel) with positive "
                             f"ints, e.g. (16, 2); got {front!r}.")
        if front is not None and self.pairs == "random_projection":
            raise ValueError("mine_conv_front works on first-layer maps: it needs "
                             "pairs='features' or 'auto', not 'random_projection'.")

    def _budget(self):
        return float(self.eps), "linf"

    def _fit_data(self, X):
        super()._fit_data(X)
        self.mine_backend_ = self.engine_for("cpu")

    def engine_for(self, device="cpu", model=None):
        """The MINE engine that runs this attack on ``device`` against ``model``.

        ``mine_backend`` resolved for that run: ``"auto"`` and ``"native"``
        give ``"native"`` where the compiled step can run (CPU, two dense
        layers per branch, no conv front, no ``mine_ma_rate``, the library
        built on this machine) and ``"fused"`` elsewhere.

        Parameters
        ----------
        device : str or torch.device, default="cpu"
            Where the attack runs (``"auto"``: CUDA when available).
        model : fitted estimator or torch.nn.Module, optional
            The attacked model; it matters only with ``pairs="auto"`` and a
            ``mine_conv_front`` (a first ``Conv2d`` layer gives the conv
            front, which the compiled step does not run). ``None``: no
            model, as :meth:`run` without ``module``.

        Returns
        -------
        {"native", "fused", "autograd"}
        """
        module = model if isinstance(model, nn.Module) else getattr(model, "module_", None)
        _, conv_front = self._pairs_for(module)
        return resolve_engine(self.mine_backend, resolve_device(device), torch.float32,
                              tuple(int(h) for h in self.mine_hidden_sizes), conv_front,
                              self.mine_ma_rate)

    def _prepare_run(self, device, model):
        self.mine_backend_ = self.engine_for(device, model)

    def _pairs_for(self, module):
        """``(pairs, conv_front)`` of a run against ``module``: what ``"auto"`` resolves to."""
        pairs = self.pairs
        if pairs == "auto":
            pairs = "features" if _first_layer_is_conv(module) else "random_projection"
        conv_front = None
        if pairs == "features" and self.mine_conv_front is not None:
            conv_front = tuple(int(v) for v in self.mine_conv_front)
        return pairs, conv_front

    def _run(self, batch):
        pairs, conv_front = self._pairs_for(batch.module)
        # the engine of this batch's device (and dtype, in the run), recorded
        self.mine_backend_ = self.engine_for(batch.x.device, batch.module)
        feature_fn = None
        if pairs == "features":
            if batch.module is None:
                raise ValueError("pairs='features' needs the attacked module: pass "
                                 "run(..., module=...).")
            feature_fn = first_layer_features(batch.module)
        x, objective = batch.x, batch.objective
        options = MinMaxOptions(
            eps=self._engine_eps(x, self.eps), lr=float(self.lr), step=self.step,
            max_iter=int(self.max_iter), initial_const=float(self.initial_const),
            dual_step=float(self.dual_step), clip_values=self._bounds(x), init=self.init,
            seed=batch.seed, image_shape=_module_image_shape(batch.module, x.shape[1]),
            conv_front=conv_front, mine=self._mine_options(objective))
        inputs = dict(y=batch.y, feature_fn=feature_fn, callback=batch.callback,
                      constraints=batch.constraints)
        if self.const_search_steps == 0:
            return _MinMaxRun(x, objective, options, **inputs).run()
        return _const_search(
            lambda const: _MinMaxRun(x, objective, replace(options, initial_const=const,
                                                           dual_step=0.0), **inputs).run(),
            x, objective.mi_sign, int(self.const_search_steps), options.initial_const)

    def _mine_options(self, objective):
        """The MINE settings of a run against ``objective`` (``n_mine_steps="auto"`` resolved)."""
        n_steps = self.n_mine_steps
        if n_steps == "auto":
            n_steps = 20 if objective.mi_sign > 0 else 1
        return MINEOptions(backend=self.mine_backend_, n_steps=int(n_steps),
                           lr=float(self.mine_lr), hidden_sizes=self.mine_hidden_sizes,
                           ma_rate=self.mine_ma_rate, n_pairs=int(self.n_pairs),
                           pair_dim=int(self.pair_dim))


def _first_layer_is_conv(module):
    """Whether the first ``Conv2d`` or ``Linear`` layer of ``module`` is a ``Conv2d``."""
    return module is not None and isinstance(first_layer(module), nn.Conv2d)


def _module_image_shape(module, n_features):
    """The module's ``input_shape`` (C, H, W) when it has one that fits the rows, else None."""
    shape = getattr(module, "input_shape", None)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        return None
    return shape if len(shape) == 3 and math.prod(shape) == n_features else None
