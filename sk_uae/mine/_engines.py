"""The MINE engines by name, the options they share, and the factory that builds them.

``mine_backend`` (of :class:`~sk_uae.attacks.MinMaxMINE`, of
:func:`~sk_uae.attacks.minmax_mine` and of :func:`~sk_uae.mine.estimate_mi`)
names one of :data:`ENGINE_NAMES`; :func:`resolve_engine` turns it into the
engine that runs for given networks on a given device, and
:func:`make_networks` builds that engine's networks from a
:class:`MINEOptions`.
"""

from dataclasses import dataclass

import torch

from . import _native
from ._fused import FusedStatisticsNetworks
from ._networks import StatisticsNetworks

# engine -> (networks class, keyword arguments): every class offers the
# interface of MINENetworks; "native" is the fused networks' compiled step
ENGINES = {
    "native": (FusedStatisticsNetworks, {"native": True}),
    "fused": (FusedStatisticsNetworks, {"native": False}),
    "autograd": (StatisticsNetworks, {}),
}
# what mine_backend may name: the engines, and "auto", resolved by resolve_engine
ENGINE_NAMES = ("auto", *ENGINES)


def _check_name(name):
    if name not in ENGINE_NAMES:
        raise ValueError(f"mine_backend={name!r} is not known; expected one of "
                         f"{sorted(ENGINE_NAMES)}.")


def resolve_engine(name, device="cpu", dtype=torch.float32, hidden_sizes=(32, 10),
                   conv_front=None, ma_rate=None):
    """The engine that a ``mine_backend`` name runs: ``"native"``, ``"fused"`` or ``"autograd"``.

    ``"auto"`` and ``"native"`` give ``"native"`` where the compiled step
    can run (:func:`sk_uae.mine._native.applies`) and ``"fused"``
    elsewhere, except that ``"auto"`` gives ``"fused"`` on a machine other
    than x86-64 (aarch64: the compiled step is untimed and untested there,
    :func:`sk_uae.mine._native.preferred`); ``"fused"`` and ``"autograd"``
    are themselves. The engines agree to float rounding, which in float32
    can change single examples, so this is what a result should be
    recorded with.

    Parameters
    ----------
    name : {"auto", "native", "fused", "autograd"}
        The requested engine.
    device, dtype, hidden_sizes, conv_front, ma_rate
        The networks' settings, as in :func:`sk_uae.mine._native.applies`.

    Returns
    -------
    str
    """
    _check_name(name)
    if name == "auto" and not _native.preferred():
        return "fused"
    if name in ("auto", "native"):
        applies = _native.applies(device, dtype, hidden_sizes, conv_front, ma_rate)
        return "native" if applies else "fused"
    return name


@dataclass(frozen=True)
class MINEOptions:
    """The settings of the per-sample MINE that the attack and :func:`estimate_mi` share.

    One vocabulary for the statistics networks, their pairs and their
    training. :class:`~sk_uae.attacks.MinMaxMINE` and
    :func:`~sk_uae.attacks.minmax_mine` build it from their parameters
    ``mine_backend``, ``n_mine_steps``, ``mine_lr``, ``mine_hidden_sizes``,
    ``mine_ma_rate``, ``n_pairs`` and ``pair_dim``, and
    :func:`~sk_uae.mine.estimate_mi` from its keywords of the same names:
    each field is its parameter's name without ``mine``.

    Parameters
    ----------
    backend : {"auto", "native", "fused", "autograd"}, default="auto"
        The engine (:func:`resolve_engine`).
    n_steps : int, default=20
        Adam steps of the networks per training phase.
    lr : float, default=1e-3
        Adam learning rate of the networks.
    hidden_sizes : tuple of int, default=(32, 10)
        Dense widths of each branch of the networks.
    ma_rate : float or None, default=None
        Moving-average bias correction of the MINE gradient (``None``: off).
    n_pairs : int, default=64
        Number of random projections ``K`` of a sample.
    pair_dim : int, default=32
        Dimension ``p`` of each projection.
    """

    backend: str = "auto"
    n_steps: int = 20
    lr: float = 1e-3
    hidden_sizes: tuple = (32, 10)
    ma_rate: float | None = None
    n_pairs: int = 64
    pair_dim: int = 32

    def __post_init__(self):
        _check_name(self.backend)
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))

    def engine(self, device="cpu", dtype=torch.float32, conv_front=None):
        """The engine that runs these options' networks (:func:`resolve_engine`).

        Parameters
        ----------
        device, dtype, conv_front
            The networks' settings besides the options, as in
            :func:`resolve_engine`.

        Returns
        -------
        {"native", "fused", "autograd"}
        """
        return resolve_engine(self.backend, device, dtype, self.hidden_sizes, conv_front,
                              self.ma_rate)


def make_networks(options, n_networks, in_dim, *, init=None, device="cpu", dtype=torch.float32,
                  conv_front=None, generator=None):
    """The statistics networks of the engine that ``options.backend`` resolves to.

    Parameters
    ----------
    options : MINEOptions
        The engine, learning rate, widths and moving-average rate.
    n_networks : int
        ``B``, the number of independent networks (one per sample).
    in_dim : int
        Width ``p`` of one pair member.
    init : torch.Tensor of shape (P,), optional
        Flat initial parameters shared by all networks
        (:meth:`StatisticsNetworks.initial_parameters`).
    device : str or torch.device, default="cpu"
        Torch device of the parameters.
    dtype : torch.dtype, default=torch.float32
        Floating-point type of the parameters.
    conv_front : tuple (filters, kernel, (height, width)), optional
        A convolution before the dense layers of each branch (see
        :class:`StatisticsNetworks`).
    generator : torch.Generator, optional
        Source of the initial parameters when ``init`` is omitted.

    Returns
    -------
    MINENetworks
    """
    networks, kwargs = ENGINES[options.engine(device, dtype, conv_front)]
    return networks(n_networks, in_dim, options.hidden_sizes, init=init, lr=options.lr,
                    ma_rate=options.ma_rate, device=device, dtype=dtype, generator=generator,
                    conv_front=conv_front, **kwargs)
