"""The fair comparison behind ``sk-uae augment`` and the augmentation benchmark."""

import numpy as np
import pytest

from sk_uae.attacks import MinMaxMINE
from sk_uae.datasets import load_digits_images
from sk_uae.evaluation import METHODS, compare_augmentations


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images()
    return X[:120], X[120:180], y[:120], y[120:180]


@pytest.mark.parametrize("retrain, ratio, n_passes", [
    ("scratch", 1.0, 2.0),    # epochs on the doubled rows == 2 * epochs on the originals
    ("scratch", 0.5, 1.5),
    ("continue", 1.0, 3.0),   # the first fit's epochs count too
])
def test_every_method_trains_as_many_steps(digits, retrain, ratio, n_passes):
    X_tr, X_te, y_tr, y_te = digits
    epochs = 2
    res = compare_augmentations(
        X_tr, X_te, y_tr, y_te, task="reconstruction", model="sparse", epochs=epochs,
        ratio=ratio, retrain=retrain, attack=MinMaxMINE(max_iter=2, n_mine_steps=2),
        seed=0)
    assert set(res["scores"]) == set(METHODS)
    expected = int(round(n_passes * epochs * len(X_tr)))
    assert {m: v for m, v in res["samples_seen"].items() if m != "none"} == {
        m: expected for m in METHODS if m != "none"}
    # 120 rows are one batch of 128: none's epochs make the steps, not the rows, equal
    assert len(set(res["steps"].values())) == 1
    assert all(np.isfinite(v) for v in res["scores"].values())


def test_continue_and_scratch_give_different_models(digits):
    X_tr, X_te, y_tr, y_te = digits
    kw = dict(task="reconstruction", model="sparse", epochs=2, methods=("uae",),
              attack=MinMaxMINE(max_iter=2, n_mine_steps=2), seed=0)
    a = compare_augmentations(X_tr, X_te, y_tr, y_te, retrain="scratch", **kw)
    b = compare_augmentations(X_tr, X_te, y_tr, y_te, retrain="continue", **kw)
    assert a["samples_seen"]["uae"] < b["samples_seen"]["uae"]
    assert a["scores"]["uae"] != b["scores"]["uae"]


def test_bad_retrain_is_named(digits):
    X_tr, X_te, y_tr, y_te = digits
    with pytest.raises(ValueError, match="'retrain' parameter of compare_augmentations"):
        compare_augmentations(X_tr, X_te, retrain="warm")


def test_none_gets_the_steps_not_the_rows_when_batches_are_partial():
    """398 rows in batches of 128: 20 epochs on the doubled rows are 140 steps, not 160."""
    X, _ = load_digits_images()
    res = compare_augmentations(X[:398], X[398:448], methods=("none", "duplicate"),
                                task="reconstruction", model="dense", epochs=20, seed=0)
    assert res["steps"] == {"none": 140, "duplicate": 140}
    assert res["samples_seen"]["none"] < res["samples_seen"]["duplicate"]


def test_the_augmented_methods_share_one_first_fit(monkeypatch):
    """The first model of uae, duplicate, noise and pgd is one fit: 6 fits, not 9."""
    from sk_uae.models import AutoencoderNet

    fits = []
    fit = AutoencoderNet.fit

    def counted(self, X, y=None, **kwargs):
        fits.append(len(X))
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(AutoencoderNet, "fit", counted)
    X = load_digits_images()[0]
    res = compare_augmentations(X[:200], X[200:260], task="reconstruction", model="dense",
                                epochs=2, attack=MinMaxMINE(max_iter=2, n_mine_steps=2), seed=0)
    assert set(res["scores"]) == set(METHODS)
    # one first model on the 200 rows; five final models (none on 200, four on 200 + 200 UAEs)
    assert sorted(fits) == [200, 200] + [400] * 4
