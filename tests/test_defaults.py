"""Default settings on any numeric table: ranges, scalers, feature names, deprecations."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from conftest import fast_attack
from sk_uae import UAEAugmenter, UAEGenerator, UAESampler
from sk_uae.attacks import PGD, CarliniWagnerL2, GaussianNoise, MinMaxMINE
from sk_uae.models import AutoencoderNet, ClassifierNet

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def table():
    data = load_breast_cancer()
    return (data.data[:120].astype(np.float32), data.target[:120],
            [str(n) for n in data.feature_names])


def _ae(**kw):
    return AutoencoderNet(**{**dict(module__hidden_units=4, max_epochs=2, random_state=0), **kw})


def test_minmax_scaled_float32_reaches_past_one_and_works_with_defaults(table):
    X, _, _ = table
    Xs = MinMaxScaler().fit_transform(X)
    assert Xs.dtype == np.float32 and Xs.max() > 1.0  # float rounding: 1.0000001
    aug = UAEAugmenter(_ae(), fast_attack(max_iter=2), random_state=0).fit(Xs)
    assert aug.generator_.attack_.clip_values_ == (0.0, float(Xs.max()))
    X_adv = aug.generator_.transform(Xs)
    assert X_adv.min() >= 0.0 and X_adv.max() <= Xs.max()


def test_rounding_past_an_explicit_range_is_clipped_not_refused(table):
    X, _, _ = table
    Xs = MinMaxScaler().fit_transform(X)
    gen = UAEGenerator(_ae(), fast_attack(max_iter=2, clip_values=(0.0, 1.0)),
                       random_state=0).fit(Xs)
    X_adv = gen.transform(Xs)
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    with pytest.raises(ValueError, match="outside the attack's clip_values"):
        gen.transform(Xs + 1e-3)  # beyond rounding: refused, with the way out named


@pytest.mark.parametrize("attack", [MinMaxMINE(eps=0.1, max_iter=2, n_pairs=8, pair_dim=4,
                                               mine_hidden_sizes=(8, 2)),
                                    PGD(eps=0.1, max_iter=2),
                                    GaussianNoise(eps=0.1)],
                         ids=["MinMaxMINE", "PGD", "GaussianNoise"])
def test_standardised_table_works_with_defaults(table, attack):
    X, _, _ = table
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    gen = UAEGenerator(_ae(module__output_activation="identity"), attack,
                       random_state=0).fit(Xs)
    assert gen.attack_.clip_values_ == (float(Xs.min()), float(Xs.max()))
    X_adv, info = gen.generate(Xs)
    # eps=0.1 is a tenth of each column's range (eps_scale="range")
    unit = np.ptp(Xs.astype(np.float64), axis=0)
    np.testing.assert_allclose(gen.attack_.eps_scale_, unit)
    assert np.all(np.isfinite(X_adv)) and np.all(np.abs(X_adv - Xs) <= 0.1 * unit * (1 + 1e-6))
    assert X_adv.min() >= Xs.min() and X_adv.max() <= Xs.max()
    assert info["distortion_linf"].max() > 0


def test_auto_range_is_none_for_constant_rows_and_carlini_wagner_says_so():
    X = np.ones((10, 4), np.float32)
    assert MinMaxMINE().fit(X).clip_values_ is None
    with pytest.raises(ValueError, match="CarliniWagnerL2 needs a valid input range"):
        CarliniWagnerL2().fit(X)
    with pytest.raises(ValueError, match="needs clip_values"):
        CarliniWagnerL2(clip_values=None).fit(X)


def test_attacks_must_be_fitted_before_run():
    import torch
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="call fit"):
        PGD().run(torch.zeros(2, 3), None)


# ------------------------------------------------------------------ feature names
def test_generator_keeps_the_column_names(table):
    X, _, names = table
    df = pd.DataFrame(MinMaxScaler().fit_transform(X), columns=names)
    gen = UAEGenerator(_ae(), fast_attack(max_iter=2), random_state=0).fit(df)
    assert list(gen.get_feature_names_out()) == names
    out = gen.set_output(transform="pandas").transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    np.testing.assert_array_equal(out.to_numpy(), gen.set_output(transform="default")
                                  .transform(df))


def test_generator_in_a_pandas_pipeline(table):
    X, _, names = table
    df = pd.DataFrame(X, columns=names)
    pipe = make_pipeline(MinMaxScaler(), UAEGenerator(_ae(), fast_attack(max_iter=2),
                                                      random_state=0))
    out = pipe.set_output(transform="pandas").fit_transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names


def test_augmenter_names_its_codes(table):
    X, _, names = table
    df = pd.DataFrame(MinMaxScaler().fit_transform(X), columns=names)
    aug = UAEAugmenter(_ae(), fast_attack(max_iter=2), random_state=0).fit(df)
    expected = [f"uaeaugmenter{i}" for i in range(4)]
    assert list(aug.get_feature_names_out()) == expected
    out = aug.set_output(transform="pandas").transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == expected
    assert out.shape == (len(df), 4)


def test_augmenter_around_a_classifier_has_no_feature_names(table):
    X, y, _ = table
    aug = UAEAugmenter(ClassifierNet(module__hidden_units=(4,), max_epochs=1, random_state=0),
                       PGD(eps=0.1, max_iter=2), random_state=0)
    assert not hasattr(aug, "get_feature_names_out") and not hasattr(aug, "transform")
    aug.fit(MinMaxScaler().fit_transform(X), y)
    assert not hasattr(aug, "get_feature_names_out")


def test_sampler_keeps_the_column_names(table):
    X, y, names = table
    df = pd.DataFrame(MinMaxScaler().fit_transform(X), columns=names)
    Xr, yr = UAESampler(_ae(), fast_attack(max_iter=2), ratio=0.5,
                        random_state=0).fit_resample(df, y)
    assert isinstance(Xr, pd.DataFrame) and list(Xr.columns) == names
    assert len(Xr) == len(df) + 60 and len(yr) == len(Xr)


def test_a_grid_over_eps_on_a_standardised_table_moves_the_scores(table, tmp_path):
    """With the plain step of 0.01 every candidate scored the same to 7 digits."""
    from sklearn.model_selection import GridSearchCV

    X, _, _ = table
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    attack = MinMaxMINE(max_iter=10, n_pairs=8, pair_dim=4, mine_hidden_sizes=(8, 2))
    aug = UAEAugmenter(_ae(module__hidden_units=8, max_epochs=30, lr=1e-2), attack, random_state=0,
                       memory=str(tmp_path))
    grid = GridSearchCV(aug, {"attack__eps": [0.05, 0.3]}, cv=2).fit(Xs)
    low, high = grid.cv_results_["mean_test_score"]
    assert abs(high - low) > 1e-3 * abs(low)
    assert max(low, high) > -1.0  # the model beats the column means
    # the examples use the box the grid sets
    linf = [UAEAugmenter(_ae(module__hidden_units=8, max_epochs=30, lr=1e-2),
                         attack.set_params(eps=eps), random_state=0, memory=str(tmp_path))
            .fit(Xs).uae_info_["distortion_linf_units"].mean() for eps in (0.05, 0.3)]
    assert linf[1] > 2 * linf[0] and linf[0] > 0.01
