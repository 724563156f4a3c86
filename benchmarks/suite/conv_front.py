"""The reference preset's conv front: MINE on the first-layer maps of a conv autoencoder.

``MinMaxMINE.reference()`` against a model whose first layer is a convolution takes its
pairs from that layer's maps (channels as pairs) through a Conv2D front
(``mine_conv_front``). The maps here are those of the library's conv autoencoder on
MNIST-sized rows; one torch thread.
"""

import torch

from sk_uae.attacks import MinMaxMINE
from sk_uae.mine import FusedStatisticsNetworks, StatisticsNetworks
from sk_uae.models import first_layer_features

from ._fixtures import autoencoder, one_thread, rows

# networks (rows) per batch: each has 12 million first-layer weights, 48 MB
BATCH = 2


class ConvFront:
    """One Adam step of the statistics networks, and the bound's gradient in the pairs.

    ``autograd`` is :class:`~sk_uae.mine.StatisticsNetworks` (torch's fused Adam kernel),
    ``fused`` :class:`~sk_uae.mine.FusedStatisticsNetworks` (written-out gradients into
    kept buffers); the compiled step does not run a conv front.
    """

    params = ["autograd", "fused"]
    param_names = ["engine"]

    def setup(self, engine):
        one_thread()
        ref = MinMaxMINE.reference()
        module = autoencoder(784, "conv", (1, 28, 28))
        x = torch.as_tensor(rows(784, BATCH, seed=2))
        with torch.no_grad():
            self.a = first_layer_features(module)(x)  # (B, channels, H * W)
        self.b = self.a + 0.05 * torch.randn(self.a.shape,
                                             generator=torch.Generator().manual_seed(1))
        k, hw = self.a.shape[1], self.a.shape[2]
        side = int(round(hw ** 0.5))
        front = (*ref.mine_conv_front, (side, side))
        hidden = tuple(ref.mine_hidden_sizes)
        g = torch.Generator().manual_seed(0)
        init = StatisticsNetworks.initial_parameters(hw, hidden, generator=g, conv_front=front)
        self.perm = torch.randperm(k, generator=g)
        cls = StatisticsNetworks if engine == "autograd" else FusedStatisticsNetworks
        self.nets = cls(BATCH, hw, hidden, init=init, lr=ref.mine_lr, conv_front=front)
        self.nets.step(self.a, self.b, self.perm)  # warm-up: the buffers of a step

    def time_step(self, engine):
        self.nets.step(self.a, self.b, self.perm)

    def time_pairs_gradient(self, engine):
        if engine == "fused":
            self.nets.estimate_and_grad(self.a, self.b, self.perm)
        else:
            b = self.b.clone().requires_grad_(True)
            torch.autograd.grad(self.nets.estimate(self.a, b, self.perm).sum(), b)
