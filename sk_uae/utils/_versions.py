"""The package's version, and the versions a result depends on (recorded with results)."""

__version__ = "0.1.0.dev0"


def package_versions():
    """The versions of the packages a result depends on.

    Recorded with streamed outputs and checkpoints: another version can
    round differently, so a resumed run must not mix results of two.

    Returns
    -------
    dict
        ``{"sk_uae": ..., "torch": ..., "numpy": ..., "sklearn": ...}``.
    """
    import numpy
    import sklearn
    import torch

    return {"sk_uae": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "sklearn": sklearn.__version__}
