"""Docstring fragments shared by related classes (as imbalanced-learn's ``Substitution``)."""


def fill_doc(**fragments):
    """Class or function decorator that replaces ``%(name)s`` in its docstring.

    Parameters
    ----------
    **fragments : str
        Text of each placeholder. Its first line takes the indentation of
        the placeholder; the following lines keep their own, so write them
        indented for the docstring they go into.

    Returns
    -------
    callable
        The decorator; it raises ``KeyError`` for a placeholder left unfilled.
    """

    def decorate(obj):
        doc = obj.__doc__
        for name, text in fragments.items():
            doc = doc.replace(f"%({name})s", text.strip())
        if "%(" in doc:
            left = doc[doc.index("%("):].split(")s", 1)[0] + ")s"
            raise KeyError(f"{obj.__qualname__}: docstring placeholder {left} is not filled")
        obj.__doc__ = doc
        return obj

    return decorate


# the rows a fitted estimator's methods take
X_ROWS_DOC = """X : array-like of shape (n_samples, n_features)
            Input rows, with the columns seen in ``fit``; cast to float32."""
