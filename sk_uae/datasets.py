"""Local data loaders: nothing here downloads anything.

* :func:`load_digits_images` -- scikit-learn's bundled 8x8 digits scaled to [0, 1];
* :func:`load_mnist_idx` -- MNIST-style IDX files (optionally gzipped) from a
  folder the caller names;
* :func:`load_csv` -- numeric CSV files, with an optional label column;
* :func:`load_csv_table` -- CSV tables of any column types, as a DataFrame.
"""

import gzip
import os
import struct

import numpy as np
from sklearn.datasets import load_digits

__all__ = ["load_digits_images", "load_mnist_idx", "read_idx", "load_csv", "load_csv_table"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_digits_images(return_X_y=True):
    """scikit-learn's digits as float32 images in [0, 1], flattened.

    Parameters
    ----------
    return_X_y : bool, default=True
        Return ``(X, y)``; otherwise a dict with ``data``, ``target`` and
        ``image_shape``.

    Returns
    -------
    X : ndarray of shape (1797, 64), float32 in [0, 1]
    y : ndarray of shape (1797,)
    """
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    if return_X_y:
        return X, y
    return {"data": X, "target": y, "image_shape": (1, 8, 8)}


def read_idx(path):
    """Read one IDX file (as MNIST ships them), gzipped or not.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file; a name ending in ``.gz`` is read through gzip.

    Returns
    -------
    ndarray
        The array, with the shape and dtype stored in the file.

    Raises
    ------
    FileNotFoundError, ValueError
        On a missing file, or a header or size that is not IDX.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path!r}")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path!r} is not an IDX file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path!r}: truncated IDX header.")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path!r}: IDX header announces shape {shape} ({expected} bytes) but the file "
            f"holds {len(raw) - header} bytes of data."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_mnist_idx(data_dir, kind="t10k", n_samples=None, flatten=True):
    """Load MNIST images and labels from IDX files in ``data_dir``.

    Looks for ``{kind}-images-idx3-ubyte[.gz]`` and
    ``{kind}-labels-idx1-ubyte[.gz]``.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder holding the files (no download is ever attempted).
    kind : {"t10k", "train"}, default="t10k"
        Which split's files to read (the file-name prefix).
    n_samples : int, optional
        Keep the first ``n_samples`` rows.
    flatten : bool, default=True
        Return images as ``(n, 784)``; otherwise ``(n, 28, 28)``.

    Returns
    -------
    X : ndarray, float32 in [0, 1]
    y : ndarray of shape (n,), int64
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"MNIST folder not found: {data_dir!r}")

    def find(stem):
        for name in (stem + ".gz", stem):
            p = os.path.join(data_dir, name)
            if os.path.isfile(p):
                return p
        raise FileNotFoundError(f"no {stem}[.gz] in {data_dir!r}")

    images = read_idx(find(f"{kind}-images-idx3-ubyte"))
    labels = read_idx(find(f"{kind}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST files in {data_dir!r} do not match: images {images.shape}, "
            f"labels {labels.shape}."
        )
    if n_samples is not None:
        images, labels = images[:n_samples], labels[:n_samples]
    X = images.astype(np.float32) / 255.0
    if flatten:
        X = X.reshape(X.shape[0], -1)
    return X, labels.astype(np.int64)


def load_csv(path, label_column="label"):
    """Numeric CSV with a header row; an optional label column.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file: comma-separated, a header row of column names, then
        numeric rows only (no missing or infinite values).
    label_column : str or None, default="label"
        Name of the label column, taken out of ``X`` when present.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,) or None
    feature_names : list of str
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CSV file not found: {path!r}")
    with open(path, newline="") as fh:
        header = fh.readline().strip()
    if not header:
        raise ValueError(f"{path!r} is empty; expected a header row of column names.")
    names = [c.strip() for c in header.split(",")]
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path!r}: every column must be numeric ({exc}).") from None
    if data.shape[0] == 0:
        raise ValueError(f"{path!r} has a header but no data rows.")
    if data.shape[1] != len(names):
        raise ValueError(f"{path!r}: {len(names)} column names but {data.shape[1]} columns.")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path!r} contains NaN or infinite values.")
    y = None
    if label_column is not None and label_column in names:
        j = names.index(label_column)
        y = data[:, j]
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
        data = np.delete(data, j, axis=1)
        names = names[:j] + names[j + 1 :]
    return data.astype(np.float32), y, names


def load_csv_table(path, label_column="label"):
    """A CSV table with a header row, of any column types, as a DataFrame.

    Unlike :func:`load_csv`, string and boolean columns are kept (encode
    them with :func:`sk_uae.tabular.make_table_encoder`).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file: comma-separated, a header row of column names; no
        missing values.
    label_column : str or None, default="label"
        Name of the label column, taken out of the table when present.

    Returns
    -------
    X : pandas.DataFrame
    y : ndarray of shape (n_samples,) or None
    """
    import pandas as pd

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CSV file not found: {path!r}")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path!r} is empty; expected a header row of column names.") from None
    if df.shape[0] == 0:
        raise ValueError(f"{path!r} has a header but no data rows.")
    missing = df.columns[df.isna().any()].tolist()
    if missing:
        raise ValueError(f"{path!r} has missing values in columns {missing}; fill or drop them.")
    numeric = df.select_dtypes("number")
    if numeric.size and not np.all(np.isfinite(numeric.to_numpy(dtype=np.float64))):
        raise ValueError(f"{path!r} contains infinite values.")
    y = None
    if label_column is not None and label_column in df.columns:
        y = df.pop(label_column).to_numpy()
    if df.shape[1] == 0:
        raise ValueError(f"{path!r} has no feature columns besides {label_column!r}.")
    return df, y
