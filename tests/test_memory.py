"""``memory=``: the first model of a grid's candidates is fitted once per fold."""

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from conftest import fast_attack
from sk_uae import UAEAugmenter, UAEGenerator, UAESampler
from sk_uae.models import AutoencoderNet, DenseAutoencoder

# rows each fit trained on, appended by the callback below; a module-level list
# because the callback is pickled (to hash it) and cloned with the model
TRAINED = []

GRID = {"attack__eps": [0.1, 0.3], "attack__max_iter": [1, 2]}


class CountFits(Callback):
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        TRAINED.append(len(X))


def _net(**kw):
    params = dict(module=DenseAutoencoder, module__hidden_units=8, max_epochs=1,
                  callbacks=[("count", CountFits())], random_state=0)
    return AutoencoderNet(**{**params, **kw})


def _search(memory, X, retrain="scratch", **net_kw):
    TRAINED.clear()
    aug = UAEAugmenter(_net(**net_kw), fast_attack(max_iter=1), retrain=retrain,
                       random_state=0, memory=memory)
    search = GridSearchCV(aug, GRID, cv=3, refit=False).fit(X)
    return search, list(TRAINED)


def _cached_fits(folder):
    """Fits stored in a joblib.Memory folder: one directory (argument hash) each."""
    return sum(len(dirs) for root, dirs, files in os.walk(folder)
               if os.path.basename(root) == "_fit_seeded")


def test_grid_fits_the_first_model_once_per_fold(digits, tmp_path):
    X = digits[0][:90]  # folds of 60 training rows; the retrains see 120
    plain, fits = _search(None, X)
    assert fits.count(60) == 12 and fits.count(120) == 12

    cached, fits = _search(str(tmp_path), X)
    assert fits.count(60) == 3 and fits.count(120) == 12
    assert _cached_fits(tmp_path) == 3
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(cached.cv_results_[key], plain.cv_results_[key])

    again, fits = _search(tmp_path, X)  # a path-like folder; every first fit is a hit
    assert fits.count(60) == 0 and fits.count(120) == 12
    np.testing.assert_array_equal(again.cv_results_["mean_test_score"],
                                  plain.cv_results_["mean_test_score"])


def test_a_model_parameter_misses_the_cache(digits, tmp_path):
    X = digits[0][:90]
    _search(tmp_path, X)
    _, fits = _search(tmp_path, X, module__hidden_units=6)
    assert fits.count(60) == 3
    assert _cached_fits(tmp_path) == 6


def test_the_seed_is_part_of_the_key(digits, tmp_path):
    X = digits[0][:60]
    for seed in (0, 1, 0):
        UAEAugmenter(_net(), fast_attack(max_iter=1), random_state=seed,
                     memory=tmp_path).fit(X)
    assert _cached_fits(tmp_path) == 2


def test_continue_never_trains_the_cached_model(digits, tmp_path):
    X = digits[0][:60]

    def fit(memory):
        return UAEAugmenter(_net(max_epochs=2), fast_attack(max_iter=1), retrain="continue",
                            random_state=0, memory=memory).fit(X)

    plain = fit(None)
    first, second = fit(tmp_path), fit(tmp_path)  # a miss, then a hit
    for aug in (first, second):
        assert len(aug.estimator_.history_) == 4  # 2 epochs on X, 2 on the union
        np.testing.assert_array_equal(aug.transform(X), plain.transform(X))
    assert second.estimator_ is not first.estimator_


def test_generator_and_sampler_take_memory(digits, tmp_path):
    X, y = digits[0][:60], digits[1][:60]
    memory = joblib.Memory(tmp_path, verbose=0)
    gens = [UAEGenerator(_net(), fast_attack(max_iter=1), random_state=0,
                         memory=memory).fit(X, y) for _ in range(2)]
    assert gens[0].estimator_ is not gens[1].estimator_
    np.testing.assert_array_equal(gens[0].transform(X), gens[1].transform(X))
    TRAINED.clear()
    Xr, _ = UAESampler(_net(), fast_attack(max_iter=1), random_state=0,
                       memory=memory).fit_resample(X, y)
    assert TRAINED == []  # the first model (X, y, seed 0) is the generators'
    np.testing.assert_array_equal(Xr[60:], gens[0].generate(X, y, return_info=False))
    assert _cached_fits(tmp_path) == 1


def test_ratio_zero_fit_is_cached(digits, tmp_path):
    X = digits[0][:60]
    TRAINED.clear()
    for eps in (0.1, 0.2):
        UAEAugmenter(_net(), fast_attack(eps=eps), ratio=0, random_state=0,
                     memory=tmp_path).fit(X)
    assert TRAINED == [60]


def test_bad_memory(digits):
    with pytest.raises(ValueError, match="memory"):
        UAEAugmenter(_net(), memory=3).fit(digits[0][:20])
