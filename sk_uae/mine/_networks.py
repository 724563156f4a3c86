"""Statistics networks of the per-sample MINE, trained with autograd (the reference)."""

import math

import torch
import torch.nn.functional as F

from ._base import MINENetworks


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


class StatisticsNetworks(MINENetworks):
    """``B`` independent MINE statistics networks trained as one tensor.

    Each network follows the reference architecture: per branch (one for the
    ``x`` side, one for the ``x'`` side) dense layers of ``hidden_sizes``
    without activation in between, the two branches summed, a ReLU, and a
    dense output unit without bias. The methods of the interface
    (:class:`~sk_uae.mine._base.MINENetworks`) are autograd's: the bound of
    :meth:`estimate` is a graph of the parameters and of the pairs.

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
    conv_front : tuple (filters, kernel, (height, width)), optional
        A convolution before the dense layers of each branch, as in the
        reference's ``conv`` mode (``(16, 2, (H, W))``): every pair member
        of width ``in_dim = H * W`` is an ``H x W`` map, convolved with
        ``filters`` square kernels of side ``kernel`` (no padding, stride
        1, with bias) and flattened. The ``B`` networks' convolutions run
        as one grouped convolution. ``None``: dense layers only.
    """

    differentiable = True  # estimate() is an autograd graph of the parameters and the pairs

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
        conv_front=None,
    ):
        self.n_networks = n_networks
        self.in_dim = in_dim
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.lr = lr
        self.betas = betas
        self.adam_eps = adam_eps
        self.ma_rate = ma_rate
        self.conv_front = _check_front(conv_front, in_dim)
        self._shapes = self.parameter_shapes(in_dim, self.hidden_sizes, self.conv_front)
        if init is None:
            init = self.initial_parameters(in_dim, self.hidden_sizes, generator=generator,
                                           conv_front=self.conv_front)
        init = init.to(device=device, dtype=dtype)
        self.params = [
            w.unsqueeze(0).repeat(n_networks, *([1] * w.dim())).requires_grad_(True)
            for w in self.split(init, self._shapes)
        ]
        self._m = [torch.zeros_like(w) for w in self.params]
        self._v = [torch.zeros_like(w) for w in self.params]
        self._step = 0
        self._log_ma = None
        self._fused_adam = None  # None: not tried yet (used with a conv front only)
        self._state_step = torch.zeros((), dtype=torch.float32, device=device)

    # ------------------------------------------------------------------ layout
    @staticmethod
    def parameter_shapes(in_dim, hidden_sizes, conv_front=None):
        """Shapes of the parameters of one network, in flat order.

        Parameters
        ----------
        in_dim : int
            Width ``p`` of one pair member.
        hidden_sizes : tuple of int
            Widths of the dense layers of each branch.
        conv_front : tuple (filters, kernel, (height, width)), optional
            The convolution before the dense layers (see the class).

        Returns
        -------
        list of tuple
            Weight and bias shapes of the ``x`` branch (the convolution's
            first, if any), then of the ``x'`` branch, then the output weight
            vector.
        """
        shapes = []
        for _branch in range(2):
            width = in_dim
            if conv_front is not None:
                filters, kernel, (rows, cols) = conv_front
                shapes += [(filters, 1, kernel, kernel), (filters,)]
                width = filters * (rows - kernel + 1) * (cols - kernel + 1)
            for h in hidden_sizes:
                shapes += [(width, h), (h,)]
                width = h
        shapes.append((hidden_sizes[-1],))
        return shapes

    @classmethod
    def initial_parameters(cls, in_dim, hidden_sizes, generator=None, conv_front=None):
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
        conv_front : tuple (filters, kernel, (height, width)), optional
            The convolution before the dense layers (see the class); its
            kernels are Glorot-uniform with Keras' fans
            (``kernel**2 * in_channels``, ``kernel**2 * filters``).

        Returns
        -------
        torch.Tensor of shape (P,), float32
        """
        parts = []
        for shape in cls.parameter_shapes(in_dim, tuple(hidden_sizes), conv_front):
            if len(shape) in (2, 4):
                fan_in, fan_out = shape[0], shape[1]
                if len(shape) == 4:
                    field = shape[2] * shape[3]
                    fan_in, fan_out = field * shape[1], field * shape[0]
                bound = math.sqrt(6.0 / (fan_in + fan_out))
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
    def _front(self, conv_w, conv_b, z):
        # one grouped convolution for the B networks: the pair index is the
        # convolution's batch and the network index its channel groups
        n, k = z.shape[0], z.shape[1]
        filters, kernel, (h, w) = self.conv_front
        maps = z.reshape(n, k, h, w).transpose(0, 1)
        out = F.conv2d(maps, conv_w.reshape(n * filters, 1, kernel, kernel),
                       conv_b.reshape(n * filters), groups=n)
        return out.reshape(k, n, -1).transpose(0, 1)

    def _branch(self, params, z):
        if self.conv_front is not None:
            # behind a conv front the pairs are few (a layer's channels) and
            # wide, and composing the dense layers first would make a product
            # whose rows are only h_last wide: applied in turn, they run ~2x faster
            z = self._front(params[0], params[1], z)
            for w, b in zip(params[2::2], params[3::2]):
                z = torch.baddbmm(b.unsqueeze(1), z, w)
            return z
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
        a, b, perm
            The pairs and the shuffle, as in :meth:`MINENetworks.estimate`.
        params : list of torch.Tensor, optional
            Batched network parameters (leading dimension ``B``) to use
            instead of the current ones.

        Returns
        -------
        t_joint, t_marginal : torch.Tensor of shape (B, K)
        """
        params = self.params if params is None else params
        n = 2 * len(self.hidden_sizes) + (2 if self.conv_front is not None else 0)
        ha = self._branch(params[:n], a)
        hb = self._branch(params[n : 2 * n], b)
        w_out = params[-1].unsqueeze(1)  # (B, 1, h)
        # branches act row-wise, so shuffling their outputs equals
        # running the network on shuffled inputs (at half the cost)
        t_joint = (torch.relu(ha + hb) * w_out).sum(-1)
        t_marg = (torch.relu(ha + hb.index_select(1, perm)) * w_out).sum(-1)
        return t_joint, t_marg

    def estimate(self, a, b, perm):
        return dv_lower_bound(*self.statistics(a, b, perm))

    def estimate_and_grad(self, a, b, perm):
        with torch.enable_grad():
            b = b.detach().requires_grad_(True)
            mi = self.estimate(a.detach(), b, perm)
            (grad_b,) = torch.autograd.grad(mi.sum(), b)
        return mi.detach(), grad_b

    # ---------------------------------------------------------------- training
    def train(self, a, b, perms):
        mi = None
        for perm in perms:
            mi = self.step(a, b, perm)
        return mi

    def step(self, a, b, perm):
        """One Adam ascent step of every network on its own pairs, by autograd.

        Parameters
        ----------
        a, b, perm
            As :meth:`MINENetworks.step` (the pairs are constants).

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
        if self.conv_front is not None and self._fused_adam is not False:
            # networks with a conv front are large (millions of weights each):
            # the fused kernel reads each tensor once instead of six times
            self._fused_adam = fused_adam_ascent_(
                self.params, list(grads), self._m, self._v, self._state_step, self._step,
                lr=self.lr, betas=self.betas, eps=self.adam_eps,
                known_to_work=bool(self._fused_adam))
            if self._fused_adam:
                return
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


def fused_adam_ascent_(params, grads, ms, vs, state_step, step, *, lr, betas, eps,
                       known_to_work=False):
    """``torch.optim.Adam(fused=True, maximize=True)``'s update at step number ``step``.

    Returns False, changing nothing, where torch has no fused kernel for
    these tensors (a build or device without one); once the kernel has
    worked (``known_to_work``), an error is a real one and is raised.
    """
    try:
        state_step.fill_(step)
        torch._fused_adam_(params, grads, ms, vs, [], [state_step] * len(params), lr=lr,
                           beta1=betas[0], beta2=betas[1], weight_decay=0.0, eps=eps,
                           amsgrad=False, maximize=True)
    except (AttributeError, RuntimeError, NotImplementedError, TypeError):
        if known_to_work:
            raise
        return False
    return True


def _check_front(conv_front, in_dim):
    """``conv_front`` as ``(filters, kernel, (h, w))`` of ints, checked against ``in_dim``."""
    if conv_front is None:
        return None
    filters, kernel, (h, w) = conv_front
    filters, kernel, h, w = int(filters), int(kernel), int(h), int(w)
    if filters < 1 or kernel < 1 or kernel > min(h, w) or h * w != in_dim:
        raise ValueError(
            f"conv_front={conv_front!r} does not fit pairs of width {in_dim}: expected "
            "(filters >= 1, 1 <= kernel <= min(height, width), (height, width)) with "
            "height * width == the pair width."
        )
    return filters, kernel, (h, w)
