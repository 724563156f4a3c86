"""Pair builders: a batch (B, d) becomes MINE pairs (B, K, p)."""

import math

import torch


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

    @property
    def matrix(self):
        """The projections, shape (d, K * p), columns ``k p .. (k + 1) p`` for pair ``k``.

        Each projection is kept centred: its mean over its ``p`` columns is
        removed when the matrix is set, which leaves the pairs unchanged (they
        are centred anyway) and saves centring every batch.
        """
        return self._matrix

    @matrix.setter
    def matrix(self, value):
        # one copy only: at the reference sizes the matrix is 200 MB
        blocks = value.reshape(value.shape[0], self.n_pairs, self.pair_dim)
        self._matrix = (blocks - blocks.mean(-1, keepdim=True)).reshape(value.shape)

    def _centred_pairs(self, x):
        return (x @ self._matrix).reshape(x.shape[0], self.n_pairs, self.pair_dim)

    def _std(self, z):
        # the biased std over the p entries, from a norm: torch's var_mean over
        # a short last dimension is many times slower
        norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True)
        return (norm * norm / self.pair_dim + 1e-12).sqrt()

    def __call__(self, x):
        z = self._centred_pairs(x)
        return z / self._std(z)

    def forward_for_backward(self, x):
        """The pairs of ``x`` without autograd, and what :meth:`backward` needs.

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Inputs.

        Returns
        -------
        pairs : torch.Tensor of shape (B, K, p)
            Equal to ``self(x)`` up to float rounding.
        cache : tuple
            For :meth:`backward`.
        """
        with torch.no_grad():
            z = self._centred_pairs(x)
            std = self._std(z)
            y = z.div_(std)  # in place: at the reference sizes z is 65 MB
        return y, (y, std)

    def backward(self, grad_pairs, cache):
        """``d/dx`` of ``sum(grad_pairs * self(x))``, in closed form.

        Parameters
        ----------
        grad_pairs : torch.Tensor of shape (B, K, p)
            The gradient with respect to the pairs.
        cache : tuple
            What :meth:`forward_for_backward` returned with them.

        Returns
        -------
        torch.Tensor of shape (B, d)
        """
        y, std = cache
        with torch.no_grad():
            # standardisation: dz = (dy - y * mean(dy * y)) / std; the centring's
            # derivative is in the centred projections
            dot = torch.linalg.vecdot(grad_pairs, y, dim=-1).unsqueeze(-1)
            g = torch.addcmul(grad_pairs, y, dot, value=-1.0 / self.pair_dim).div_(std)
            return g.reshape(g.shape[0], -1) @ self._matrix.T


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

    def forward_for_backward(self, x):
        """The pairs of ``x`` and what :meth:`backward` needs (autograd through the model).

        Parameters
        ----------
        x : torch.Tensor of shape (B, d)
            Inputs.

        Returns
        -------
        pairs : torch.Tensor of shape (B, K, p)
            Detached.
        cache : tuple
            For :meth:`backward`.
        """
        x_in = x.detach().requires_grad_(True)
        with torch.enable_grad():
            z = self(x_in)
        return z.detach(), (x_in, z)

    def backward(self, grad_pairs, cache):
        """``d/dx`` of ``sum(grad_pairs * self(x))``.

        Parameters
        ----------
        grad_pairs : torch.Tensor of shape (B, K, p)
            The gradient with respect to the pairs.
        cache : tuple
            What :meth:`forward_for_backward` returned with them.

        Returns
        -------
        torch.Tensor of shape (B, d)
        """
        x_in, z = cache
        (grad,) = torch.autograd.grad(z, x_in, grad_pairs)
        return grad
