"""Skorch callbacks of the models."""

import math

from skorch.callbacks import Callback


class TemperatureAnnealing(Callback):
    """Anneal the module's temperature exponentially over the training epochs.

    Before epoch ``e`` (0-based) of ``E = net.max_epochs`` the module's
    temperature is set to ``start * (end / start) ** (e / (E - 1))``: the
    first epoch trains at ``start_temperature``, the last at
    ``end_temperature`` (with one epoch, at ``end_temperature``). The
    schedule restarts at every ``fit``/``partial_fit`` call. The value is
    recorded in the history as ``"temperature"``.

    The module must offer ``set_temperature(float)`` (as
    :class:`~sk_uae.models.ConcreteAutoencoder` does).

    Parameters
    ----------
    start_temperature : float, default=10.0
        Temperature of the first epoch; a positive finite number.
    end_temperature : float, default=0.1
        Temperature of the last epoch; a positive finite number.
    """

    def __init__(self, start_temperature=10.0, end_temperature=0.1):
        self.start_temperature = start_temperature
        self.end_temperature = end_temperature

    def initialize(self):
        for name in ("start_temperature", "end_temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number; got {value!r}.")
        self.epoch_ = 0
        return self

    def temperature(self, epoch, n_epochs):
        """Temperature of epoch ``epoch`` (0-based) out of ``n_epochs``.

        Parameters
        ----------
        epoch : int
            The epoch, 0-based; values outside ``[0, n_epochs - 1]`` give the
            temperature of the nearer end.
        n_epochs : int
            Number of epochs of the schedule (the net's ``max_epochs``).

        Returns
        -------
        float
        """
        frac = epoch / (n_epochs - 1) if n_epochs > 1 else 1.0
        frac = min(max(frac, 0.0), 1.0)
        return self.start_temperature * (self.end_temperature / self.start_temperature) ** frac

    def on_train_begin(self, net, **kwargs):
        self.epoch_ = 0

    def on_epoch_begin(self, net, **kwargs):
        value = self.temperature(self.epoch_, net.max_epochs)
        net.module_.set_temperature(value)
        net.history.record("temperature", value)
        self.epoch_ += 1
