"""Raw tables in and out: encode a DataFrame for a model, and map examples back.

The models and attacks work on float matrices. A table as people have it
has string, categorical, boolean, integer and float columns. The recipe:

>>> from sk_uae import FeatureConstraints, UAEGenerator           # doctest: +SKIP
>>> encoder = make_table_encoder(df).fit(df)                      # doctest: +SKIP
>>> Xt = encoder.transform(df)                                    # doctest: +SKIP
>>> c = FeatureConstraints.from_column_transformer(encoder, df)   # doctest: +SKIP
>>> gen = UAEGenerator(constraints=c).fit(Xt)                     # doctest: +SKIP
>>> df_adv = inverse_table(encoder, gen.transform(Xt), df)        # doctest: +SKIP

``df_adv`` has the columns and dtypes of ``df``; every categorical value is
one of its column's categories, since the constraints keep every one-hot
group valid and integer columns on their grid.
"""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = ["SCALERS", "inverse_table", "make_table_encoder"]

SCALERS = ("minmax", "standard", "none")


def _is_categorical(series):
    return series.dtype.kind in "OUSb" or str(series.dtype) in ("category", "string")


def make_table_encoder(X, *, scale="minmax", categorical=None):
    """An unfitted ``ColumnTransformer`` for the table ``X``, one column at a time.

    String, categorical and boolean columns (and those named in
    ``categorical``) are one-hot encoded (dense, every category a column);
    the numeric ones are scaled. One transformer per input column, in the
    input's order, so the outputs follow the input columns and
    :func:`inverse_table` can map every output back.

    Parameters
    ----------
    X : pandas.DataFrame
        The raw table (its column names and dtypes are read, not its values).
    scale : {"minmax", "standard", "none"}, default="minmax"
        Scaling of the numeric columns: to [0, 1] (what the autoencoders'
        sigmoid output and an ``eps`` in units of [0, 1] expect), to zero
        mean and unit variance, or none.
    categorical : list of str, default=None
        Numeric columns to treat as categories (integer codes of a nominal
        variable).

    Returns
    -------
    sklearn.compose.ColumnTransformer
    """
    if not hasattr(X, "columns"):
        raise TypeError("make_table_encoder needs a pandas DataFrame (it reads column names and "
                        f"dtypes); got {type(X).__name__}.")
    if scale not in SCALERS:
        raise ValueError(f"scale={scale!r} is not known; expected one of {SCALERS}.")
    categorical = set(categorical or ())
    unknown = categorical - set(X.columns)
    if unknown:
        raise ValueError(f"categorical names columns that X does not have: {sorted(unknown)}.")
    steps = []
    for col in X.columns:
        if _is_categorical(X[col]) or col in categorical:
            trans = OneHotEncoder(sparse_output=False, handle_unknown="error")
        elif scale == "minmax":
            trans = MinMaxScaler()
        elif scale == "standard":
            trans = StandardScaler()
        else:
            trans = "passthrough"
        steps.append((f"col{len(steps)}", trans, [col]))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def inverse_table(encoder, Xt, like):
    """The rows ``Xt`` in the columns and dtypes of the raw table ``like``.

    Parameters
    ----------
    encoder : fitted ColumnTransformer
        From :func:`make_table_encoder` (one transformer per column, each
        with an ``inverse_transform`` or ``"passthrough"``).
    Xt : ndarray of shape (n_samples, n_outputs)
        Encoded rows, e.g. adversarial examples of ``encoder.transform(like)``.
    like : pandas.DataFrame
        A table of the raw schema (the one the encoder was fitted on). When
        it has one row per row of ``Xt`` (the clean rows of the examples),
        every value whose encoding ``Xt`` left unchanged is copied from it,
        so unchanged columns (immutable ones, say) come back bit-identical
        instead of through a float round trip.

    Returns
    -------
    pandas.DataFrame
        One row per row of ``Xt``, the columns of ``like`` in its order and
        dtypes (and its index when aligned). Integer columns are rounded to
        the nearest integer (exact when the examples kept integer
        constraints); categories come from each one-hot group's largest
        value.
    """
    import pandas as pd

    check_is_fitted(encoder, "transformers_")
    if not isinstance(encoder, ColumnTransformer):
        raise TypeError(f"inverse_table needs a fitted ColumnTransformer; got "
                        f"{type(encoder).__name__}.")
    Xt = np.asarray(Xt)
    aligned = len(like) == len(Xt)
    clean = np.asarray(encoder.transform(like), dtype=Xt.dtype) if aligned else None
    columns = {}
    for name, trans, cols in encoder.transformers_:
        if trans == "drop" or name not in encoder.output_indices_:
            continue
        block = Xt[:, encoder.output_indices_[name]]
        if len(cols) != 1 or not (trans == "passthrough" or hasattr(trans, "inverse_transform")):
            raise ValueError(f"inverse_table maps back one column per transformer with an "
                             f"inverse_transform; {name!r} has {list(cols)} and "
                             f"{type(trans).__name__}. Build the encoder with "
                             "make_table_encoder.")
        (col,) = cols
        raw = block if trans == "passthrough" else trans.inverse_transform(block)
        values = _as_dtype(np.asarray(raw)[:, 0], like[col].dtype)
        if aligned:
            same = (block == clean[:, encoder.output_indices_[name]]).all(1)
            values = pd.Series(values).where(~same, like[col].to_numpy()).astype(like[col].dtype)
        columns[col] = values
    missing = [c for c in like.columns if c not in columns]
    if missing:
        raise ValueError(f"the encoder drops columns {missing}; inverse_table cannot restore them.")
    index = like.index if aligned else None
    return pd.DataFrame({c: pd.Series(columns[c]).to_numpy() for c in like.columns},
                        index=index).astype(like.dtypes.to_dict())


def _as_dtype(values, dtype):
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Categorical(values, categories=dtype.categories, ordered=dtype.ordered)
    if dtype.kind in "iu":
        return np.round(values.astype(np.float64)).astype(dtype)
    if dtype.kind == "b":
        return values.astype(bool)
    if dtype.kind == "f":
        return values.astype(dtype)
    return pd.array(values, dtype=dtype)
