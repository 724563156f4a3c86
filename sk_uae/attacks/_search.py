"""Carlini-Wagner binary search over the constant ``c``, batched per sample."""

import torch


class ConstSearch:
    """Per-sample binary search over the weight ``c`` of the attack loss.

    After each round, samples whose attack succeeded lower their upper bound to
    ``c`` and halve towards the lower bound; the others raise the lower bound
    and multiply ``c`` by 10 until an upper bound exists, then bisect (the
    rule of Carlini and Wagner's L2 attack).

    Parameters
    ----------
    initial_const : float
    n : int
        Number of samples.
    device, dtype
        Of the ``c`` tensor.
    """

    def __init__(self, initial_const, n, device, dtype):
        self.const = torch.full((n,), float(initial_const), device=device, dtype=dtype)
        self.lower = torch.zeros_like(self.const)
        self.upper = torch.full_like(self.const, float("inf"))

    def update(self, success):
        """Move every sample's ``c`` after a round; ``success`` is a bool tensor (B,)."""
        c = self.const
        self.upper = torch.where(success, torch.minimum(self.upper, c), self.upper)
        self.lower = torch.where(success, self.lower, torch.maximum(self.lower, c))
        bounded = torch.isfinite(self.upper)
        mid = (self.lower + torch.where(bounded, self.upper, self.lower)) / 2
        self.const = torch.where(bounded, mid, c * 10)


class BestKeeper:
    """Keep, per sample, the best successful output over rounds.

    ``score`` is minimised: a new candidate replaces the kept one when it
    succeeded and its score is lower.
    """

    def __init__(self, x):
        n = x.shape[0]
        self.x = x.clone()
        self.score = torch.full((n,), float("inf"), device=x.device, dtype=x.dtype)
        self.found = torch.zeros(n, dtype=torch.bool, device=x.device)
        self.extra = {}

    def offer(self, x_new, success, score, **extra):
        """Offer candidates; ``extra`` per-sample tensors are kept alongside."""
        better = success & (score < self.score)
        self.x = torch.where(better[:, None], x_new, self.x)
        self.score = torch.where(better, score, self.score)
        self.found |= success
        for k, v in extra.items():
            self.extra[k] = torch.where(better, v, self.extra[k]) if k in self.extra else \
                torch.where(better, v, torch.full_like(v, float("nan")))
        return better
