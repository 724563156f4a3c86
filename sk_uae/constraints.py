"""Feature constraints of tabular data: which rows an attack may return.

A table's columns are not all free: an identifier or a protected attribute
never changes, a count stays an integer, a one-hot encoded category has
exactly one 1, an age only grows. :class:`FeatureConstraints` declares
them by column index or name; every attack of :mod:`sk_uae.attacks`
honours them inside its loop and repairs its result at the end.

Two steps, kept apart because the search needs a continuous set:

* **projection**, at every step of an attack: immutable entries are reset
  to the clean value, bounds are clamped, ``increase_only`` and
  ``decrease_only`` columns are kept on their side of the clean value;
* **repair**, once at the end: integer columns are rounded towards the
  clean value (so the perturbation only shrinks) and each one-hot group is
  set to the one-hot vector of its largest relaxed value -- or back to the
  clean category where that change would leave the attack's budget or
  break another constraint.

The repair can undo what made an example adversarial, so the estimators
re-check every repaired example against the attack's goal.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

__all__ = ["FeatureConstraints", "satisfied_rows"]

# values this close to an integer, a bound or a one-hot level are float rounding
_ATOL = 1e-6


class FeatureConstraints(BaseEstimator):
    """Constraints on the columns of a table that adversarial examples must keep.

    Columns are named by position (int) or, when the rows came with column
    names (a pandas DataFrame), by name (str). :meth:`fit` resolves them
    against the rows into masks and bounds; the estimators of
    :mod:`sk_uae` (``constraints=``) fit a clone on their training rows.

    Parameters
    ----------
    immutable : list of int or str, default=None
        Columns that never change: their entries of every example are
        bit-identical to the clean row.
    integer : list of int or str, default=None
        Columns whose values are integers. The search may move them
        continuously; the result is rounded towards the clean value.
    integer_grid : dict {column: (origin, step)}, default=None
        Integer columns seen through an affine scaling: their values are
        ``origin + step * k`` for integers ``k`` (a count after a
        ``MinMaxScaler``, say). Listed columns are integer columns; the
        others of ``integer`` have origin 0 and step 1.
    one_hot : list of lists of int or str, default=None
        Groups of columns that encode one category: every value is 0 or 1
        and exactly one is 1. The search relaxes them; the result is the
        one-hot vector of the largest relaxed value when that change fits
        the attack's budget, otherwise the clean category.
    lower, upper : dict {column: float} or array-like of shape (n_features,), default=None
        Per-column bounds; ``None``, NaN or an infinite value means none.
    increase_only, decrease_only : list of int or str, default=None
        Columns that may only grow (shrink) from the clean value.

    Attributes
    ----------
    immutable_, integer_, increase_only_, decrease_only_ : ndarray of bool, shape (n_features,)
        Masks of the columns.
    one_hot_groups_ : list of ndarray of int
        Column positions of each one-hot group.
    lower_, upper_ : ndarray of float64, shape (n_features,)
        Bounds (``-inf``/``inf`` where none).
    integer_origin_, integer_step_ : ndarray of float64, shape (n_features,)
        The grid of every integer column (0 and 1 unless ``integer_grid``
        says otherwise).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when the rows had column names.

    See Also
    --------
    sk_uae.metrics.constraint_satisfaction : the fraction of examples that keep them.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae import FeatureConstraints
    >>> X = np.array([[0.0, 1.0, 3.0, 0.5], [1.0, 0.0, 5.0, 0.2]])
    >>> c = FeatureConstraints(one_hot=[[0, 1]], integer=[2], lower={3: 0.0}).fit(X)
    >>> c.integer_.tolist(), c.lower_.tolist()
    ([False, False, True, False], [-inf, -inf, -inf, 0.0])
    """

    def __init__(self, immutable=None, integer=None, one_hot=None, lower=None, upper=None,
                 increase_only=None, decrease_only=None, integer_grid=None):
        self.immutable = immutable
        self.integer = integer
        self.integer_grid = integer_grid
        self.one_hot = one_hot
        self.lower = lower
        self.upper = upper
        self.increase_only = increase_only
        self.decrease_only = decrease_only

    def fit(self, X, y=None, *, feature_names=None):
        """Resolve the columns and check that the rows ``X`` keep the constraints.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows the constraints describe (a DataFrame gives column names).
        y : None
            Ignored.
        feature_names : array-like of str, default=None
            Column names when ``X`` is an array without them (the estimators
            pass the names they recorded).

        Returns
        -------
        self
        """
        if feature_names is None and hasattr(X, "columns"):
            feature_names = [str(c) for c in X.columns]
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"FeatureConstraints.fit needs 2-D rows; got shape {X.shape}.")
        d = X.shape[1]
        self.n_features_in_ = d
        if feature_names is not None:
            self.feature_names_in_ = np.asarray(feature_names, dtype=object)
            if len(self.feature_names_in_) != d:
                raise ValueError(f"feature_names has {len(self.feature_names_in_)} names for "
                                 f"{d} columns.")
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        cols = self._columns
        self.immutable_ = _mask(cols(self.immutable, "immutable"), d)
        self.integer_ = _mask(cols(self.integer, "integer"), d)
        self.integer_origin_ = np.zeros(d)
        self.integer_step_ = np.ones(d)
        for c, grid in (self.integer_grid or {}).items():
            (j,) = cols([c], "integer_grid")
            try:
                origin, step = (float(v) for v in grid)
            except (TypeError, ValueError):
                origin, step = np.nan, np.nan
            if not (np.isfinite(origin) and np.isfinite(step) and step > 0):
                raise ValueError(f"integer_grid: column {self._name(j)} needs (origin, step) "
                                 f"with a finite step > 0; got {grid!r}.")
            self.integer_[j] = True
            self.integer_origin_[j], self.integer_step_[j] = origin, step
        self.increase_only_ = _mask(cols(self.increase_only, "increase_only"), d)
        self.decrease_only_ = _mask(cols(self.decrease_only, "decrease_only"), d)
        self.one_hot_groups_ = self._groups()
        self.lower_ = self._bounds(self.lower, "lower", -np.inf)
        self.upper_ = self._bounds(self.upper, "upper", np.inf)
        bad = np.flatnonzero(self.lower_ > self.upper_)
        if bad.size:
            raise ValueError(f"lower > upper for column {self._name(bad[0])}: "
                             f"{self.lower_[bad[0]]} > {self.upper_[bad[0]]}.")
        self.check_rows(X, "X")
        return self

    # ------------------------------------------------------------ resolving
    def _name(self, j):
        names = getattr(self, "feature_names_in_", None)
        return repr(str(names[j])) if names is not None else str(int(j))

    def _columns(self, spec, what):
        """Positions of the columns in ``spec`` (ints or names), checked."""
        if spec is None:
            return np.empty(0, dtype=np.int64)
        if isinstance(spec, (str, Integral)):
            spec = [spec]
        names = getattr(self, "feature_names_in_", None)
        out = []
        for c in spec:
            if isinstance(c, (Integral, np.integer)) and not isinstance(c, bool):
                if not -self.n_features_in_ <= c < self.n_features_in_:
                    raise ValueError(f"{what}: column {c} is out of range for X with "
                                     f"{self.n_features_in_} columns.")
                out.append(int(c) % self.n_features_in_)
            elif isinstance(c, str):
                if names is None:
                    raise ValueError(f"{what}: column {c!r} is a name, but X has no column "
                                     "names; pass positions, or a DataFrame.")
                hits = np.flatnonzero(names == c)
                if not hits.size:
                    raise ValueError(f"{what}: column {c!r} is not among the columns of X "
                                     f"({list(names)[:10]}...).")
                out.append(int(hits[0]))
            else:
                raise ValueError(f"{what}: expected column positions (int) or names (str); "
                                 f"got {c!r}.")
        return np.asarray(out, dtype=np.int64)

    def _groups(self):
        groups = []
        seen = np.zeros(self.n_features_in_, dtype=bool)
        for g in self.one_hot or []:
            if isinstance(g, (str, Integral)):
                raise ValueError("one_hot must be a list of groups (lists of columns); got "
                                 f"{self.one_hot!r}.")
            idx = self._columns(g, "one_hot")
            if idx.size < 2 or np.unique(idx).size != idx.size:
                raise ValueError(f"one_hot: a group needs two or more distinct columns; got {g!r}.")
            if seen[idx].any():
                raise ValueError(f"one_hot: column {self._name(idx[seen[idx]][0])} is in two "
                                 "groups.")
            seen[idx] = True
            groups.append(idx)
        return groups

    def _bounds(self, spec, what, default):
        out = np.full(self.n_features_in_, default, dtype=np.float64)
        if spec is None:
            return out
        if isinstance(spec, dict):
            for c, v in spec.items():
                (j,) = self._columns([c], what)
                out[j] = _bound_value(v, what, default)
            return out
        values = np.asarray(spec, dtype=object).ravel()
        if values.size != self.n_features_in_:
            raise ValueError(f"{what} must be a dict {{column: value}} or have one value per "
                             f"column ({self.n_features_in_}); got {values.size} values.")
        return np.array([_bound_value(v, what, default) for v in values], dtype=np.float64)

    # -------------------------------------------------------------- checks
    def check_rows(self, X, what="X"):
        """Raise a clear error if clean rows break the constraints by more than rounding.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Clean rows.
        what : str, default="X"
            How the error names the rows.
        """
        check_is_fitted(self, "immutable_")
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{what} has {X.shape[1]} columns; the constraints were fitted on "
                             f"{self.n_features_in_}.")
        for kind, b in _broken(self._arrays(), X, None).items():
            if not b.any():
                continue
            j = np.flatnonzero(b.any(0))[0]
            raise ValueError(f"{what} breaks its own constraints: column {self._name(j)} "
                             f"({kind}). Fix the data or the constraint; examples are repaired "
                             "towards the clean row, which must be valid.")

    def _arrays(self):
        return {"immutable": self.immutable_, "integer": self.integer_,
                "origin": self.integer_origin_, "step": self.integer_step_,
                "increase": self.increase_only_, "decrease": self.decrease_only_,
                "lower": self.lower_, "upper": self.upper_, "groups": self.one_hot_groups_}

    def for_torch(self, device, dtype):
        """The constraints as tensors, for the attack engines.

        Parameters
        ----------
        device : torch.device
            Where the engine runs.
        dtype : torch.dtype
            The engine's floating-point type.

        Returns
        -------
        TorchConstraints
        """
        check_is_fitted(self, "immutable_")
        return TorchConstraints(self._arrays(), device, dtype)

    def enforce(self, X_adv, X, eps=None, norm="linf"):
        """Project and repair examples in their own dtype (the final, exact step).

        Parameters
        ----------
        X_adv, X : ndarray of shape (n_samples, n_features)
            Examples and their clean rows.
        eps : float or ndarray of shape (n_features,), default=None
            The attack's budget, which a one-hot repair must keep (``None``:
            no budget).
        norm : {"linf", "l2"}, default="linf"

        Returns
        -------
        ndarray, the dtype of ``X_adv``
        """
        dtype = X_adv.dtype
        tc = TorchConstraints(self._arrays(), torch.device("cpu"), torch.float64)
        out = tc.repair(torch.from_numpy(np.asarray(X_adv, dtype=np.float64)),
                        torch.from_numpy(np.asarray(X, dtype=np.float64)), eps, norm)
        out = out.numpy().astype(dtype, copy=False)
        # float64 -> float32 can round a bound or a clean value away; immutable
        # entries are copied, not computed
        out[:, self.immutable_] = X[:, self.immutable_]
        return out

    def positional(self):
        """The fitted constraints restated by column position (an unfitted clone).

        Returns
        -------
        FeatureConstraints
        """
        check_is_fitted(self, "immutable_")

        def cols(mask):
            return np.flatnonzero(mask).tolist() or None

        grid = {int(j): (float(self.integer_origin_[j]), float(self.integer_step_[j]))
                for j in np.flatnonzero(self.integer_)
                if (self.integer_origin_[j], self.integer_step_[j]) != (0.0, 1.0)}
        return FeatureConstraints(
            immutable=cols(self.immutable_), integer=cols(self.integer_),
            integer_grid=grid or None,
            one_hot=[g.tolist() for g in self.one_hot_groups_] or None,
            lower=self.lower_.copy(), upper=self.upper_.copy(),
            increase_only=cols(self.increase_only_), decrease_only=cols(self.decrease_only_))

    # -------------------------------------------------------- constructors
    @classmethod
    def from_column_transformer(cls, column_transformer, X=None, *, immutable=None,
                                increase_only=None, decrease_only=None):
        """Constraints of the columns a fitted ``ColumnTransformer`` outputs.

        ``OneHotEncoder`` outputs become one-hot groups; ``OrdinalEncoder``
        outputs integers between 0 and the last code; ``MinMaxScaler``
        outputs keep its ``feature_range``; with ``X`` (the raw rows), the
        other numeric outputs (scalers, ``"passthrough"``) keep the range
        they have on ``ct.transform(X)``, and those made by an affine map
        from a column of integer dtype are integers on its grid
        (``integer_grid``). A transformer inside a ``Pipeline`` is read from
        the pipeline's last step.

        Parameters
        ----------
        column_transformer : fitted sklearn.compose.ColumnTransformer
            With dense output (``sparse_output=False`` in its encoders).
        X : DataFrame or array-like, default=None
            Raw rows, for the range of the numeric outputs.
        immutable, increase_only, decrease_only : list of str or int, default=None
            Input columns (names or positions of the raw table): every
            output column made from them gets the constraint.

        Returns
        -------
        FeatureConstraints
            Unfitted (fit it on the transformed rows), in output positions.
        """
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder

        ct = column_transformer
        if not isinstance(ct, ColumnTransformer):
            raise TypeError("from_column_transformer needs a fitted ColumnTransformer; got "
                            f"{type(ct).__name__}.")
        check_is_fitted(ct, "transformers_")
        Xt = None if X is None else np.asarray(ct.transform(X), dtype=np.float64)
        integer, groups, lower, upper, grid = [], [], {}, {}, {}
        by_input = {}
        for name, trans, columns in ct.transformers_:
            if trans == "drop" or name not in ct.output_indices_:
                continue
            out = ct.output_indices_[name]
            positions = list(range(out.start, out.stop))
            if not positions:
                continue
            inputs = _input_columns(ct, columns)
            last = trans.steps[-1][1] if isinstance(trans, Pipeline) else trans
            if isinstance(last, OneHotEncoder):
                if last.drop_idx_ is not None or getattr(last, "_infrequent_enabled", False):
                    raise ValueError(f"{name}: a OneHotEncoder with drop or infrequent "
                                     "categories has no 'exactly one 1' groups; use drop=None.")
                start = out.start
                for col, cats in zip(inputs, last.categories_):
                    groups.append(list(range(start, start + len(cats))))
                    by_input[col] = groups[-1]
                    start += len(cats)
                continue
            if len(inputs) == len(positions):  # one output per input
                by_input.update({col: [j] for col, j in zip(inputs, positions)})
            else:
                for col in inputs:
                    by_input.setdefault(col, []).extend(positions)
            if isinstance(last, OrdinalEncoder):
                for j, cats in zip(positions, last.categories_):
                    integer.append(j)
                    lower[j], upper[j] = 0.0, float(len(cats) - 1)

            if isinstance(last, MinMaxScaler) and not isinstance(trans, Pipeline):
                for j in positions:
                    lower[j], upper[j] = (float(v) for v in last.feature_range)
            elif Xt is not None:
                for j in positions:
                    lower[j], upper[j] = float(Xt[:, j].min()), float(Xt[:, j].max())
            if Xt is not None and len(inputs) == len(positions):
                for col, j in zip(inputs, positions):
                    affine = _integer_affine(_raw_column(X, col), Xt[:, j])
                    if affine is not None:
                        grid[j] = affine

        def outputs(spec, what):
            if spec is None:
                return None
            found = []
            for c in ([spec] if isinstance(spec, (str, Integral)) else spec):
                key = _input_key(ct, c)
                if key not in by_input:
                    raise ValueError(f"{what}: column {c!r} is not an input of the "
                                     "ColumnTransformer (or it is dropped).")
                found.extend(by_input[key])
            return found

        return cls(immutable=outputs(immutable, "immutable"), integer=integer or None,
                   integer_grid=grid or None,
                   one_hot=groups or None, lower=lower or None, upper=upper or None,
                   increase_only=outputs(increase_only, "increase_only"),
                   decrease_only=outputs(decrease_only, "decrease_only"))


def _input_columns(ct, columns):
    """Input keys (names where the ColumnTransformer saw names, else positions)."""
    names = getattr(ct, "feature_names_in_", None)
    if callable(columns):
        raise ValueError("from_column_transformer cannot read a callable column selector.")
    if isinstance(columns, slice) or np.ndim(columns) == 0:
        idx = np.arange(ct.n_features_in_)[columns]
        idx = np.atleast_1d(idx)
    else:
        cols = list(columns)
        if cols and isinstance(cols[0], (bool, np.bool_)):
            idx = np.flatnonzero(cols)
        elif cols and isinstance(cols[0], str):
            return cols
        else:
            idx = np.asarray(cols, dtype=int)
    return [str(names[i]) if names is not None else int(i) for i in idx]


def _raw_column(X, col):
    return np.asarray(X[col]) if hasattr(X, "columns") else np.asarray(X)[:, col]


def _integer_affine(raw, out):
    """``(origin, step)`` when ``raw`` has an integer dtype and ``out = origin + step * raw``."""
    if raw.dtype.kind not in "iu":
        return None
    raw = raw.astype(np.float64)
    lo, hi = np.argmin(raw), np.argmax(raw)
    if raw[hi] == raw[lo]:
        return None
    step = (out[hi] - out[lo]) / (raw[hi] - raw[lo])
    origin = out[lo] - step * raw[lo]
    if step <= 0 or not np.allclose(origin + step * raw, out, rtol=1e-9, atol=1e-9):
        return None
    return float(origin), float(step)


def _input_key(ct, c):
    names = getattr(ct, "feature_names_in_", None)
    if names is not None and isinstance(c, (Integral, np.integer)):
        return str(names[int(c)])
    return c


def _mask(idx, d):
    m = np.zeros(d, dtype=bool)
    m[idx] = True
    return m


def _bound_value(v, what, default):
    if v is None:
        return default
    if not isinstance(v, (Real, np.floating, np.integer)) or isinstance(v, bool):
        raise ValueError(f"{what}: bounds must be numbers or None; got {v!r}.")
    v = float(v)
    return default if np.isnan(v) or np.isinf(v) else v


def _broken(arrays, X_adv, X):
    """Boolean matrices (n_samples, n_features) of broken constraints, by kind.

    ``X=None`` checks clean rows (the constraints that need no clean row).
    """
    tol = _ATOL * np.maximum(1.0, np.abs(X_adv))
    broken = {
        "outside its bounds": (X_adv < arrays["lower"] - tol) | (X_adv > arrays["upper"] + tol),
        "not an integer": _off_grid(X_adv, arrays) & arrays["integer"],
    }
    one_hot = np.zeros_like(X_adv, dtype=bool)
    for g in arrays["groups"]:
        v, t = X_adv[:, g], tol[:, g]
        ones = np.abs(v - 1) <= t
        valid = ((np.abs(v) <= t) | ones).all(1) & (ones.sum(1) == 1)
        one_hot[:, g] = ~valid[:, None]
    broken["its one-hot group has not exactly one 1"] = one_hot
    if X is not None:
        diff = X_adv - X
        broken["immutable, but changed"] = (diff != 0) & arrays["immutable"]
        broken["increase-only, but decreased"] = (diff < -tol) & arrays["increase"]
        broken["decrease-only, but increased"] = (diff > tol) & arrays["decrease"]
    return broken


def _off_grid(X_adv, arrays):
    """Entries that are not ``origin + step * k`` for an integer ``k`` (rounding allowed)."""
    k = (X_adv - arrays["origin"]) / arrays["step"]
    return np.abs(k - np.round(k)) > _ATOL * np.maximum(1.0, np.abs(k))


def satisfied_rows(X_adv, X, constraints):
    """Which rows keep every fitted constraint (the helper of the metrics).

    Parameters
    ----------
    X_adv, X : array-like of shape (n_samples, n_features)
        Examples and their clean rows.
    constraints : fitted FeatureConstraints

    Returns
    -------
    ndarray of bool, shape (n_samples,)
        True where the row keeps every constraint.
    """
    check_is_fitted(constraints, "immutable_")
    broken = _broken(constraints._arrays(), np.asarray(X_adv, dtype=np.float64),
                     np.asarray(X, dtype=np.float64))
    return ~np.any([b.any(1) for b in broken.values()], axis=0)


class TorchConstraints:
    """Fitted constraints as tensors: the projection and the repair of the engines.

    Parameters
    ----------
    arrays : dict
        Masks, bounds and groups of a fitted :class:`FeatureConstraints`.
    device : torch.device
    dtype : torch.dtype
    """

    def __init__(self, arrays, device, dtype):
        def t(a, dt=dtype):
            return torch.as_tensor(np.asarray(a), device=device, dtype=dt)

        self.immutable = t(arrays["immutable"], torch.bool)
        self.mutable = (~self.immutable).to(dtype)
        self.increase = t(arrays["increase"], torch.bool)
        self.decrease = t(arrays["decrease"], torch.bool)
        self.integer = t(arrays["integer"], torch.bool)
        self.origin = t(arrays["origin"])
        self.step = t(arrays["step"])
        self.lower = t(arrays["lower"])
        self.upper = t(arrays["upper"])
        self.groups = [torch.as_tensor(g, device=device, dtype=torch.long)
                       for g in arrays["groups"]]
        self.has_bounds = bool(torch.isfinite(self.lower).any() or torch.isfinite(self.upper).any())

    def step_mask(self, grad):
        """``grad`` with the immutable columns' entries set to zero (they take no step)."""
        return grad * self.mutable

    def project(self, x_adv, x):
        """The nearest point of the continuous set: bounds, directions, immutable columns.

        Differentiable almost everywhere (the immutable entries get no gradient).
        """
        if self.has_bounds:
            x_adv = torch.maximum(torch.minimum(x_adv, self.upper), self.lower)
        x_adv = torch.where(self.increase, torch.maximum(x_adv, x), x_adv)
        x_adv = torch.where(self.decrease, torch.minimum(x_adv, x), x_adv)
        return torch.where(self.immutable, x, x_adv)

    def project_delta(self, delta, x):
        """:meth:`project` of ``x + delta``, as a perturbation, exact where nothing binds.

        Columns without a constraint keep their ``delta`` bit for bit (``(x +
        delta) - x`` would round), so constraints that bind nowhere leave an
        attack's arithmetic as it is without them.
        """
        if self.has_bounds:
            inside = torch.maximum(torch.minimum(x + delta, self.upper), self.lower)
            delta = torch.where(inside != x + delta, inside - x, delta)
        delta = torch.where(self.increase, delta.clamp_min(0), delta)
        delta = torch.where(self.decrease, delta.clamp_max(0), delta)
        return torch.where(self.immutable, torch.zeros_like(delta), delta)

    def repair(self, x_adv, x, eps=None, norm="linf"):
        """Project, round integer columns towards the clean value, set one-hot groups.

        A group moves to the category of its largest relaxed value only if
        the whole row then stays within the budget ``eps`` (float or
        per-column) in ``norm`` and keeps the other constraints; otherwise
        it keeps the clean category.
        """
        with torch.no_grad():
            x_adv = self.project(x_adv, x)
            if bool(self.integer.any()):
                o, s = self.origin, self.step
                k = torch.round((x - o) / s)
                k_adv = k + torch.trunc((x_adv - o) / s - k)
                x_adv = torch.where(self.integer, o + s * k_adv, x_adv)
            for g in self.groups:
                clean = torch.round(x[:, g])
                pick = torch.nn.functional.one_hot(x_adv[:, g].argmax(1), len(g)).to(x.dtype)
                cand = x_adv.clone()
                cand[:, g] = pick
                ok = (self.project(cand, x)[:, g] == pick).all(1)
                ok &= _within(cand - x, eps, norm)
                cand[:, g] = torch.where(ok[:, None], pick, clean)
                x_adv = cand
        return x_adv


def _within(delta, eps, norm):
    """Rows whose perturbation lies in the budget ``eps`` (float or per column), with rounding."""
    if eps is None:
        return torch.ones(delta.shape[0], dtype=torch.bool, device=delta.device)
    eps = torch.as_tensor(eps, dtype=delta.dtype, device=delta.device)
    slack, tiny = 1 + 1e-6, 1e-12
    if norm == "linf":
        return (delta.abs() <= eps * slack + tiny).all(1)
    if eps.ndim == 0:
        return delta.norm(dim=1) <= eps * slack + tiny
    free = eps > 0
    fixed_ok = (delta[:, ~free].abs() <= tiny).all(1)
    return fixed_ok & ((delta[:, free] / eps[free]).norm(dim=1) <= slack)
