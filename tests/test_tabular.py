"""Raw mixed tables end to end: a DataFrame in, UAEs in the same schema out."""

import numpy as np
import pytest

from sk_uae import FeatureConstraints, UAEGenerator
from sk_uae.attacks import GaussianNoise, MinMaxMINE
from sk_uae.models import AutoencoderNet, DenseAutoencoder
from sk_uae.tabular import inverse_table, make_table_encoder

pd = pytest.importorskip("pandas")


def _mixed(n=150, seed=0):
    rng = np.random.RandomState(seed)
    return pd.DataFrame({
        "city": rng.choice(["Oslo", "Lima", "Pune"], n),
        "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
        "member": rng.rand(n) > 0.5,
        "age": rng.randint(18, 80, n),
        "visits": rng.poisson(3, n).astype(np.int32),
        "spend": rng.lognormal(3, 1, n),
        "score": rng.rand(n).astype(np.float32),
    })


@pytest.mark.parametrize("attack", [MinMaxMINE(eps=0.5, max_iter=6, n_mine_steps=3, n_pairs=8,
                                               pair_dim=4, mine_hidden_sizes=(8, 2)),
                                    GaussianNoise(sigma=2.0)], ids=["minmax", "noise"])
def test_a_dataframe_in_gives_a_dataframe_of_the_same_schema_out(attack):
    df = _mixed()
    enc = make_table_encoder(df).fit(df)
    Xt = enc.transform(df).astype(np.float32)
    c = FeatureConstraints.from_column_transformer(enc, df, immutable=["age"])
    gen = UAEGenerator(AutoencoderNet(DenseAutoencoder, module__hidden_units=6, max_epochs=3),
                       attack, constraints=c, random_state=0).fit(Xt)
    X_adv, info = gen.generate(Xt)
    assert info["constraints_satisfied"].all()
    out = inverse_table(enc, X_adv, df)
    assert list(out.columns) == list(df.columns)
    assert out.dtypes.to_dict() == df.dtypes.to_dict()
    assert out.index.equals(df.index)
    assert set(out["city"]) <= set(df["city"])
    assert set(out["plan"]) <= set(df["plan"].cat.categories)
    pd.testing.assert_series_equal(out["age"], df["age"])  # immutable: bit-identical
    # integer columns moved on their integer grid (noise moves them by whole units)
    changed = (out != df).mean()
    assert changed["spend"] > 0.5 and changed["score"] > 0.5
    if isinstance(attack, GaussianNoise):
        assert changed["visits"] > 0.1 and changed["city"] > 0.1
    assert np.all(out["visits"] >= 0) and out["visits"].dtype == np.int32


def test_encoder_options_and_errors():
    df = _mixed()
    enc = make_table_encoder(df, scale="standard", categorical=["visits"]).fit(df)
    names = list(enc.get_feature_names_out())
    assert sum(n.startswith("visits_") for n in names) == df["visits"].nunique()
    assert abs(enc.transform(df)[:, names.index("spend")].mean()) < 1e-9
    with pytest.raises(ValueError, match="scale"):
        make_table_encoder(df, scale="log")
    with pytest.raises(ValueError, match="does not have"):
        make_table_encoder(df, categorical=["nope"])
    with pytest.raises(TypeError, match="DataFrame"):
        make_table_encoder(df.to_numpy())


def test_integer_columns_through_a_scaler_get_their_grid():
    df = _mixed()
    enc = make_table_encoder(df).fit(df)
    Xt = enc.transform(df)
    c = FeatureConstraints.from_column_transformer(enc, df).fit(Xt)
    j = list(enc.get_feature_names_out()).index("age")
    assert c.integer_[j]
    np.testing.assert_allclose(c.integer_step_[j], 1 / (df["age"].max() - df["age"].min()))
    k = (Xt[:, j] - c.integer_origin_[j]) / c.integer_step_[j]
    np.testing.assert_allclose(k, df["age"].to_numpy(), atol=1e-9)
    assert not c.integer_[list(enc.get_feature_names_out()).index("spend")]
