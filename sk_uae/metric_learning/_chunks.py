"""Memory budget shared by the chunked computations."""

from sklearn import get_config


def working_floats(copies=4):
    """float64 entries one chunk may hold: scikit-learn's ``working_memory`` (MiB)
    divided among ``copies`` live temporaries of the chunk's largest shape."""
    return max(1, int(get_config()["working_memory"] * 2**20) // (8 * copies))


def chunks(n, size):
    """Slices covering ``range(n)`` in steps of ``size``."""
    return [slice(i, i + size) for i in range(0, n, size)]
