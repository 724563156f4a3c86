"""Batched per-sample mutual-information neural estimation (MINE).

The UAE attack estimates, for every sample ``x`` separately, the mutual
information between ``x`` and its perturbed copy ``x'``. One sample gives one
set of ``K`` *pairs* (``K`` views of ``x`` beside the same ``K`` views of
``x'``); a small *statistics network* ``T`` is trained on those pairs to
maximise the Donsker-Varadhan lower bound

.. math:: I(x; x') \\ge \\frac1K\\sum_k T(a_k, b_k) - \\log\\frac1K\\sum_k e^{T(a_k, b_{\\pi(k)})}

where ``pi`` shuffles the pair index to form the marginal samples.

This module holds the pure-torch pieces, batched over samples: ``B``
independent statistics networks live in one flat parameter tensor of shape
``(B, P)`` and are trained together with one hand-written Adam update, so
there is no Python loop over samples. Nothing here knows about
scikit-learn.

Pair builders turn a batch ``(B, d)`` into pairs ``(B, K, p)``:

* :class:`RandomProjectionPairs` -- ``K`` Gaussian projections to ``p``
  dimensions, each projected vector standardised; works for any input.
* :class:`FeaturePairs` -- the channels (or units) of the attacked model's
  first layer, as in the reference code's ``conv`` mode.
"""

import math

from numbers import Integral

import numpy as np
import torch

from .utils import resolve_device

__all__ = [
    "dv_lower_bound",
    "StatisticsNetworks",
    "RandomProjectionPairs",
    "FeaturePairs",
    "estimate_mi",
]


def dv_lower_bound(t_joint, t_marginal):
    """Donsker-Varadhan bound from statistics on joint and marginal pairs.

    Parameters
    ----------
    t_joint, t_marginal : torch.Tensor of shape (B, K)
        Statistics-network outputs on the joint and on the shuffled pairs.

    Returns
    -------
    torch.Tensor of shape (B,)
        ``mean(t_joint) - log(mean(exp(t_marginal)))``, computed with
        ``logsumexp`` so that large statistics do not overflow.
    """
    k = t_marginal.shape[-1]
    return t_joint.mean(-1) - (torch.logsumexp(t_marginal, -1) - math.log(k))


class StatisticsNetworks:
    """``B`` independent MINE statistics networks trained as one tensor.

    Each network follows the reference architecture: per branch (one for the
    ``x`` side, one for the ``x'`` side) dense layers of ``hidden_sizes``
    without activation in between, the two branches summed, a ReLU, and a
    dense output unit without bias.

    Parameters
    ----------
    n_networks : int
        ``B``, the number of independent networks (one per sample).
    in_dim : int
        Width ``p`` of one pair member.
    hidden_sizes : tuple of int, default=(32, 10)
        Widths of the dense layers of each branch; the reference uses
        ``(512, 10)``.
    init : torch.Tensor of shape (P,), optional
        Flat initial parameters shared by all ``B`` networks (so the result
        for one sample never depends on which batch it sits in). Drawn with
        :meth:`initial_parameters` when omitted.
    lr : float, default=1.5e-5
        Adam learning rate (the reference's value).
    betas : tuple of two float, default=(0.9, 0.999)
        Adam's decay rates of the first and second moment estimates.
    adam_eps : float, default=1e-8
        Adam's term added to the denominator.
    ma_rate : float or None, default=None
        If set, the moving-average bias correction of the MINE paper with
        this rate; ``None`` trains on the plain bound (the reference).
    device : str or torch.device, default="cpu"
        Torch device of the parameters (and of the pairs they are used on).
    dtype : torch.dtype, default=torch.float32
        Floating-point type of the parameters.
    generator : torch.Generator, optional
        Source of the random initial parameters when ``init`` is omitted;
        ``None`` uses torch's global generator.
    """

    def __init__(
        self,
        n_networks,
        in_dim,
        hidden_sizes=(32, 10),
        init=None,
        lr=1.5e-5,
        betas=(0.9, 0.999),
        adam_eps=1e-8,
        ma_rate=None,
        device="cpu",
        dtype=torch.float32,
        generator=None,
    ):
        self.n_networks = n_networks
        self.in_dim = in_dim
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.lr = lr
        self.betas = betas
        self.adam_eps = adam_eps
        self.ma_rate = ma_rate
        self._shapes = self.parameter_shapes(in_dim, self.hidden_sizes)
        if init is None:
            init = self.initial_parameters(in_dim, self.hidden_sizes, generator=generator)
        init = init.to(device=device, dtype=dtype)
        self.params = [
            w.unsqueeze(0).repeat(n_networks, *([1] * w.dim())).requires_grad_(True)
            for w in self.split(init, self._shapes)
        ]
        self._m = [torch.zeros_like(w) for w in self.params]
        self._v = [torch.zeros_like(w) for w in self.params]
        self._step = 0
        self._log_ma = None

    # ------------------------------------------------------------------ layout
    @staticmethod
    def parameter_shapes(in_dim, hidden_sizes):
        """Shapes of the parameters of one network, in flat order.

        Parameters
        ----------
        in_dim : int
            Width ``p`` of one pair member.
        hidden_sizes : tuple of int
            Widths of the dense layers of each branch.

        Returns
        -------
        list of tuple
            Weight and bias shapes of the ``x`` branch, then of the ``x'``
            branch, then the output weight vector.
        """
        shapes = []
        for _branch in range(2):
            width = in_dim
            for h in hidden_sizes:
                shapes += [(width, h), (h,)]
                width = h
        shapes.append((hidden_sizes[-1],))
        return shapes

    @classmethod
    def initial_parameters(cls, in_dim, hidden_sizes, generator=None):
        """Glorot-uniform weights and zero biases, flattened (one network).

        Parameters
        ----------
        in_dim : int
            Width ``p`` of one pair member.
        hidden_sizes : sequence of int
            Widths of the dense layers of each branch.
        generator : torch.Generator, optional
            Source of the uniform draws; ``None`` uses torch's global
            generator.

        Returns
        -------
        torch.Tensor of shape (P,), float32
        """
        parts = []
        for shape in cls.parameter_shapes(in_dim, tuple(hidden_sizes)):
            if len(shape) == 2:
                bound = math.sqrt(6.0 / (shape[0] + shape[1]))
                w = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
                parts.append(w.reshape(-1))
            else:
                parts.append(torch.zeros(shape, dtype=torch.float64))
        # the output unit (last entry) is a weight vector, not a bias
        h = hidden_sizes[-1]
        bound = math.sqrt(6.0 / (h + 1))
        parts[-1] = (torch.rand(h, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        return torch.cat(parts).float()

    @staticmethod
    def split(flat, shapes):
        """Split one network's flat parameters into tensors of ``shapes``.

        Parameters
        ----------
        flat : torch.Tensor of shape (P,)
            Flat parameters of one network.
        shapes : list of tuple
            Shapes in flat order (see :meth:`parameter_shapes`).

        Returns
        -------
        list of torch.Tensor
            Views of ``flat`` with those shapes.
        """
        out, start = [], 0
        for shape in shapes:
            size = math.prod(shape)
            out.append(flat[start : start + size].reshape(shape))
            start += size
        return out

    # ----------------------------------------------------------------- forward
    def _branch(self, params, z):
        # The dense layers of a branch have no activation in between, so the
        # branch is one affine map; composing the (small) weight matrices
        # first costs p*h1*h2 + K*p*h_last instead of K*p*h1 per network,
        # with the same function and the same parameter gradients.
        w, b = params[0], params[1]
        for w_next, b_next in zip(params[2::2], params[3::2]):
            b = (b.unsqueeze(-1) * w_next).sum(1) + b_next  # a (1 x h) @ (h x h') per network
            w = torch.bmm(w, w_next)
        return torch.baddbmm(b.unsqueeze(1), z, w)

    def statistics(self, a, b, perm, params=None):
        """Statistics on joint pairs and on pairs shuffled by ``perm``.

        Parameters
        ----------
        a, b : torch.Tensor of shape (B, K, p)
            The ``x`` side and the ``x'`` side of the pairs.
        perm : torch.LongTensor of shape (K,)
            The shuffle of the pair index that forms the marginal samples.
        params : list of torch.Tensor, optional
            Batched network parameters (leading dimension ``B``) to use
            instead of the current ones.

        Returns
        -------
        t_joint, t_marginal : torch.Tensor of shape (B, K)
        """
        params = self.params if params is None else params
        n = 2 * len(self.hidden_sizes)
        ha = self._branch(params[:n], a)
        hb = self._branch(params[n : 2 * n], b)
        w_out = params[-1].unsqueeze(1)  # (B, 1, h)
        # branches act row-wise, so shuffling their outputs equals
        # running the network on shuffled inputs (at half the cost)
        t_joint = (torch.relu(ha + hb) * w_out).sum(-1)
        t_marg = (torch.relu(ha + hb.index_select(1, perm)) * w_out).sum(-1)
        return t_joint, t_marg

    def estimate(self, a, b, perm):
        """Donsker-Varadhan estimate per network, shape (B,).

        Differentiable with respect to ``b`` (the attack uses that gradient)
        and to the parameters.

        Parameters
        ----------
        a, b : torch.Tensor of shape (B, K, p)
            The ``x`` side and the ``x'`` side of the pairs.
        perm : torch.LongTensor of shape (K,)
            The shuffle of the pair index that forms the marginal samples.

        Returns
        -------
        torch.Tensor of shape (B,)
        """
        return dv_lower_bound(*self.statistics(a, b, perm))

    # ---------------------------------------------------------------- training
    def step(self, a, b, perm):
        """One Adam ascent step of every network on its own pairs.

        ``a`` and ``b`` are treated as constants.

        Parameters
        ----------
        a, b : torch.Tensor of shape (B, K, p)
            The ``x`` side and the ``x'`` side of the pairs.
        perm : torch.LongTensor of shape (K,)
            The shuffle of the pair index that forms the marginal samples.

        Returns
        -------
        torch.Tensor of shape (B,)
            The bound before the step (detached).
        """
        a, b = a.detach(), b.detach()
        with torch.enable_grad():
            t_joint, t_marg = self.statistics(a, b, perm)
            mi = dv_lower_bound(t_joint, t_marg)
            if self.ma_rate is None:
                objective = mi
            else:
                objective = self._bias_corrected(t_joint, t_marg)
            grads = torch.autograd.grad(objective.sum(), self.params)
        self._adam(grads)
        return mi.detach()

    def _bias_corrected(self, t_joint, t_marg):
        # gradient of log E[e^T] replaced by grad E[e^T] / moving average
        k = t_marg.shape[-1]
        log_mean = torch.logsumexp(t_marg, -1) - math.log(k)
        lm = log_mean.detach()
        if self._log_ma is None:
            self._log_ma = lm
        else:
            r = self.ma_rate
            self._log_ma = torch.logaddexp(self._log_ma + math.log1p(-r), lm + math.log(r))
        return t_joint.mean(-1) - torch.exp(log_mean - self._log_ma)

    def _adam(self, grads):
        # torch.optim.Adam's update, ascending, on all networks at once
        b1, b2 = self.betas
        self._step += 1
        bc1 = 1 - b1**self._step
        bc2 = 1 - b2**self._step
        with torch.no_grad():
            torch._foreach_lerp_(self._m, grads, 1 - b1)
            torch._foreach_mul_(self._v, b2)
            torch._foreach_addcmul_(self._v, grads, grads, value=1 - b2)
            denom = torch._foreach_sqrt(self._v)
            torch._foreach_div_(denom, math.sqrt(bc2))
            torch._foreach_add_(denom, self.adam_eps)
            torch._foreach_addcdiv_(self.params, self._m, denom, value=self.lr / bc1)


class RandomProjectionPairs:
    """Pairs from ``K`` shared Gaussian random projections of the input.

    Projection ``k`` maps ``R^d`` to ``R^p`` with entries drawn from
    ``N(0, 1/p)``; each projected vector is standardised over its ``p``
    entries. The same projections serve ``x`` and ``x'`` (and every sample).

    Parameters
    ----------
    n_features : int
        Input width ``d``.
    n_pairs : int, default=64
        ``K`` (reference: 500).
    pair_dim : int, default=32
        ``p`` (reference: 128).
    generator : torch.Generator, optional
        Source of the projection matrix; ``None`` uses torch's global
        generator.
    device : str or torch.device, default="cpu"
        Torch device of the projection matrix.
    dtype : torch.dtype, default=torch.float32
        Floating-point type of the projection matrix.
    """

    def __init__(self, n_features, n_pairs=64, pair_dim=32, generator=None, device="cpu",
                 dtype=torch.float32):
        self.n_pairs = n_pairs
        self.pair_dim = pair_dim
        matrix = torch.randn(n_features, n_pairs * pair_dim, generator=generator)
        self.matrix = (matrix / math.sqrt(pair_dim)).to(device=device, dtype=dtype)

    def __call__(self, x):
        z = (x @ self.matrix).reshape(x.shape[0], self.n_pairs, self.pair_dim)
        mean = z.mean(-1, keepdim=True)
        std = torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + 1e-12)
        return (z - mean) / std


class FeaturePairs:
    """Pairs from the first layer of the attacked model.

    Pair ``k`` is (channel ``k`` of the first layer on ``x``, channel ``k`` on
    ``x'``), each channel map flattened; a dense first layer gives one
    scalar per unit. This is the reference code's ``conv`` pair builder.

    Parameters
    ----------
    feature_fn : callable
        Maps a batch ``(B, d)`` to first-layer activations ``(B, K, p)``.
    """

    def __init__(self, feature_fn):
        self.feature_fn = feature_fn

    def __call__(self, x):
        z = self.feature_fn(x)
        if z.dim() != 3:
            raise ValueError(
                "the feature function of FeaturePairs must return a tensor of shape "
                f"(batch, n_pairs, pair_dim); got shape {tuple(z.shape)}."
            )
        return z


@torch.no_grad()
def estimate_mi(
    X,
    X_other,
    *,
    n_steps=200,
    n_pairs=64,
    pair_dim=32,
    hidden_sizes=(32, 10),
    lr=1e-3,
    batch_size=256,
    random_state=0,
    device="cpu",
):
    """Per-sample MI estimate between rows of ``X`` and of ``X_other``.

    An attack-free yardstick: fresh statistics networks (random-projection
    pairs) are trained for ``n_steps`` Adam steps on each pair of rows and
    the final bound is returned. Use the same settings for everything you
    compare (for example UAEs against Gaussian noise of equal distortion).

    Parameters
    ----------
    X, X_other : array-like of shape (n_samples, n_features)
        Paired rows: row ``i`` of ``X`` is compared with row ``i`` of
        ``X_other`` (e.g. clean inputs and their adversarial examples).
    n_steps : int, default=200
        Adam steps per network.
    n_pairs : int, default=64
        Number of random projections ``K`` (see
        :class:`RandomProjectionPairs`).
    pair_dim : int, default=32
        Dimension ``p`` of each projection.
    hidden_sizes : tuple of int, default=(32, 10)
        Dense widths of each branch of the statistics networks.
    lr : float, default=1e-3
        Adam learning rate.
    batch_size : int, default=256
        Rows estimated together.
    random_state : int, default=0
        Seeds projections, initial weights and shuffles (shared by all rows,
        so the result of a row does not depend on the batching).
    device : str or torch.device, default="cpu"
        Torch device of the computation: ``"cpu"``, ``"cuda"``,
        ``"cuda:<i>"`` or ``"auto"`` (CUDA when available, else the CPU).

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    device = resolve_device(device)
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}.")
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    X_other = torch.as_tensor(np.asarray(X_other, dtype=np.float32))
    if X.shape != X_other.shape or X.dim() != 2:
        raise ValueError(
            f"X and X_other must be 2-D arrays of one shape; got {tuple(X.shape)} "
            f"and {tuple(X_other.shape)}."
        )
    out = []
    for start in range(0, X.shape[0], batch_size):
        g = torch.Generator().manual_seed(int(random_state))
        pairs = RandomProjectionPairs(X.shape[1], n_pairs, pair_dim, generator=g, device=device)
        init = StatisticsNetworks.initial_parameters(pair_dim, hidden_sizes, generator=g)
        perms = [torch.randperm(n_pairs, generator=g).to(device) for _ in range(n_steps + 1)]
        a = pairs(X[start : start + batch_size].to(device))
        b = pairs(X_other[start : start + batch_size].to(device))
        nets = StatisticsNetworks(a.shape[0], pair_dim, hidden_sizes, init=init, lr=lr,
                                  device=device)
        for perm in perms[:-1]:
            nets.step(a, b, perm)
        out.append(nets.estimate(a, b, perms[-1]).cpu())
    return torch.cat(out).numpy()
