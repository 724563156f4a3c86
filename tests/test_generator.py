"""UAEGenerator as a scikit-learn transformer."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from conftest import fast_attack
from sk_uae import UAEGenerator
from sk_uae.models import AutoencoderNet, DenseAutoencoder


def test_issue_example_runs_as_written(digits):
    X = digits[0][:400]  # float32 in [0, 1], shape (n, d)
    from sk_uae import UAEGenerator
    from sk_uae.attacks import MinMaxMINE
    from sk_uae.models import AutoencoderNet, SparseAutoencoder
    ae = AutoencoderNet(SparseAutoencoder, module__hidden_units=64, max_epochs=30, lr=1e-2)
    gen = UAEGenerator(ae, attack=MinMaxMINE(eps=0.3, max_iter=40), random_state=0).fit(X)
    X_adv, info = gen.generate(X[:100], return_info=True)

    assert X_adv.shape == (100, 64) and X_adv.dtype == np.float32
    assert set(info) >= {"success", "mi", "distortion_linf"}
    assert all(v.shape == (100,) for v in info.values())
    assert info["success"].dtype == bool
    assert 0 < info["success"].mean() <= 1
    assert np.all(info["distortion_linf"] <= 0.3 + 1e-6)
    assert gen.estimator_ is not ae and not hasattr(ae, "module_")  # a clone was fitted


def test_prefit_uses_the_given_model(small_ae, digits):
    X = digits[0][:32]
    gen = UAEGenerator(small_ae, attack=fast_attack(), prefit=True).fit(X)
    assert gen.estimator_ is small_ae
    with pytest.raises(NotFittedError):
        UAEGenerator(AutoencoderNet(), prefit=True).fit(X)


def test_score_is_success_rate(small_ae, digits):
    X = digits[0][:32]
    gen = UAEGenerator(small_ae, attack=fast_attack(), prefit=True, random_state=0).fit(X)
    _, info = gen.generate(X)
    assert gen.score(X) == pytest.approx(info["success"].mean())


def test_transform_before_fit_and_bad_input(small_ae, digits):
    X = digits[0][:8]
    gen = UAEGenerator(small_ae, attack=fast_attack(), prefit=True)
    with pytest.raises(NotFittedError):
        gen.transform(X)
    gen.fit(X)
    with pytest.raises(ValueError, match="features"):
        gen.transform(X[:, :10])
    with pytest.raises(ValueError, match=r"outside the attack's clip_values=\(0.0, 1.0\)"):
        UAEGenerator(small_ae, attack=fast_attack(clip_values=(0.0, 1.0)),
                     prefit=True).fit(X).transform(X * 3)
    with pytest.raises(ValueError, match="NaN|infinity"):
        gen.transform(np.where(X > 0.5, np.nan, X))
    with pytest.raises(ValueError, match="rows"):
        gen.generate(X, y=np.zeros(3))
    with pytest.raises(ValueError, match="device"):
        UAEGenerator(small_ae, prefit=True, device="tpu").fit(X)
    with pytest.raises(ValueError, match="batch_size"):
        UAEGenerator(small_ae, prefit=True, batch_size=0).fit(X)


def test_unbounded_data_with_clip_off(rng):
    X = rng.randn(40, 6).astype(np.float32) * 3
    ae = AutoencoderNet(DenseAutoencoder, module__hidden_units=3,
                        module__output_activation="identity", max_epochs=5, random_state=0)
    gen = UAEGenerator(ae, attack=fast_attack(clip_values=None, eps=0.5), random_state=0).fit(X)
    X_adv = gen.transform(X)
    assert np.abs(X_adv - X).max() <= 0.5 + 1e-6
    assert X_adv.min() < 0  # not clipped to [0, 1]


def test_clone_pickle_and_grid_search_reach_attack_params(digits):
    X = digits[0][:120]
    gen = UAEGenerator(AutoencoderNet(module__hidden_units=8, max_epochs=2),
                       attack=fast_attack(max_iter=2), random_state=0)
    params = gen.get_params()
    assert params["attack__eps"] == 0.3 and params["estimator__max_epochs"] == 2
    cloned = clone(gen).set_params(attack__eps=0.05)
    assert cloned.attack.eps == 0.05 and gen.attack.eps == 0.3

    fitted = clone(gen).fit(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X[:10]), fitted.transform(X[:10]))

    search = GridSearchCV(gen, {"attack__eps": [0.05, 0.2], "attack__max_iter": [1, 2]}, cv=2)
    search.fit(X)
    assert set(search.best_params_) == {"attack__eps", "attack__max_iter"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_works_in_a_pipeline(digits):
    from sklearn.preprocessing import FunctionTransformer

    X = digits[0][:60]
    pipe = make_pipeline(FunctionTransformer(lambda z: z),
                         UAEGenerator(AutoencoderNet(max_epochs=1), fast_attack(max_iter=2),
                                      random_state=0))
    assert pipe.fit_transform(X).shape == X.shape


def test_verbose_shows_progress(small_ae, digits, capsys):
    X = digits[0][:20]
    UAEGenerator(small_ae, fast_attack(max_iter=1), prefit=True, batch_size=8,
                 verbose=1).fit(X).transform(X)
    assert "UAE" in capsys.readouterr().err


def test_verbose_2_logs_the_minmax_loop(small_ae, digits, caplog):
    import logging

    X = digits[0][:10]
    with caplog.at_level(logging.INFO, logger="sk_uae"):
        UAEGenerator(small_ae, fast_attack(max_iter=3), prefit=True, verbose=2).fit(X).transform(X)
    lines = [r.getMessage() for r in caplog.records if r.name == "sk_uae"]
    assert len(lines) == 4  # iterations 0..3 of one batch
    assert "iteration 3" in lines[-1] and "mean c" in lines[-1] and "mean MI" in lines[-1]


def test_frozen_estimator_survives_clone_and_grid_search(small_ae, digits):
    from sklearn.frozen import FrozenEstimator

    X = digits[0][:120]
    before = {k: v.clone() for k, v in small_ae.module_.state_dict().items()}
    gen = UAEGenerator(FrozenEstimator(small_ae), fast_attack(max_iter=2), random_state=0)
    assert clone(gen).fit(X).estimator_ is small_ae
    search = GridSearchCV(gen, {"attack__eps": [0.05, 0.2]}, cv=2).fit(X)
    assert search.best_estimator_.estimator_ is small_ae
    after = small_ae.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the frozen model was refitted"


def test_prefit_after_clone_names_the_way_out(small_ae, digits):
    gen = UAEGenerator(small_ae, fast_attack(max_iter=2), prefit=True)
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        clone(gen).fit(digits[0][:20])
