"""Robustness curves over a budget grid, their scorer and their figure."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from conftest import fast_attack
from sk_uae import FeatureConstraints, UAEAugmenter
from sk_uae.attacks import PGD, CarliniWagnerL2, GaussianNoise
from sk_uae.metrics import (make_robustness_scorer, plot_robustness_curve, robust_accuracy,
                            robustness_curve)
from sk_uae.models import ClassifierNet, ConcreteAutoencoderNet, ContrastiveNet

GRID = (0.0, 0.05, 0.1, 0.2, 0.3)
PGD_EVAL = PGD(eps=0.1, eps_step=0.025, max_iter=10)


@pytest.fixture(scope="module")
def held_out(digits):
    X, y = digits
    return X[1400:1560], y[1400:1560]


@pytest.fixture(scope="module")
def small_contrastive(digits):
    X, _ = digits
    return ContrastiveNet(module__hidden_units=(32,), max_epochs=8, n_negatives=64,
                          random_state=0).fit(X[:500])


def _non_decreasing(values):
    return bool(np.all(np.diff(np.asarray(values)) >= -1e-9))


def test_autoencoder_curve_grows_with_the_budget(small_ae, held_out):
    X, _ = held_out
    curve = robustness_curve(small_ae, X, attack=PGD_EVAL, eps=GRID,
                             metrics=["reconstruction_error"])
    assert list(curve.columns) == ["eps", "reconstruction_error", "seconds"]
    assert curve["eps"].tolist() == list(GRID)
    assert curve.attrs == {"kind": "autoencoder",
                           "greater_is_better": {"reconstruction_error": False}}
    error = curve["reconstruction_error"]
    assert error.iloc[0] == pytest.approx(-small_ae.score(X), rel=1e-6)  # budget 0: clean
    assert _non_decreasing(error) and error.iloc[-1] > 1.1 * error.iloc[0]


def test_constraints_reach_every_attack_of_the_curve(small_ae, held_out):
    """Fixed columns cannot move: all fixed, the attacked error is the clean one."""
    X, _ = held_out
    kw = dict(attack=PGD_EVAL, eps=(0.0, 0.2), metrics=["reconstruction_error"])
    free = robustness_curve(small_ae, X, **kw)["reconstruction_error"]
    half = robustness_curve(small_ae, X, constraints=FeatureConstraints(immutable=list(range(32))),
                            **kw)["reconstruction_error"]
    fixed = robustness_curve(small_ae, X, constraints=FeatureConstraints(
        immutable=list(range(X.shape[1]))), **kw)["reconstruction_error"]
    assert free.iloc[1] > half.iloc[1] > half.iloc[0] == fixed.iloc[0] == free.iloc[0]
    assert fixed.iloc[1] == fixed.iloc[0]
    with pytest.raises(TypeError, match="constraints must be a FeatureConstraints"):
        robustness_curve(small_ae, X, constraints={"immutable": [0]}, **kw)


def test_classifier_curve_falls_with_the_budget(small_clf, held_out):
    X, y = held_out
    curve = robustness_curve(small_clf, X, y, eps=GRID)
    assert curve.attrs["kind"] == "classifier" and list(curve.columns)[1] == "accuracy"
    acc = curve["accuracy"]
    assert acc.iloc[0] == pytest.approx(small_clf.score(X, y))
    assert _non_decreasing(-acc) and acc.iloc[-1] < 0.2
    # one budget of the curve is robust_accuracy with the same attack and seed
    attack = PGD(eps=0.1, eps_step=0.025, max_iter=10)
    assert acc.iloc[2] == pytest.approx(robust_accuracy(small_clf, X, y, attack))


def test_encoder_curves_shift_the_codes_more_with_the_budget(small_contrastive, held_out):
    X, y = held_out
    curve = robustness_curve(small_contrastive, X, y, eps=(0.0, 0.1, 0.3))
    assert curve.attrs["kind"] == "encoder"
    assert list(curve.columns) == ["eps", "shift_cosine", "shift_l2", "probe_accuracy",
                                   "seconds"]
    assert curve["shift_l2"].iloc[0] == 0 and curve["shift_cosine"].iloc[0] == 0
    assert _non_decreasing(curve["shift_l2"]) and _non_decreasing(curve["shift_cosine"])
    assert curve["shift_l2"].iloc[-1] > 0
    assert _non_decreasing(-curve["probe_accuracy"])
    # without labels: no probe
    assert "probe_accuracy" not in robustness_curve(small_contrastive, X, eps=(0.0,)).columns


def test_the_probe_is_cross_fitted(small_contrastive, held_out):
    """Budget 0 gives the probe's cross-validated accuracy, by folds of the rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = held_out
    curve = robustness_curve(small_contrastive, X, y, eps=(0.0,), metrics=["probe_accuracy"],
                             random_state=3)
    codes = small_contrastive.transform(X).astype(np.float64)
    right = 0
    for train, test in StratifiedKFold(5, shuffle=True, random_state=3).split(codes, y):
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        right += np.sum(probe.fit(codes[train], y[train]).predict(codes[test]) == y[test])
    assert curve["probe_accuracy"].iloc[0] == pytest.approx(right / len(y))


def test_concrete_selector_is_an_encoder(digits, held_out):
    X, y = held_out
    net = ConcreteAutoencoderNet(module__n_selected=8, max_epochs=3, random_state=0).fit(
        digits[0][:300])
    curve = robustness_curve(net, X, eps=(0.0, 0.2))
    assert curve.attrs["kind"] == "encoder" and curve["shift_l2"].iloc[1] > 0


def test_results_do_not_depend_on_batch_size(small_ae, held_out):
    X, _ = held_out
    kw = dict(attack=PGD_EVAL, uae_attack=fast_attack(max_iter=3), eps=(0.0, 0.2))
    a = robustness_curve(small_ae, X[:40], batch_size=40, **kw)
    b = robustness_curve(small_ae, X[:40], batch_size=7, **kw)
    assert a["uae_success_rate"].isna().iloc[0]  # no UAE without a budget
    np.testing.assert_allclose(a.drop(columns="seconds"), b.drop(columns="seconds"),
                               rtol=1e-5, atol=1e-7)


def test_step_sizes_follow_the_budget(small_clf, held_out, monkeypatch):
    """At budget e the attack given with (eps, eps_step) runs with (e, eps_step * e / eps)."""
    X, y = held_out
    seen = []
    perturb = PGD.perturb

    def recording(self, *args, **kw):
        seen.append((self.eps, self.eps_step))
        return perturb(self, *args, **kw)

    monkeypatch.setattr(PGD, "perturb", recording)
    robustness_curve(small_clf, X[:20], y[:20], attack=PGD(eps=0.4, eps_step=0.1),
                     eps=(0.0, 0.2, 0.4))
    assert seen == [(0.2, pytest.approx(0.05)), (0.4, pytest.approx(0.1))]  # none at 0


def test_a_meta_estimator_is_attacked_through_its_model(small_ae, digits, held_out):
    X, _ = held_out
    aug = UAEAugmenter(ClassifierNet(max_epochs=2, random_state=0), PGD(eps=0.1, max_iter=2),
                       random_state=0).fit(digits[0][:200], digits[1][:200])
    curve = robustness_curve(aug, X, held_out[1], eps=(0.0, 0.1))
    assert curve.attrs["kind"] == "classifier"
    assert curve["accuracy"].iloc[0] == pytest.approx(aug.score(X, held_out[1]))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(metrics=["accuracy"]), ValueError, "need the labels"),
    (dict(metrics=["bogus"]), ValueError, "distinct measures"),
    (dict(metrics="all"), ValueError, "'auto' or a list"),
    (dict(kind="regressor"), ValueError, "kind='regressor'"),
    (dict(eps=(0.1, -0.1)), ValueError, "non-negative"),
    (dict(attack=CarliniWagnerL2()), ValueError, "has none"),
    (dict(attack=PGD(targeted=True)), ValueError, "untargeted"),
])
def test_bad_arguments(small_ae, held_out, kwargs, error, match):
    with pytest.raises(error, match=match):
        robustness_curve(small_ae, held_out[0][:10], **{"metrics": ["reconstruction_error"],
                                                        **kwargs})


def test_a_model_without_a_torch_module_is_refused(held_out):
    from sklearn.decomposition import PCA

    X, _ = held_out
    with pytest.raises(TypeError, match="robustness_curve attacks model itself"):
        robustness_curve(PCA(2).fit(X), X)


def test_scorer_signs_and_grid_search(digits, small_ae, held_out):
    X, y = held_out
    ae_score = make_robustness_scorer(0.1, attack=PGD_EVAL)(small_ae, X)
    curve = robustness_curve(small_ae, X, attack=PGD_EVAL, eps=(0.1,),
                             metrics=["reconstruction_error"])
    assert ae_score == pytest.approx(-curve["reconstruction_error"].iloc[0])  # lower is better
    Xtr, ytr = digits[0][:300], digits[1][:300]
    search = GridSearchCV(ClassifierNet(module__hidden_units=(16,), lr=1e-2, random_state=0),
                          {"max_epochs": [1, 6]}, cv=2,
                          scoring={"robust": make_robustness_scorer(0.05), "clean": "accuracy"},
                          refit="robust").fit(Xtr, ytr)
    robust = search.cv_results_["mean_test_robust"]
    assert np.all((0 <= robust) & (robust <= 1))
    assert np.all(robust <= search.cv_results_["mean_test_clean"] + 1e-9)
    assert search.best_params_ == {"max_epochs": 6}
    with pytest.raises(TypeError, match="unexpected arguments"):
        make_robustness_scorer(0.1, bogus=1)
    with pytest.raises(ValueError, match="metric="):
        make_robustness_scorer(0.1, metric="mse")


def test_scorer_picks_the_probe_for_an_encoder_with_labels(small_contrastive, held_out):
    X, y = held_out
    scorer = make_robustness_scorer(0.1, attack=GaussianNoise(eps=0.1))
    with_labels, without = scorer(small_contrastive, X, y), scorer(small_contrastive, X)
    assert 0 < with_labels <= 1 and without < 0  # probe accuracy, negated shift


def test_plot_draws_each_measure(small_clf, held_out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = robustness_curve(small_clf, *held_out, eps=(0.0, 0.1))
    ax = plot_robustness_curve(curve, label="none")
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), [0.0, 0.1])
    np.testing.assert_array_equal(line.get_ydata(), curve["accuracy"])
    assert "higher is more robust" in ax.get_ylabel()
    assert ax.get_ylim()[0] == 0  # the axis starts at zero
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match="not a measure"):
        plot_robustness_curve(curve, "seconds", ax=ax)
    plt.close("all")
