"""Class labels to column indices."""

import numpy as np


def labels_to_indices(y, classes):
    """Indices into ``classes`` (in any order) of the labels ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels to encode.
    classes : array-like of shape (n_classes,) or None
        Class labels in column order (a fitted classifier's ``classes_``;
        sorted or not); label ``classes[i]`` becomes ``i``. ``None`` means
        the labels already are indices (integers), returned as int64.

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
    try:
        # sorted lookup, then back to the position in the given order
        order = np.argsort(classes, kind="stable")
        sorted_classes = classes[order]
        pos = np.clip(np.searchsorted(sorted_classes, y), 0, len(classes) - 1)
        bad = np.asarray(sorted_classes[pos] != y, dtype=bool).reshape(y.shape)
        idx = order[pos]
    except TypeError:  # labels of mutually unorderable types (object arrays)
        lookup = {}
        for i, c in enumerate(classes.tolist()):
            lookup.setdefault(c, i)
        found = [lookup.get(label, -1) for label in y.tolist()]
        idx = np.asarray(found, dtype=np.int64).reshape(y.shape)
        bad = idx < 0
    if np.any(bad):
        unknown = list(dict.fromkeys(y[bad].tolist()))[:5]
        raise ValueError(
            f"y has labels {unknown!r} that are not among the classes the "
            f"classifier was fitted on ({classes!r})."
        )
    return idx.astype(np.int64)
