"""Weights-only persistence for the skorch nets (no pickle of code)."""

import numpy as np
from sklearn.base import clone

from ._autoencoder import AutoencoderNet


def load_net_params(net, f_params, n_features_in, *, classes=None, output_activation=None,
                    **load_kwargs):
    """A ready-to-use copy of ``net`` with weights from ``net.save_params(f_params=...)``.

    skorch's ``load_params`` needs an initialised net whose module has the
    right sizes; ours take the sizes from the data at fit time. This helper
    clones ``net`` (its parameters only; nothing is unpickled), records
    ``n_features_in_`` (and ``classes`` for a :class:`ClassifierNet`, the
    output activation for an autoencoder net), initialises the module and
    loads the weights with skorch's ``load_params`` (``torch.load`` with
    skorch's ``torch_load_kwargs``, which on torch >= 2.6 means
    ``weights_only=True``). A file saved from a
    net on CUDA loads on a CPU-only machine: skorch maps it to the net's
    ``device`` (``"cpu"`` by default).

    Parameters
    ----------
    net : AutoencoderNet, ClassifierNet, ConcreteAutoencoderNet or ContrastiveNet
        An unfitted (or fitted) net with the same parameters as the saved one.
    f_params : str, path or file-like
        What ``save_params(f_params=...)`` wrote.
    n_features_in : int
        Number of input columns the saved net was fitted on.
    classes : array-like, optional
        The saved classifier's ``classes_`` (required for a ClassifierNet).
    output_activation : str, optional
        The saved autoencoder net's ``output_activation_``: what the
        module's ``output_activation="auto"`` (the default of the dense,
        sparse and concrete autoencoders) resolved to from the training
        rows. Required when the module's output activation is ``"auto"``;
        an explicit ``module__output_activation`` of ``net`` needs none.
    **load_kwargs
        Passed to ``load_params`` (e.g. ``f_optimizer``).

    Returns
    -------
    net
        A new net, ready for ``predict``/``transform``.

    Examples
    --------
    >>> import io, numpy as np
    >>> from sk_uae.models import AutoencoderNet, load_net_params
    >>> X = np.random.RandomState(0).rand(32, 6).astype("float32")
    >>> ae = AutoencoderNet(module__hidden_units=3, max_epochs=1, random_state=0).fit(X)
    >>> buf = io.BytesIO(); ae.save_params(f_params=buf); _ = buf.seek(0)
    >>> new = load_net_params(AutoencoderNet(module__hidden_units=3), buf, n_features_in=6,
    ...                       output_activation=ae.output_activation_)
    >>> bool(np.array_equal(new.transform(X), ae.transform(X)))
    True
    """
    new = clone(net)
    if hasattr(new, "classes"):  # ClassifierNet
        if classes is None:
            raise ValueError("load_net_params needs classes= (the saved net's classes_) "
                             f"for a {type(net).__name__}.")
        new.set_params(classes=np.asarray(classes))
    if output_activation is not None:
        if not isinstance(new, AutoencoderNet):
            raise ValueError("load_net_params takes output_activation= for autoencoder nets "
                             f"only; got a {type(net).__name__}.")
        new._auto_output_activation = output_activation  # as fit resolves "auto"
    new.n_features_in_ = int(n_features_in)
    new.initialize()
    new.load_params(f_params=f_params, **load_kwargs)
    return new
