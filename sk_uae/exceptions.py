"""Warnings of sk_uae, to catch or filter by class (like ``sklearn.exceptions``)."""

__all__ = ["FitQualityWarning"]


class FitQualityWarning(UserWarning):
    """A fitted model fits its training rows worse than a trivial model does.

    Raised by :class:`~sk_uae.models.AutoencoderNet` (and so by the UAE
    estimators, which fit one) when its reconstructions of the training rows
    have a larger mean squared error than the columns' means, i.e. than the
    mean column variance. Adversarial examples of such a model say little
    about the data. Likely causes: columns on very different scales, an
    output activation that cannot reach the data's range (a sigmoid for
    standardised data), or too little training.

    Examples
    --------
    A deliberately short fit, with the warning silenced:

    >>> import warnings
    >>> import numpy as np
    >>> from sk_uae.exceptions import FitQualityWarning
    >>> from sk_uae.models import AutoencoderNet
    >>> X = np.random.RandomState(0).rand(32, 4).astype("float32")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FitQualityWarning)
    ...     ae = AutoencoderNet(max_epochs=1, random_state=0).fit(X)
    """
