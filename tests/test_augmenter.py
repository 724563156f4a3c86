"""UAEAugmenter and UAESampler: augmentation, retraining, pipelines, search."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from conftest import fast_attack
from sk_uae import UAEAugmenter, UAESampler
from sk_uae.models import AutoencoderNet


def _trained_rows(net):
    return sum(batch["train_batch_size"] for batch in net.history_[-1]["batches"])


@pytest.mark.parametrize("ratio, factor", [(1.0, 2.0), (0.5, 1.5), (0.0, 1.0)])
def test_ratio_sets_the_training_set_size(digits, ratio, factor):
    X = digits[0][:100]
    aug = UAEAugmenter(AutoencoderNet(max_epochs=1), fast_attack(max_iter=2), ratio=ratio,
                       random_state=0).fit(X)
    assert aug.n_train_samples_ == int(factor * 100)
    assert _trained_rows(aug.estimator_) == int(factor * 100)  # what the model really saw
    assert len(aug.augment_indices_) == len(aug.uae_info_.get("success", [])) == int(ratio * 100)
    assert 0 <= aug.uae_success_rate_ <= 1


def test_retraining_changes_the_model(digits):
    X = digits[0][:200]
    aug = UAEAugmenter(AutoencoderNet(max_epochs=3), fast_attack(), random_state=0).fit(X)
    first, final = aug.generator_.estimator_, aug.estimator_
    assert final is not first
    assert not np.allclose(first.predict(X), final.predict(X))
    np.testing.assert_allclose(aug.predict(X), final.predict(X))
    assert aug.score(X) == pytest.approx(final.score(X))

    cont = UAEAugmenter(AutoencoderNet(max_epochs=3), fast_attack(), retrain="continue",
                        random_state=0).fit(X)
    assert cont.estimator_ is cont.generator_.estimator_
    assert len(cont.estimator_.history_) == 6  # 3 epochs on X, 3 more on the union


def test_repeatable_with_random_state(digits):
    X = digits[0][:80]
    make = lambda: UAEAugmenter(AutoencoderNet(max_epochs=2), fast_attack(max_iter=2),  # noqa
                                ratio=0.5, random_state=3).fit(X)
    a, b = make(), make()
    np.testing.assert_array_equal(a.augment_indices_, b.augment_indices_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_bad_parameters(digits):
    X = digits[0][:20]
    with pytest.raises(ValueError, match="ratio"):
        UAEAugmenter(ratio=1.5).fit(X)
    with pytest.raises(ValueError, match="retrain"):
        UAEAugmenter(retrain="warm").fit(X)
    with pytest.raises(ValueError, match="partial_fit"):
        UAEAugmenter(LogisticRegression(), retrain="continue").fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="inconsistent"):
        UAEAugmenter().fit(X, np.zeros(3))


def test_pipeline_and_grid_search_end_to_end(digits):
    X, y = digits[0][:150], digits[1][:150]
    pipe = Pipeline([
        ("uae", UAEAugmenter(AutoencoderNet(module__hidden_units=8, max_epochs=2),
                             fast_attack(max_iter=2), random_state=0)),
        ("clf", LogisticRegression(max_iter=200)),
    ])
    grid = {"uae__attack__eps": [0.05, 0.2], "uae__attack__max_iter": [1, 2],
            "uae__ratio": [0.5, 1.0], "uae__estimator__module__hidden_units": [8]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 8
    assert search.best_score_ > 0.3  # 10 classes: well above chance on 8 codes
    assert search.predict(X).shape == (150,)


def test_sampler_in_imblearn_pipeline(digits):
    from imblearn.pipeline import Pipeline as ImbPipeline

    X, y = digits[0][:120], digits[1][:120]
    sampler = UAESampler(AutoencoderNet(max_epochs=1), fast_attack(max_iter=2), ratio=0.5,
                         random_state=0)
    Xr, yr = sampler.fit_resample(X, y)
    assert Xr.shape == (180, 64)
    np.testing.assert_array_equal(Xr[:120], X)
    np.testing.assert_array_equal(yr[120:], y[sampler.augment_indices_])
    assert np.abs(Xr[120:] - X[sampler.augment_indices_]).max() <= 0.3 + 1e-6
    assert not hasattr(sampler, "transform")
    pipe = ImbPipeline([("uae", sampler), ("clf", LogisticRegression(max_iter=300))]).fit(X, y)
    assert pipe.score(X, y) > 0.5


def _weights(net):
    return np.concatenate([p.detach().numpy().ravel() for p in net.module_.parameters()])


def test_rounds_repeat_attack_and_retrain(digits):
    """rounds=1 is fit, attack, retrain; round 2 attacks round 1's model and retrains.

    Reproduced step by step with the public pieces: a generator around the
    model (round 1) or around round 1's final model, frozen (round 2), and a
    fresh fit on the rows plus that round's examples.
    """
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    from sk_uae import UAEGenerator
    from sk_uae.attacks import PGD

    X = digits[0][:120]
    ae = AutoencoderNet(module__hidden_units=8, max_epochs=2, random_state=0)
    attack = PGD(eps=0.1, eps_step=0.05, max_iter=3)
    one = UAEAugmenter(ae, attack, random_state=0).fit(X)
    two = UAEAugmenter(ae, attack, rounds=2, random_state=0).fit(X)

    first = UAEGenerator(ae, attack, random_state=0).fit(X)
    final1 = clone(ae).fit(np.vstack([X, first.transform(X)]))
    np.testing.assert_array_equal(_weights(one.estimator_), _weights(final1))
    np.testing.assert_array_equal(_weights(two.generator_.estimator_), _weights(final1))
    second = UAEGenerator(FrozenEstimator(final1), attack, random_state=2).fit(X)
    final2 = clone(ae).fit(np.vstack([X, second.transform(X)]))
    np.testing.assert_array_equal(_weights(two.estimator_), _weights(final2))
    assert len(two.round_success_rates_) == 2 and one.round_success_rates_ == [
        one.uae_success_rate_]
    assert two.n_train_samples_ == 240

    cont = UAEAugmenter(ae, attack, rounds=3, retrain="continue", random_state=0).fit(X)
    assert len(cont.estimator_.history) == 4 * 2  # first fit, then one partial_fit a round
    assert cont.generator_.estimator_ is cont.estimator_
    with pytest.raises(ValueError, match="rounds"):
        UAEAugmenter(ae, attack, rounds=0).fit(X)
