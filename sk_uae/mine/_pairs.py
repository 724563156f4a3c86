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
