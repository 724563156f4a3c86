"""UAESampler(sampling_strategy=...): imbalanced-learn's over-sampling, with UAEs."""

import pickle
from collections import Counter

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from conftest import fast_attack
from sk_uae import UAESampler
from sk_uae.models import AutoencoderNet, DenseAutoencoder

EPS = 0.2


def _rows(digits, counts):
    """Digits rows with ``counts[c]`` rows of class ``c``: an imbalanced problem."""
    X, y = digits
    idx = np.concatenate([np.flatnonzero(y == c)[:n] for c, n in counts.items()])
    return X[idx], y[idx]


def _sampler(**kw):
    ae = AutoencoderNet(DenseAutoencoder, module__hidden_units=8, max_epochs=1, random_state=0)
    return UAESampler(ae, fast_attack(eps=EPS, max_iter=1), random_state=0, **kw)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    # the strategies share the first model: one fit per data set
    return str(tmp_path_factory.mktemp("uae_cache"))


@pytest.mark.parametrize("classes, strategy", [
    ({0: 30, 1: 12, 2: 5}, "auto"),
    ({0: 30, 1: 12, 2: 5}, "minority"),
    ({0: 30, 1: 12, 2: 5}, "not majority"),
    ({0: 30, 1: 12, 2: 5}, "not minority"),
    ({0: 30, 1: 12, 2: 5}, "all"),
    ({0: 30, 1: 12, 2: 5}, {1: 20, 2: 27}),
    ({0: 30, 1: 12, 2: 5}, lambda y: {2: 12}),
    ({0: 30, 1: 8}, 0.5),
    ({0: 30, 1: 8}, 1.0),
], ids=["auto", "minority", "not-majority", "not-minority", "all", "dict", "callable",
        "float", "float-1"])
def test_class_counts_are_those_of_random_over_sampler(digits, cache, classes, strategy):
    X, y = _rows(digits, classes)
    sampler = _sampler(sampling_strategy=strategy, memory=cache)
    Xr, yr = sampler.fit_resample(X, y)
    _, y_ros = RandomOverSampler(sampling_strategy=strategy, random_state=0).fit_resample(X, y)
    assert Counter(yr) == Counter(y_ros)
    assert dict(sampler.sampling_strategy_) == dict(
        RandomOverSampler(sampling_strategy=strategy).fit(X, y).sampling_strategy_)
    # the rows, then one UAE of a row of the same class per new row
    n = len(X)
    np.testing.assert_array_equal(Xr[:n], X)
    np.testing.assert_array_equal(yr[:n], y)
    idx = sampler.augment_indices_
    np.testing.assert_array_equal(yr[n:], y[idx])
    assert np.abs(Xr[n:] - X[idx]).max() <= EPS + 1e-6
    assert all(len(v) == len(idx) for v in sampler.uae_info_.values())
    assert set(sampler.uae_info_) >= {"success", "mi", "loss"}


def test_repeated_rows_give_distinct_examples(digits, cache):
    X, y = _rows(digits, {0: 30, 1: 4})
    sampler = _sampler(sampling_strategy="auto", memory=cache)
    Xr, _ = sampler.fit_resample(X, y)
    idx, X_new = sampler.augment_indices_, Xr[len(X):]
    # 26 new rows for 4 rows: each attacked 6 or 7 times
    assert sorted(Counter(idx).values()) == [6, 6, 7, 7]
    for row in np.unique(idx):
        examples = X_new[idx == row]
        assert len(np.unique(examples, axis=0)) == len(examples), f"row {row}"
    # a row's first example is the one ratio mode makes (same seed, same row)
    ratio_mode = _sampler(memory=cache)
    Xq, _ = ratio_mode.fit_resample(X, y)
    first = {row: X_new[np.flatnonzero(idx == row)[0]] for row in np.unique(idx)}
    for row, example in first.items():
        np.testing.assert_array_equal(example, Xq[len(X):][ratio_mode.augment_indices_ == row][0])


def test_results_do_not_depend_on_batch_size_or_n_jobs(digits, cache):
    X, y = _rows(digits, {0: 20, 1: 3})
    ref, _ = _sampler(sampling_strategy="auto", memory=cache).fit_resample(X, y)
    for kw in ({"batch_size": 5}, {"batch_size": 4, "n_jobs": 2}):
        Xr, _ = _sampler(sampling_strategy="auto", memory=cache, **kw).fit_resample(X, y)
        np.testing.assert_array_equal(Xr, ref, err_msg=str(kw))


def test_ratio_is_ignored_outside_ratio_mode(digits, cache):
    X, y = _rows(digits, {0: 20, 1: 6})
    a, _ = _sampler(sampling_strategy="auto", ratio=0.3, memory=cache).fit_resample(X, y)
    b, _ = _sampler(sampling_strategy="auto", memory=cache).fit_resample(X, y)
    np.testing.assert_array_equal(a, b)


def test_ratio_mode_keeps_the_balance_and_reports_its_counts(digits, cache):
    X, y = _rows(digits, {0: 20, 1: 6})
    sampler = _sampler(ratio=0.5, memory=cache)
    _, yr = sampler.fit_resample(X, y)
    assert len(yr) == 26 + 13
    assert sampler.sampling_strategy_ == dict(Counter(y[sampler.augment_indices_]))
    np.testing.assert_array_equal(sampler.augment_indices_, np.sort(sampler.augment_indices_))


def test_bad_strategies(digits):
    X, y = _rows(digits, {0: 10, 1: 4, 2: 3})
    with pytest.raises(ValueError, match="sampling_strategy"):
        _sampler(sampling_strategy="majority").fit_resample(X, y)
    with pytest.raises(ValueError, match="binary"):
        _sampler(sampling_strategy=0.5).fit_resample(X, y)
    with pytest.raises(ValueError, match="greater or equal"):
        _sampler(sampling_strategy={1: 2}).fit_resample(X, y)


def test_in_an_imblearn_pipeline(digits):
    X, y = _rows(digits, {0: 40, 1: 10, 2: 6})
    pipe = ImbPipeline([("uae", _sampler(sampling_strategy="auto")),
                        ("clf", LogisticRegression(max_iter=300))]).fit(X, y)
    assert pipe.score(X, y) > 0.8
    assert dict(pipe.named_steps["uae"].sampling_strategy_) == {1: 30, 2: 34}


def test_clone_and_pickle(digits):
    X, y = _rows(digits, {0: 20, 1: 5})
    sampler = _sampler(sampling_strategy={1: 12})
    assert clone(sampler).get_params()["sampling_strategy"] == {1: 12}
    Xr, _ = sampler.fit_resample(X, y)
    restored = pickle.loads(pickle.dumps(sampler))
    np.testing.assert_array_equal(restored.augment_indices_, sampler.augment_indices_)
    assert restored.sampling_strategy_ == sampler.sampling_strategy_
    Xc, _ = clone(restored).fit_resample(X, y)
    np.testing.assert_array_equal(Xc, Xr)
