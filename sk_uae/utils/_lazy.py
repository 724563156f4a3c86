"""Attributes of a package imported on first use (PEP 562)."""

import importlib


def lazy_getattr(package, table):
    """A module ``__getattr__`` that imports ``table[name]`` (relative to ``package``) on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    table : dict
        Public name -> relative module that defines it.

    Returns
    -------
    callable
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name in table:
            value = getattr(importlib.import_module(table[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
