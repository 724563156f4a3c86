"""Checks of data ranges and of training runs shared across layers (numpy only)."""

import numpy as np

# Values this close to a range's end (in units of the dtype's eps, times the
# range's scale) are float rounding -- MinMaxScaler's 1.0000001 in float32 --
# not values outside the range.
ROUNDING_ULPS = 16


def in_unit_range(X):
    """Whether every value of ``X`` lies in [0, 1], up to float rounding.

    Parameters
    ----------
    X : ndarray
        Any numeric array; NaN counts as out of range.

    Returns
    -------
    bool
        True for an empty array.
    """
    X = np.asarray(X)
    if X.size == 0:
        return True
    tol = ROUNDING_ULPS * np.finfo(X.dtype).eps if X.dtype.kind == "f" else 0.0
    return bool(X.min() >= -tol and X.max() <= 1 + tol)


def check_finite_train_loss(net, X=None):
    """Raise ``ValueError`` when a skorch net's last training loss is not finite.

    Reads ``train_loss`` of the last epoch of the net's skorch history
    (``history_``, or ``history`` on older skorch); an estimator without one
    passes unchecked.

    Parameters
    ----------
    net : estimator
        A fitted skorch net, or any estimator.
    X : ndarray, optional
        The training rows, to name their largest magnitude in the message.

    Raises
    ------
    ValueError
        If the loss is infinite or NaN: the weights are then useless.
    """
    history = getattr(net, "history_", None)
    if history is None:
        history = getattr(net, "history", None)
    try:
        loss = float(history[-1, "train_loss"])
    except (TypeError, KeyError, IndexError, ValueError, AttributeError):
        return  # no skorch history, no epoch or no training loss: nothing to check
    if np.isfinite(loss):
        return
    seen = ""
    if X is not None and np.size(X):
        seen = f" (the largest magnitude in X is {float(np.nanmax(np.abs(X))):.3g})"
    raise ValueError(
        f"{type(net).__name__} did not train: its training loss is {loss} after epoch "
        f"{len(history)}. The likely cause is the scale of X{seen}: values as large as 1e30 "
        "overflow float32 in the loss. Scale the columns, e.g. with "
        "sklearn.preprocessing.StandardScaler or MinMaxScaler; a learning rate too large can "
        "also make the loss diverge.")
