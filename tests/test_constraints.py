"""Feature constraints: every attack keeps them, with any batch layout; the helpers around them."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from sk_uae import FeatureConstraints, UAEAugmenter, UAEGenerator, UAESampler
from sk_uae.attacks import PGD, CarliniWagnerL2, Duplicate, GaussianNoise, MinMaxMINE
from sk_uae.metrics import constraint_satisfaction
from sk_uae.models import AutoencoderNet, ClassifierNet, DenseAutoencoder, MLPClassifierModule

N = 120
# columns: 0-2 real, 3-4 integer counts, 5-7 a one-hot category, 8-9 real
IMM, INT, GROUP, LOW, UP, INC, DEC = [0], [3, 4], [5, 6, 7], 1, 2, 8, 9


def _table(seed=0):
    rng = np.random.RandomState(seed)
    X = np.c_[rng.rand(N, 3), rng.randint(0, 6, (N, 2)), np.eye(3)[rng.randint(0, 3, N)],
              rng.rand(N, 2)].astype(np.float32)
    X[:, LOW] = np.maximum(X[:, LOW], 0.25)
    X[:, UP] = np.minimum(X[:, UP], 0.75)
    y = (X[:, 1] + X[:, 8] > 1).astype(int)
    return X, y


def _constraints():
    return FeatureConstraints(immutable=IMM, integer=INT, one_hot=[GROUP], lower={LOW: 0.25},
                              upper={UP: 0.75}, increase_only=[INC], decrease_only=[DEC])


def _ae():
    return AutoencoderNet(DenseAutoencoder, module__hidden_units=6,
                          module__output_activation="identity", max_epochs=3, random_state=0)


def _clf():
    return ClassifierNet(MLPClassifierModule, module__hidden_units=(16,), max_epochs=5,
                         lr=1e-2, random_state=0)


def _small_minmax(**kw):
    return MinMaxMINE(max_iter=6, n_mine_steps=3, n_pairs=8, pair_dim=4,
                      mine_hidden_sizes=(8, 2), **kw)


# every attack with per-column units of 3 ranges: wide enough that integer and
# one-hot columns can change within the budget, so the repair has work to do
ATTACKS = {
    "minmax": (_ae, lambda: _small_minmax(eps=3.0)),
    "minmax-supervised": (_clf, lambda: _small_minmax(eps=3.0)),
    "pgd-linf": (_ae, lambda: PGD(eps=3.0, eps_step=0.5, max_iter=6, random_init=True)),
    "pgd-l2": (_clf, lambda: PGD(eps=3.0, eps_step=0.5, max_iter=6, norm="l2")),
    "cw": (_clf, lambda: CarliniWagnerL2(binary_search_steps=2, max_iter=10, lr=0.1)),
    "noise": (_ae, lambda: GaussianNoise(sigma=1.0)),
    "noise-eps": (_ae, lambda: GaussianNoise(eps=3.0, norm="l2")),
    "duplicate": (_ae, Duplicate),
}


def _check_kept(X_adv, X):
    """Each constraint, checked directly (not through the library's own check)."""
    np.testing.assert_array_equal(X_adv[:, IMM].view(np.uint32), X[:, IMM].view(np.uint32))
    np.testing.assert_array_equal(X_adv[:, INT], np.round(X_adv[:, INT]))
    group = X_adv[:, GROUP]
    assert set(np.unique(group)) <= {0.0, 1.0} and np.all(group.sum(1) == 1)
    assert X_adv[:, LOW].min() >= 0.25 and X_adv[:, UP].max() <= 0.75
    assert np.all(X_adv[:, INC] >= X[:, INC]) and np.all(X_adv[:, DEC] <= X[:, DEC])


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_keeps_every_constraint(name):
    model, attack = ATTACKS[name]
    X, y = _table()
    gen = UAEGenerator(model(), attack(), constraints=_constraints(), random_state=0).fit(X, y)
    X_adv, info = gen.generate(X, y if model is _clf else None)
    _check_kept(X_adv, X)
    assert info["constraints_satisfied"].all()
    assert constraint_satisfaction(X_adv, X, gen.constraints_) == 1.0
    if name != "duplicate":
        assert np.abs(X_adv - X).max() > 0  # the constraints leave the attack room to move


def test_without_constraints_the_attacks_break_them():
    """The check above can fail: unconstrained examples leave the set."""
    X, _ = _table()
    X_adv = UAEGenerator(_ae(), PGD(eps=3.0, eps_step=0.5, max_iter=6, random_init=True),
                         random_state=0).fit(X).transform(X)
    assert constraint_satisfaction(X_adv, X, _constraints()) < 0.1


def test_repair_changes_categories_and_integers_within_the_budget():
    X, _ = _table()
    gen = UAEGenerator(_ae(), GaussianNoise(sigma=1.0), constraints=_constraints(),
                       random_state=0).fit(X)
    X_adv = gen.transform(X)
    assert (X_adv[:, GROUP] != X[:, GROUP]).any(1).mean() > 0.2
    assert (X_adv[:, INT] != X[:, INT]).any(1).mean() > 0.2


def test_one_hot_keeps_the_clean_category_when_the_budget_is_too_small():
    X, _ = _table()
    gen = UAEGenerator(_ae(), PGD(eps=0.3, eps_step=0.1, max_iter=6, random_init=True),
                       constraints=_constraints(), random_state=0).fit(X)
    X_adv = gen.transform(X)
    np.testing.assert_array_equal(X_adv[:, GROUP], X[:, GROUP])  # a change costs 1 > 0.3
    assert np.abs(X_adv[:, [1, 2, 8, 9]] - X[:, [1, 2, 8, 9]]).max() > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_constrained_results_do_not_depend_on_batches_or_workers(name):
    model, attack = ATTACKS[name]
    X, y = _table()
    gen = UAEGenerator(model(), attack(), constraints=_constraints(), random_state=0,
                       precision="float64", batch_size=32).fit(X, y)
    y = y if model is _clf else None
    ref, info = gen.generate(X, y)
    np.testing.assert_array_equal(gen.set_params(batch_size=50).generate(X, y)[0], ref)
    X_jobs, info_jobs = gen.set_params(batch_size=32, n_jobs=2).generate(X, y)
    np.testing.assert_array_equal(X_jobs, ref)
    assert info_jobs["constraints_satisfied"].all() and info["constraints_satisfied"].all()
    _check_kept(ref, X)


def test_augmenter_and_sampler_take_constraints_by_name():
    pd = pytest.importorskip("pandas")
    X, y = _table()
    names = [f"c{j}" for j in range(X.shape[1])]
    df = pd.DataFrame(X, columns=names)
    c = FeatureConstraints(immutable=["c0"], integer=["c3", "c4"], one_hot=[["c5", "c6", "c7"]])
    aug = UAEAugmenter(_ae(), _small_minmax(eps=3.0), constraints=c, random_state=0).fit(df)
    assert aug.uae_info_["constraints_satisfied"].all()
    Xr, yr = UAESampler(_ae(), GaussianNoise(sigma=1.0), constraints=c, ratio=0.5,
                        random_state=0).fit_resample(df, y)
    new = np.asarray(Xr)[N:]
    assert len(new) == N // 2
    assert np.all(new[:, 3:5] == np.round(new[:, 3:5])) and np.all(new[:, 5:8].sum(1) == 1)


def test_rows_that_break_their_own_constraints_are_refused_clearly():
    X, _ = _table()
    bad = X.copy()
    bad[0, 3] = 2.5
    with pytest.raises(ValueError, match="column 3 .not an integer"):
        UAEGenerator(_ae(), Duplicate(), constraints=_constraints()).fit(bad)
    gen = UAEGenerator(_ae(), Duplicate(), constraints=_constraints(), random_state=0).fit(X)
    bad = X.copy()
    bad[1, 5:8] = [1, 1, 0]
    with pytest.raises(ValueError, match="one-hot group"):
        gen.transform(bad)
    # float rounding is good input
    X2 = X.copy()
    X2[:, 3] += 1e-7
    gen.transform(X2)


@pytest.mark.parametrize("kw, match", [
    (dict(immutable=[12]), "out of range"),
    (dict(immutable=["age"]), "no column names"),
    (dict(one_hot=[[5]]), "two or more"),
    (dict(one_hot=[[5, 6], [6, 7]]), "in two groups"),
    (dict(lower={1: 0.9}, upper={1: 0.1}), "lower > upper"),
    (dict(lower=[0.0, 1.0]), "one value per column"),
    (dict(integer=[1.5]), "positions"),
])
def test_bad_constraints_are_refused_with_the_argument_named(kw, match):
    X, _ = _table()
    with pytest.raises(ValueError, match=match):
        FeatureConstraints(**kw).fit(X)


def test_from_column_transformer_reads_encoders_and_scalers():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    df = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], 50),
                       "size": rng.choice(["S", "M", "L", "XL"], 50),
                       "age": rng.randint(18, 90, 50), "income": rng.lognormal(10, 1, 50),
                       "score": rng.rand(50)})
    ct = ColumnTransformer([
        ("cat", OneHotEncoder(sparse_output=False), ["colour"]),
        ("ord", OrdinalEncoder(), ["size"]),
        ("mm", MinMaxScaler(), ["score"]),
        ("std", StandardScaler(), ["age", "income"]),
    ]).fit(df)
    c = FeatureConstraints.from_column_transformer(ct, df, immutable=["age"])
    Xt = ct.transform(df)
    c.fit(Xt)
    assert [g.tolist() for g in c.one_hot_groups_] == [[0, 1, 2]]
    # the ordinal codes, and age: an integer column through an affine scaler
    assert c.integer_.tolist() == [False, False, False, True, False, True, False]
    np.testing.assert_allclose(c.integer_step_[5], 1 / ct.named_transformers_["std"].scale_[0])
    assert (c.lower_[3], c.upper_[3]) == (0.0, 3.0)
    assert (c.lower_[4], c.upper_[4]) == (0.0, 1.0)
    np.testing.assert_allclose(c.lower_[5:], Xt[:, 5:].min(0))
    np.testing.assert_allclose(c.upper_[5:], Xt[:, 5:].max(0))
    assert c.immutable_.tolist() == [False] * 5 + [True, False]
    # without X the standardised columns get no bounds; the min-max one keeps its range
    c2 = FeatureConstraints.from_column_transformer(ct).fit(Xt)
    assert np.isinf(c2.lower_[5:]).all() and c2.upper_[4] == 1.0


def test_from_column_transformer_refuses_dropped_categories():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"c": ["a", "b", "c", "a"]})
    ct = ColumnTransformer([("cat", OneHotEncoder(drop="first", sparse_output=False),
                             ["c"])]).fit(df)
    with pytest.raises(ValueError, match="drop"):
        FeatureConstraints.from_column_transformer(ct)


def test_constraints_clone_pickle_and_metric_fit_on_the_fly():
    X, _ = _table()
    c = _constraints()
    assert clone(c).get_params() == c.get_params()
    fitted = pickle.loads(pickle.dumps(c.fit(X)))
    assert fitted.integer_[INT].all()
    X_adv = X.copy()
    X_adv[:10, 0] += 0.1  # immutable column moved in 10 rows
    assert constraint_satisfaction(X_adv, X, _constraints()) == pytest.approx(1 - 10 / N)
    assert constraint_satisfaction(X_adv, X, _constraints(), reduce=None)[:10].sum() == 0


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_constraints_that_bind_nowhere_change_nothing(name):
    model, attack = ATTACKS[name]
    X, y = _table()
    loose = FeatureConstraints(lower={1: -10.0}, increase_only=[], immutable=[])
    runs = [UAEGenerator(model(), attack(), constraints=c, random_state=0).fit(X, y)
            .transform(X) for c in (None, FeatureConstraints(), loose)]
    np.testing.assert_array_equal(runs[1], runs[0])
    np.testing.assert_array_equal(runs[2], runs[0])
