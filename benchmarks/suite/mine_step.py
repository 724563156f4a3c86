"""The MINE step: what a MinMax iteration runs once per batch, by implementation.

``autograd`` is :class:`~sk_uae.mine.StatisticsNetworks` (``mine_backend="autograd"``),
``fused`` :class:`~sk_uae.mine.FusedStatisticsNetworks` with the step in torch
(``native=False``, ``mine_backend="fused"``) and ``native`` the same with the compiled step
(what ``"auto"`` runs on CPUs with a compiler). Same pairs, same initial weights, one
torch thread.
"""

import os
import tempfile

import torch

from sk_uae.mine import FusedStatisticsNetworks, StatisticsNetworks, _native

from ._fixtures import BATCH, ENGINES, SIZES, mine_sizes, native_or_skip, one_thread


class MineStep:
    """The preset's MINE steps (20) of a batch of networks, and the bound's gradient."""

    params = (SIZES, ENGINES)
    param_names = ["sizes", "engine"]

    def setup(self, sizes, engine):
        native_or_skip(engine)
        one_thread()
        k, p, hidden, lr, self.steps = mine_sizes(sizes)
        batch = BATCH[sizes]
        g = torch.Generator().manual_seed(0)
        self.a = torch.randn(batch, k, p, generator=g)
        self.b = 0.5 * self.a + torch.randn(batch, k, p, generator=g)
        init = StatisticsNetworks.initial_parameters(p, hidden, generator=g)
        self.perms = torch.stack([torch.randperm(k, generator=g)
                                  for _ in range(self.steps + 1)])
        if engine == "autograd":
            self.nets = StatisticsNetworks(batch, p, hidden, init=init, lr=lr)
        else:
            self.nets = FusedStatisticsNetworks(batch, p, hidden, init=init, lr=lr,
                                                native=engine == "native")

    def time_train(self, sizes, engine):
        if engine == "autograd":
            for perm in self.perms[:self.steps]:
                self.nets.step(self.a, self.b, perm)
        else:
            self.nets.train(self.a, self.b, self.perms[:self.steps])

    def time_estimate_and_grad(self, sizes, engine):
        perm = self.perms[self.steps]
        if engine == "autograd":
            b = self.b.clone().requires_grad_(True)
            torch.autograd.grad(self.nets.estimate(self.a, b, perm).sum(), b)
        else:
            self.nets.estimate_and_grad(self.a, self.b, perm)


class NativeThreads:
    """The compiled step's training on 1 and 2 torch threads (threads take networks)."""

    params = (SIZES, [1, 2])
    param_names = ["sizes", "threads"]

    def setup(self, sizes, threads):
        MineStep.setup(self, sizes, "native")
        torch.set_num_threads(threads)

    def time_train(self, sizes, threads):
        self.nets.train(self.a, self.b, self.perms[:self.steps])


class NativeBuild:
    """A first build of the compiled step: the compiler run, into an empty cache folder."""

    number = 1
    repeat = (1, 3, 30.0)
    warmup_time = 0

    def setup(self):
        native_or_skip("native")

    def time_first_build(self):
        old = os.environ.get("SK_UAE_CACHE_DIR")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["SK_UAE_CACHE_DIR"] = tmp
            try:
                _native._library = _native._UNSET
                assert _native.library() is not None
            finally:
                if old is None:
                    os.environ.pop("SK_UAE_CACHE_DIR")
                else:
                    os.environ["SK_UAE_CACHE_DIR"] = old
                _native._library = _native._UNSET
