"""Whole MinMax MINE attacks and their pieces, by engine (``MinMaxMINE(mine_backend=...)``).

The attacked model is the sparse autoencoder of ``sk-uae augment`` (64 code units on
digits, 128 on MNIST-sized rows), initialised and not trained (an attack's cost does
not depend on the weights); one torch thread, as each batch of an attack runs.
"""

import torch

from sk_uae.attacks import MinMaxMINE
from sk_uae.mine import RandomProjectionPairs

from ._fixtures import (BATCH, ENGINES, SIZES, mine_sizes, native_or_skip, one_thread,
                        preset, reconstruction, rows)

# rows of a whole attack: the preset's 40 iterations at the reference sizes cost about
# 0.2-0.5 s per row with the fused engines, so that batch is small (and the autograd
# engine, about 1.4 s per row, is left to MineStep there)
ATTACK_BATCH = {"default": 32, "reference": 8}
# rows whose peak memory is measured, over one iteration: the buffers an attack keeps
# are allocated before its first iteration and grow with the batch
MEMORY_BATCH = {"default": 512, "reference": 16}


def _attack_setup(bench, sizes, engine, n_features, batch, **overrides):
    native_or_skip(engine)
    one_thread()
    bench.objective = reconstruction(n_features)
    bench.x = torch.as_tensor(rows(n_features, batch, seed=2))
    bench.attack = preset(sizes, mine_backend=engine, **overrides).fit(bench.x.numpy())
    # warm-up: the first call's kernels and allocations (and the compiled step's load)
    preset(sizes, mine_backend=engine, max_iter=1).fit(bench.x.numpy()).run(
        bench.x[:2], bench.objective, seed=0)


class Attack:
    """A whole attack of the preset (``max_iter=40``) on one batch of MNIST-sized rows."""

    params = (SIZES, ENGINES)
    param_names = ["sizes", "engine"]

    def setup(self, sizes, engine):
        if (sizes, engine) == ("reference", "autograd"):
            raise NotImplementedError("too slow for the suite: see MineStep's autograd case")
        _attack_setup(self, sizes, engine, 784, ATTACK_BATCH[sizes])

    def time_attack(self, sizes, engine):
        self.attack.run(self.x, self.objective, seed=0)


class AttackMemory:
    """Peak memory of the process over a one-iteration attack of a large batch (784 features)."""

    params = (SIZES, ENGINES)
    param_names = ["sizes", "engine"]

    def setup(self, sizes, engine):
        _attack_setup(self, sizes, engine, 784, MEMORY_BATCH[sizes], max_iter=1)

    def peakmem_attack(self, sizes, engine):
        self.attack.run(self.x, self.objective, seed=0)


class AttackBatchSize:
    """The default attack (``MinMaxMINE()``, engine ``"auto"``) on digits at batch 1 to 128.

    Divide by the batch for the cost per row: batch 1 is a per-sample loop through the
    engine.
    """

    params = [1, 16, 128]
    param_names = ["batch"]

    def setup(self, batch):
        one_thread()
        self.objective = reconstruction(64)
        self.x = torch.as_tensor(rows(64, batch, seed=2))
        self.attack = MinMaxMINE().fit(self.x.numpy())
        self.attack.run(self.x[:1], self.objective, seed=0)

    def time_attack(self, batch):
        self.attack.run(self.x, self.objective, seed=0)


class Pieces:
    """The pieces of one MinMax iteration beside the MINE step (784 features).

    The pairs' forward and backward (random projection, standardisation) with autograd and
    written out (the fused engines'), and the attacked model's loss forward and backward.
    """

    params = SIZES
    param_names = ["sizes"]

    def setup(self, sizes):
        one_thread()
        k, p, _, _, _ = mine_sizes(sizes)
        self.objective = reconstruction(784)
        self.x = torch.as_tensor(rows(784, BATCH[sizes], seed=2))
        self.ctx = self.objective.prepare(self.x)
        self.pairs = RandomProjectionPairs(784, k, p, generator=torch.Generator().manual_seed(0))
        self.delta = torch.zeros_like(self.x).requires_grad_(True)

    def time_pairs_autograd(self, sizes):
        out = self.pairs((self.x + self.delta).clamp(0, 1))
        torch.autograd.grad(out, self.delta, torch.ones_like(out))

    def time_pairs_written_out(self, sizes):
        out, cache = self.pairs.forward_for_backward((self.x + self.delta.detach()).clamp(0, 1))
        self.pairs.backward(torch.ones_like(out), cache)

    def time_model_loss(self, sizes):
        f = self.objective.loss((self.x + self.delta).clamp(0, 1), self.x, self.ctx)
        torch.autograd.grad(f.sum(), self.delta)
