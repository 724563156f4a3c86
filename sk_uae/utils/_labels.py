"""Class labels to column indices."""

import numpy as np


def labels_to_indices(y, classes):
    """Indices into ``classes`` (sorted, as ``np.unique`` gives) of the labels ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels to encode.
    classes : array-like of shape (n_classes,) or None
        Sorted class labels (a fitted classifier's ``classes_``); label
        ``classes[i]`` becomes ``i``. ``None`` means the labels already are
        indices (integers), returned as int64.

    Returns
    -------
    ndarray of int64

    Raises
    ------
    ValueError
        If a label is not among ``classes`` (or, without classes, not an integer).
    """
    y = np.asarray(y)
    if classes is None:
        if y.dtype.kind not in "iu":
            raise ValueError(
                "y must hold integer class indices for a classifier without `classes_`; "
                f"got dtype {y.dtype}."
            )
        return y.astype(np.int64)
    classes = np.asarray(classes)
    idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    bad = classes[idx] != y
    if np.any(bad):
        raise ValueError(
            f"y has labels {np.unique(y[bad])[:5]!r} that are not among the classes the "
            f"classifier was fitted on ({classes!r})."
        )
    return idx.astype(np.int64)
