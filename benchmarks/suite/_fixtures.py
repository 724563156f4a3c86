"""What the benchmarks share: the library's MINE sizes, rows, a model to attack."""

import numpy as np
import torch

from sk_uae.attacks import MinMaxMINE, ReconstructionObjective
from sk_uae.datasets import load_digits_images
from sk_uae.evaluation import make_model
from sk_uae.mine import _native

# the two presets whose sizes the benchmarks run at
PRESETS = {"default": MinMaxMINE, "reference": MinMaxMINE.reference}
SIZES = list(PRESETS)
# rows per batch: a MinMax iteration at the reference sizes costs about 40x one at the
# default sizes, so its batch is smaller, to keep the quick run short
BATCH = {"default": 256, "reference": 16}
# the engines of MinMaxMINE(mine_backend=...) and of the MINE step that they run
ENGINES = ["autograd", "fused", "native"]


def preset(sizes, **overrides):
    """The attack of a preset, ``"default"`` or ``"reference"``, with ``overrides``."""
    return PRESETS[sizes](**overrides)


def mine_sizes(sizes):
    """``(n_pairs, pair_dim, hidden_sizes, mine_lr, n_mine_steps)`` of a preset.

    ``n_mine_steps="auto"`` is the 20 steps it runs for the reconstruction objective.
    """
    attack = preset(sizes)
    steps = attack.n_mine_steps
    if steps == "auto":
        steps = MinMaxMINE.reference().n_mine_steps
    return (int(attack.n_pairs), int(attack.pair_dim), tuple(attack.mine_hidden_sizes),
            float(attack.mine_lr), int(steps))


def one_thread():
    """One torch thread, as the attack runs each batch."""
    torch.set_num_threads(1)


def native_or_skip(engine):
    """Skip (asv's ``NotImplementedError``) an ``engine="native"`` case the CPU can't build."""
    if engine == "native" and _native.library() is None:
        raise NotImplementedError("the compiled MINE step cannot be built here")


def rows(n_features, n, seed=0):
    """``n`` rows in [0, 1], float32: digits for 64 features, random MNIST-sized ones else.

    The attack's cost does not depend on the values (it has no early stop), so MNIST-sized
    rows need no MNIST files.
    """
    if n_features == 64:
        X, _ = load_digits_images()
        reps = -(-n // len(X))
        return np.ascontiguousarray(np.tile(X, (reps, 1))[:n])
    return np.random.RandomState(seed).rand(n, n_features).astype(np.float32)


def autoencoder(n_features, model="sparse", image_shape=None):
    """The module of an autoencoder of ``sk-uae augment``, initialised, not trained.

    The time and memory of an attack do not depend on the weights, so the benchmarks skip
    the training (the sparse one gets the sigmoid output that a fit on rows in [0, 1]
    resolves ``"auto"`` to).
    """
    net = make_model("reconstruction", model, n_features, image_shape, 1, 0)
    net.set_params(module__input_dim=n_features)
    if model == "sparse":
        net.set_params(module__output_activation="sigmoid")
    return net.initialize().module_.eval()


def reconstruction(n_features):
    """The reconstruction objective of the sparse autoencoder on ``n_features`` columns."""
    module = autoencoder(n_features)
    return ReconstructionObjective(lambda v: module(v)[0])
