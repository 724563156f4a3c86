"""The statistics networks without autograd: written-out gradients and one fused Adam update.

The same networks, initial weights, bound and Adam update as
:class:`~sk_uae.mine.StatisticsNetworks`, computed differently (the measured
effect of each choice is on the performance page):

* the forward pass and the gradient of the Donsker-Varadhan bound are a few
  batched matrix products, in closed form (the network is linear, linear,
  sum of the branches, ReLU, linear); with a conv front the dense layers
  are applied in turn and the convolution's gradients are torch's
  (``torch.nn.grad``);
* every per-sample matrix is stored transposed, so that every batched
  product writes rows of the long dimension (the ``K`` pairs, the pair
  width ``p``, the first hidden width): small products whose rows are only
  as wide as the last hidden layer (10 in the reference) run several times
  slower on CPUs;
* ReLU's derivative is taken as ``sign(relu(u))``, in place: comparisons
  that make boolean masks are several times slower than arithmetic;
* every large intermediate lives in a buffer kept between steps (a fresh
  allocation of that size is a fresh memory mapping, page-faulted anew);
* :meth:`FusedStatisticsNetworks.train` runs all the steps of one group of
  networks before the next group, so that a group's pairs, weights and
  moments stay in the CPU's caches;
* Adam updates all parameters with one fused kernel where torch has one
  (the kernel of ``torch.optim.Adam(fused=True)``) and with torch's
  multi-tensor operations otherwise;
* with ``native``, :meth:`FusedStatisticsNetworks.train` and
  :meth:`FusedStatisticsNetworks.estimate_and_grad` run the same step as
  compiled code (``_native.cpp``), one network at a time.

:class:`~sk_uae.mine.StatisticsNetworks` stays as the reference it is
tested against.
"""

import math

import torch
import torch.nn.functional as F

from . import _native
from ._base import MINENetworks
from ._networks import StatisticsNetworks, _check_front, fused_adam_ascent_

# working set of one group of networks in train(), and the largest group: the
# best of a sweep on the benchmark machine (the performance page)
_GROUP_BYTES = 32 << 20
_MAX_GROUP = 256


class FusedStatisticsNetworks(MINENetworks):
    """``B`` MINE statistics networks, trained with hand-written gradients.

    A drop-in for :class:`StatisticsNetworks` (same parameters, the same
    interface, :class:`~sk_uae.mine._base.MINENetworks`, same results up to
    float rounding), several times faster on CPUs. The gradient with respect
    to the ``x'`` side of the pairs, which the attack needs, comes from
    :meth:`estimate_and_grad` in closed form.

    Parameters
    ----------
    n_networks : int
        ``B``, the number of independent networks (one per sample).
    in_dim : int
        Width ``p`` of one pair member.
    hidden_sizes : tuple of int, default=(32, 10)
        Widths of the dense layers of each branch.
    init : torch.Tensor of shape (P,), optional
        Flat initial parameters shared by all ``B`` networks, in the order of
        :meth:`StatisticsNetworks.parameter_shapes`; drawn with
        :meth:`StatisticsNetworks.initial_parameters` when omitted.
    lr : float, default=1.5e-5
        Adam learning rate.
    betas : tuple of two float, default=(0.9, 0.999)
        Adam's decay rates of the moment estimates.
    adam_eps : float, default=1e-8
        Adam's term added to the denominator.
    ma_rate : float or None, default=None
        Moving-average bias correction of the MINE paper with this rate;
        ``None`` trains on the plain bound.
    device : str or torch.device, default="cpu"
        Torch device of the parameters.
    dtype : torch.dtype, default=torch.float32
        Floating-point type of the parameters.
    generator : torch.Generator, optional
        Source of the initial parameters when ``init`` is omitted.
    fused_adam : bool or None, default=None
        Use torch's fused Adam kernel (``None``: when torch has one for this
        device and dtype); ``False`` runs torch's multi-tensor operations.
    conv_front : tuple (filters, kernel, (height, width)), optional
        The convolution before the dense layers of each branch, as in
        :class:`StatisticsNetworks`. Behind it the dense layers are applied
        in turn (the pairs are few and wide) and their products write into
        buffers kept between steps: the gradient of a first layer is as
        large as the layer, and a fresh tensor of that size is page-faulted
        anew at every step.
    native : bool or None, default=None
        Run :meth:`train` with the compiled step (``_native.cpp``, built on
        first use with the system's C++ compiler), which trains one network
        at a time in the core's caches. ``None``: where it applies (CPU
        tensors of float32 or float64, two dense layers per branch, no conv
        front, ``ma_rate=None``), it could be built and the machine is
        x86-64 (elsewhere it is untimed: the torch step); ``False``: never;
        ``True``: raise where it cannot run.
    """

    def __init__(self, n_networks, in_dim, hidden_sizes=(32, 10), init=None, lr=1.5e-5,
                 betas=(0.9, 0.999), adam_eps=1e-8, ma_rate=None, device="cpu",
                 dtype=torch.float32, generator=None, fused_adam=None, conv_front=None,
                 native=None):
        self.n_networks = n_networks
        self.in_dim = in_dim
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.lr = lr
        self.betas = betas
        self.adam_eps = adam_eps
        self.ma_rate = ma_rate
        self.conv_front = _check_front(conv_front, in_dim)
        shapes = StatisticsNetworks.parameter_shapes(in_dim, self.hidden_sizes, self.conv_front)
        if init is None:
            init = StatisticsNetworks.initial_parameters(
                in_dim, self.hidden_sizes, generator=generator, conv_front=self.conv_front)
        parts = StatisticsNetworks.split(init.to(device=device, dtype=dtype), shapes)
        parts = [w.t() if w.dim() == 2 else w for w in parts]
        n = (len(shapes) - 1) // 2  # parameters per branch
        # a layer's parameters of the two branches side by side, (B, 2, ...):
        # one batched product serves both branches, and the rows of a group of
        # networks are one contiguous slice; matrices are stored transposed
        stacked = [torch.stack([pa, pb]) for pa, pb in zip(parts[:n], parts[n:2 * n])]
        self.theta = [w.unsqueeze(0).repeat(n_networks, *([1] * w.dim())).contiguous()
                      for w in stacked + [parts[-1]]]
        self._m = [torch.zeros_like(w) for w in self.theta]
        self._v = [torch.zeros_like(w) for w in self.theta]
        self._step = 0
        self._state_step = torch.zeros((), dtype=torch.float32, device=self.theta[0].device)
        self._fused_adam = fused_adam
        self._log_ma = None
        self._work = {}
        if native is None:  # as mine_backend="auto"
            self.native = _native.preferred() and self._native_applies()
        else:
            self.native = native is not False and self._native_applies()
        if native and not self.native:
            raise ValueError(
                "native=True: the compiled MINE step cannot run here; it needs CPU tensors of "
                "float32 or float64, two dense layers per branch, no conv_front, ma_rate=None "
                "and a C++ compiler (got device "
                f"{self.theta[0].device}, dtype {self.theta[0].dtype}, hidden_sizes "
                f"{self.hidden_sizes}, conv_front {self.conv_front}, ma_rate {self.ma_rate})."
            )

    def _native_applies(self):
        w = self.theta[0]
        return _native.applies(w.device, w.dtype, self.hidden_sizes, self.conv_front,
                               self.ma_rate)

    @property
    def params(self):
        """The parameters in the layout of :class:`StatisticsNetworks` (a copy).

        Returns
        -------
        list of torch.Tensor
            One tensor per shape of :meth:`StatisticsNetworks.parameter_shapes`,
            with a leading dimension ``B``.
        """
        def canonical(w):  # one branch's (B, ...) tensor
            return w.transpose(1, 2).clone() if w.dim() == 3 else w.clone()

        layers = self.theta[:-1]
        return ([canonical(w[:, 0]) for w in layers] + [canonical(w[:, 1]) for w in layers]
                + [self.theta[-1].clone()])

    # --------------------------------------------------------------- workspace
    def _buf(self, name, shape):
        # large intermediates are written into buffers kept between steps
        key = (name, tuple(shape))
        buf = self._work.get(key)
        if buf is None:
            buf = self._work[key] = self.theta[0].new_empty(shape)
        return buf

    def _both(self, a, b):
        # both sides' pairs, (B, 2, K, p), in a kept buffer: a group's rows are contiguous
        return torch.stack([a, b], 1, out=self._buf("ab", (a.shape[0], 2, *a.shape[1:])))

    def _group_size(self, a):
        k, p = a.shape[1], a.shape[2]
        n_params = sum(w[0].numel() for w in self.theta)  # both branches
        per_network = a.element_size() * (4 * k * p + 4 * n_params + 8 * self.hidden_sizes[-1] * k)
        return max(1, min(_MAX_GROUP, _GROUP_BYTES // per_network))

    # ----------------------------------------------------------------- forward
    def _compose(self, ps):
        # each branch is one affine map: P^T = W_L^T ... W_1^T, shape (h_L, p),
        # offset c; both branches at once, batch (2B)
        flat = [w.reshape(-1, *w.shape[2:]) for w in ps]
        pt, cs = [flat[0]], [flat[1]]
        for layer, (wt, b) in enumerate(zip(flat[2::2], flat[3::2]), start=1):
            cs.append(torch.baddbmm(b.unsqueeze(-1), wt, cs[-1].unsqueeze(-1)).squeeze(-1))
            out = self._buf(f"pt{layer}", (wt.shape[0], wt.shape[1], pt[-1].shape[2]))
            pt.append(torch.bmm(wt, pt[-1], out=out))
        return flat, pt, cs

    def _branches(self, ps, ab, abt):
        """Both branches' last pre-activations, transposed: (2B, h, K), and a cache."""
        if self.conv_front is not None:
            return self._front_branches(ps, ab)
        flat, pt, cs = self._compose(ps)
        if abt is None:
            abt = ab.transpose(1, 2)
        h, k = pt[-1].shape[1], ab.shape[1]
        both = torch.bmm(pt[-1], abt, out=self._buf("h", (ab.shape[0], h, k)))
        return both.add_(cs[-1].unsqueeze(-1)), (flat, pt, cs)

    def _front_branches(self, ps, ab):
        # the convolution as one grouped convolution (pair index as its batch,
        # network and branch as its groups), then the dense layers in turn
        flat = [w.reshape(-1, *w.shape[2:]) for w in ps]
        m, k = ab.shape[0], ab.shape[1]
        filters, kernel, (rows, cols) = self.conv_front
        maps = ab.view(m, k, rows, cols).transpose(0, 1)
        out = F.conv2d(maps, flat[0].reshape(m * filters, 1, kernel, kernel),
                       flat[1].reshape(m * filters), groups=m)
        z = self._buf("z0", (m, k, out[0].numel() // m)).copy_(out.view(k, m, -1).transpose(0, 1))
        zs = [z]
        for layer, (wt, b) in enumerate(zip(flat[2::2], flat[3::2]), start=1):
            out = self._buf(f"z{layer}", (m, k, wt.shape[1]))
            zs.append(torch.baddbmm(b.unsqueeze(1), zs[-1], wt.transpose(1, 2), out=out))
        both = self._buf("h", (m, zs[-1].shape[2], k)).copy_(zs[-1].transpose(1, 2))
        return both, (flat, maps, zs)

    def _forward(self, ps, ab, perm, abt=None):
        """The bound of every network; ``ab`` holds both sides' pairs, (2B, K, p).

        ``abt``, the same pairs transposed and contiguous (2B, p, K), makes
        the first product about twice as fast; :meth:`train` keeps one per
        group of networks.
        """
        both, branch = self._branches(ps[:-1], ab, abt)
        w_out = ps[-1]
        n, h, k = w_out.shape[0], w_out.shape[1], ab.shape[1]
        both = both.view(n, 2, h, k)
        ha, hb = both[:, 0], both[:, 1]
        # the joint (u) and the shuffled (v) pre-activations side by side, so
        # that the elementwise steps and the output layer run once on both
        uv = self._buf("uv", (n, h, 2 * k))
        u, v = uv[..., :k], uv[..., k:]
        torch.add(ha, hb, out=u)
        torch.gather(hb, 2, perm.view(1, 1, k).expand(n, h, k), out=v).add_(ha)
        r = uv.clamp_(min=0)
        t = torch.bmm(w_out.unsqueeze(1), r).squeeze(1)
        t_joint, t_marg = t[:, :k], t[:, k:]
        # logsumexp, keeping exp(t - max) and its sum for the softmax of the backward
        top = t_marg.amax(1, keepdim=True)
        e = torch.exp(t_marg - top)
        total = e.sum(1, keepdim=True)
        lse = total.log().add_(top).squeeze(1)
        mi = t_joint.mean(1) - (lse - math.log(k))
        return mi, (branch, r, e, total, lse)

    # ---------------------------------------------------------------- backward
    def _back_compose(self, flat, pt, cs, g_pt, g_c, grads):
        # gradients of the layers (both branches) from those of the composed maps
        for layer in range(len(flat) // 2 - 1, 0, -1):
            wt = flat[2 * layer]
            grads[2 * layer] = torch.bmm(
                g_pt, pt[layer - 1].transpose(1, 2),
                out=self._buf(f"grad{2 * layer}", wt.shape)).addcmul_(
                    g_c.unsqueeze(-1), cs[layer - 1].unsqueeze(1))
            grads[2 * layer + 1] = g_c
            # a vector times a matrix: elementwise is faster for narrow matrices,
            # a batched product for wide ones (the reference's 512 units)
            if wt.shape[2] <= 64:
                g_c = (g_c.unsqueeze(-1) * wt).sum(1)
            else:
                g_c = torch.bmm(g_c.unsqueeze(1), wt).squeeze(1)
            shape = (wt.shape[0], wt.shape[2], g_pt.shape[2])
            name = "grad0" if layer == 1 else f"g_pt{layer}"
            g_pt = torch.bmm(wt.transpose(1, 2), g_pt, out=self._buf(name, shape))
        grads[0], grads[1] = g_pt, g_c

    def _head_backward(self, ps, perm, cache, scale=None, inverse=None):
        """``d/d(both)`` of the bound, (B, 2, h, K), and the output weights' gradient.

        ``inverse`` is ``argsort(perm)``, computed here when not given.
        """
        _, r, e, total, _ = cache
        n, h, k = r.shape[0], r.shape[1], r.shape[2] // 2
        soft = e / total
        if scale is not None:
            soft = soft * scale
        # d mi / d t over the joint and the shuffled statistics
        g_t = self._buf("g_t", (n, 2 * k))
        g_t[:, :k] = 1.0 / k
        torch.neg(soft, out=g_t[:, k:])
        g_t = g_t.unsqueeze(1)
        g_out = (r * g_t).sum(2)
        # relu'(u) as sign(relu(u)), in place: comparisons that make boolean
        # masks are several times slower than arithmetic
        g_uv = r.sign_().mul_(ps[-1].unsqueeze(-1)).mul_(g_t)
        g_u, g_v = g_uv[..., :k], g_uv[..., k:]
        if inverse is None:
            inverse = torch.argsort(perm)
        g_both = self._buf("g_h", (n, 2, h, k))
        g_ha, g_hb = g_both[:, 0], g_both[:, 1]
        torch.add(g_u, g_v, out=g_ha)
        torch.gather(g_v, 2, inverse.view(1, 1, k).expand(n, h, k), out=g_hb).add_(g_u)
        return g_both, g_out

    def _backward(self, ps, ab, perm, cache, scale=None, inverse=None):
        """Gradients of the bound, shaped as ``ps``."""
        g_both, g_out = self._head_backward(ps, perm, cache, scale, inverse)
        n = g_both.shape[0]
        g_flat = g_both.view(2 * n, *g_both.shape[2:])
        if self.conv_front is not None:
            grads = self._front_backward(cache[0], g_flat)
        else:
            flat, pt, cs = cache[0]
            grads = [None] * len(flat)
            g_p = torch.bmm(g_flat, ab, out=self._buf("g_p", (2 * n, g_flat.shape[1],
                                                               ab.shape[2])))
            self._back_compose(flat, pt, cs, g_p, g_flat.sum(2), grads)
        return [g.view(n, 2, *g.shape[1:]) for g in grads] + [g_out]

    def _front_backward(self, branch, g_flat, inputs=False):
        # the dense layers in turn, then the convolution's weights (or, with
        # ``inputs``, the gradient in the pairs instead of the parameters')
        flat, maps, zs = branch
        m, k = g_flat.shape[0], g_flat.shape[2]
        grads = [None] * len(flat)
        g = g_flat.transpose(1, 2)
        for layer in range(len(flat) // 2 - 1, 0, -1):
            wt = flat[2 * layer]
            if not inputs:
                grads[2 * layer] = torch.bmm(g.transpose(1, 2), zs[layer - 1],
                                             out=self._buf(f"grad{2 * layer}", wt.shape))
                grads[2 * layer + 1] = g.sum(1)
            g = torch.bmm(g, wt, out=self._buf(f"g_z{layer - 1}", zs[layer - 1].shape))
        filters, kernel, (rows, cols) = self.conv_front
        g_conv = g.view(m, k, -1).transpose(0, 1).reshape(k, m * filters, rows - kernel + 1,
                                                         cols - kernel + 1)
        weight = flat[0].reshape(m * filters, 1, kernel, kernel)
        if inputs:
            g_maps = torch.nn.grad.conv2d_input(maps.shape, weight, g_conv, groups=m)
            return g_maps.transpose(0, 1).reshape(m, k, rows * cols)
        grads[0] = torch.nn.grad.conv2d_weight(maps, weight.shape, g_conv,
                                               groups=m).view(flat[0].shape)
        grads[1] = g_conv.sum((0, 2, 3)).view(m, filters)
        return grads

    # ---------------------------------------------------------------- estimates
    def estimate(self, a, b, perm):
        with torch.no_grad():
            return self._forward(self.theta, _stack(a, b), perm)[0]

    def estimate_and_grad(self, a, b, perm):
        with torch.no_grad():
            if self.native:
                return _native.bounds_and_grads(self._both(a, b), self.theta, perm,
                                                self.hidden_sizes, in_pairs=True)
            ab = _stack(a, b)
            mi, cache = self._forward(self.theta, ab, perm)
            g_both, _ = self._head_backward(self.theta, perm, cache)
            if self.conv_front is not None:
                # only the x' branch: its parameters' gradients are not needed
                flat, maps, zs = cache[0]
                n, k = g_both.shape[0], g_both.shape[3]
                side = ([w.view(n, 2, *w.shape[1:])[:, 1] for w in flat],
                        maps.view(k, n, 2, *maps.shape[2:])[:, :, 1],
                        [z.view(n, 2, *z.shape[1:])[:, 1] for z in zs])
                return mi, self._front_backward(side, g_both[:, 1], inputs=True)
            _, pt, _ = cache[0]
            pb_t = pt[-1].view(g_both.shape[0], 2, *pt[-1].shape[1:])[:, 1]
            return mi, torch.bmm(g_both[:, 1].transpose(1, 2), pb_t)

    # ---------------------------------------------------------------- training
    def train(self, a, b, perms):
        """``len(perms)`` Adam ascent steps of every network on its own pairs.

        The same updates as that many calls of :meth:`step`, in another
        order: all the steps of one group of networks, then the next group,
        so that each group's data stay in the CPU's caches.

        Parameters
        ----------
        a, b, perms
            As :meth:`MINENetworks.train`.

        Returns
        -------
        torch.Tensor of shape (B,) or None
            The bound before the last step (``None`` without steps).
        """
        if len(perms) == 0:
            return None
        n = a.shape[0]
        size = self._group_size(a)
        last = []
        if not torch.is_tensor(perms):
            perms = torch.stack(list(perms))
        inverses = torch.argsort(perms, dim=1)
        k, p = a.shape[1], a.shape[2]
        with torch.no_grad():
            both = self._both(a, b)
            if self.native:
                mi = _native.train(both, self.theta, self._m, self._v, perms, inverses,
                                   self._step + 1, (self.lr, *self.betas, self.adam_eps),
                                   self.hidden_sizes)
                self._step += len(perms)
                return mi
            for start in range(0, n, size):
                rows = slice(start, min(start + size, n))
                ps = [w[rows] for w in self.theta]
                ms, vs = [m[rows] for m in self._m], [v[rows] for v in self._v]
                ab = both[rows].view(-1, k, p)
                abt = None
                if self.conv_front is None:
                    abt = self._buf("abt", (ab.shape[0], p, k)).copy_(ab.transpose(1, 2))
                for j in range(len(perms)):
                    mi, cache = self._forward(ps, ab, perms[j], abt)
                    scale = self._bias_scale(cache, rows, first=self._step + j == 0)
                    grads = self._backward(ps, ab, perms[j], cache, scale, inverses[j])
                    self._adam(ps, grads, ms, vs, self._step + j + 1)
                last.append(mi)
        self._step += len(perms)
        return torch.cat(last)

    def _bias_scale(self, cache, rows, first):
        # the MINE paper's correction: grad log E[e^T] -> grad E[e^T] / moving average
        if self.ma_rate is None:
            return None
        e, lse = cache[-3], cache[-1]
        log_mean = lse - math.log(e.shape[1])
        if self._log_ma is None:
            self._log_ma = torch.empty(self.n_networks, dtype=lse.dtype, device=lse.device)
        if first:
            self._log_ma[rows] = log_mean
        else:
            r = self.ma_rate
            self._log_ma[rows] = torch.logaddexp(self._log_ma[rows] + math.log1p(-r),
                                                 log_mean + math.log(r))
        return torch.exp(log_mean - self._log_ma[rows]).unsqueeze(1)

    def _adam(self, ps, grads, ms, vs, step):
        # torch.optim.Adam's update, ascending, at step number `step`
        if self._fused_adam is not False:
            self._fused_adam = fused_adam_ascent_(
                ps, grads, ms, vs, self._state_step, step, lr=self.lr, betas=self.betas,
                eps=self.adam_eps, known_to_work=bool(self._fused_adam))
            if self._fused_adam:
                return
        b1, b2 = self.betas
        torch._foreach_lerp_(ms, grads, 1 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, math.sqrt(1 - b2**step))
        torch._foreach_add_(denom, self.adam_eps)
        torch._foreach_addcdiv_(ps, ms, denom, value=self.lr / (1 - b1**step))


def _stack(a, b):
    """Both sides' pairs as one batch (2B, K, p), the two of a network side by side."""
    return torch.stack([a, b], 1).view(-1, *a.shape[1:])

