"""LMNN-PL's fit against metric-learn's LMNN, over a grid of perturbation weights.

The rows of scikit-learn's bundled wine and breast cancer data, 70 % of them (a stratified
split), ``StandardScaler`` then ``Normalizer`` (the paper's preprocessing). ``LMNNPL``
runs with its defaults (``solver="factor"``, ``max_iter=1000``, ``n_neighbors=3``) but the
perturbation weight; metric-learn's ``LMNN`` with the same ``n_neighbors`` and its own
defaults otherwise (``max_iter=1000``). One thread for torch and BLAS.
"""

import functools
import inspect

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.utils import check_array
from threadpoolctl import threadpool_limits

from sk_uae.metric_learning import LMNNPL

from ._fixtures import one_thread

DATASETS = ["wine", "breast_cancer"]
WEIGHTS = [0.0, 1.0, 10.0, 50.0, 200.0]


def _training_rows(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X, _, y, _ = train_test_split(np.asarray(X, dtype=np.float64), y, test_size=0.3,
                                  stratify=y, random_state=0)
    return make_pipeline(StandardScaler(), Normalizer()).fit_transform(X), y


def _single_threaded():
    one_thread()
    threadpool_limits(1)  # each benchmark runs in a process of its own


class LMNNPLFit:
    """``LMNNPL(perturbation_weight=w).fit`` (``w = 0`` is plain LMNN)."""

    params = (DATASETS, WEIGHTS)
    param_names = ["data", "perturbation_weight"]
    timeout = 600

    def setup(self, name, weight):
        _single_threaded()
        self.X, self.y = _training_rows(name)

    def time_fit(self, name, weight):
        LMNNPL(perturbation_weight=weight).fit(self.X, self.y)


def _metric_learn_lmnn():
    """metric-learn's ``LMNN`` class; ``NotImplementedError`` (a skip) where it is absent.

    metric-learn 0.7.0 (its latest release) passes scikit-learn's ``force_all_finite``,
    which scikit-learn 1.8 removed in favour of ``ensure_all_finite``; its input checks get
    the renamed argument. What it fits is unchanged.
    """
    try:
        import metric_learn._util as util
        from metric_learn import LMNN
    except ImportError as exc:
        raise NotImplementedError(f"metric-learn is not installed ({exc})")

    def renamed(check):
        @functools.wraps(check)
        def call(*args, force_all_finite=True, **kwargs):
            return check(*args, ensure_all_finite=force_all_finite, **kwargs)
        call.renamed = True
        return call

    old = "force_all_finite" in inspect.signature(check_array).parameters
    if not old and not getattr(util.check_array, "renamed", False):
        util.check_array, util.check_X_y = renamed(util.check_array), renamed(util.check_X_y)
    return LMNN


class MetricLearnLMNNFit:
    """metric-learn 0.7's ``LMNN(n_neighbors=3).fit`` on the same rows."""

    params = DATASETS
    param_names = ["data"]
    timeout = 600

    def setup(self, name):
        self.lmnn = _metric_learn_lmnn()
        _single_threaded()
        self.X, self.y = _training_rows(name)

    def time_fit(self, name):
        self.lmnn(n_neighbors=LMNNPL().n_neighbors, random_state=0).fit(self.X, self.y)
