"""Adversarial training through UAEAugmenter / UAESampler with a ClassifierNet."""

import numpy as np
import pytest

from conftest import fast_attack
from sk_uae import UAEAugmenter, UAESampler
from sk_uae.attacks import PGD, Duplicate
from sk_uae.models import ClassifierNet

EPS = 0.1


class RecordingNet(ClassifierNet):
    """ClassifierNet that keeps the data of its last ``fit`` (to see what it trained on)."""

    def fit(self, X, y, **fit_params):
        self.fit_X_, self.fit_y_ = np.array(X, copy=True), np.array(y, copy=True)
        return super().fit(X, y, **fit_params)


def _mlp(cls=ClassifierNet, epochs=15, seed=0):
    return cls(module__hidden_units=(64,), max_epochs=epochs, lr=1e-2, random_state=seed)


def _pgd():
    return PGD(eps=EPS, eps_step=EPS / 8, max_iter=20, eps_scale="none")


def _last_epoch_rows(net):
    return sum(batch["train_batch_size"] for batch in net.history_[-1]["batches"])


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    return X[:400], y[:400], X[1400:1600], y[1400:1600]


@pytest.fixture(scope="module")
def pgd_aug(split):
    X, y = split[:2]
    return UAEAugmenter(_mlp(RecordingNet), attack=_pgd(), random_state=0).fit(X, y)


def test_pgd_augmentation_doubles_the_set_and_copies_labels(split, pgd_aug):
    X, y = split[:2]
    n = len(X)
    final, first = pgd_aug.estimator_, pgd_aug.generator_.estimator_
    assert final is not first
    np.testing.assert_array_equal(pgd_aug.augment_indices_, np.arange(n))
    assert pgd_aug.n_train_samples_ == 2 * n
    assert _last_epoch_rows(final) == 2 * n  # what the final net really saw per epoch
    assert _last_epoch_rows(first) == n
    # the final net was fitted on X then the PGD examples, labels copied
    assert final.fit_X_.shape == (2 * n, X.shape[1])
    np.testing.assert_array_equal(final.fit_X_[:n], X)
    np.testing.assert_array_equal(final.fit_y_, np.concatenate([y, y[pgd_aug.augment_indices_]]))
    X_adv = final.fit_X_[n:]
    assert np.abs(X_adv - X).max() <= EPS + 1e-6
    assert np.abs(X_adv - X).max() >= EPS - 1e-6  # PGD moves to the box's edge
    # adversarial for the first model: "success" is exactly "misclassified by it"
    np.testing.assert_array_equal(first.predict(X_adv) != y, pgd_aug.uae_info_["success"])
    assert pgd_aug.uae_success_rate_ > 0.2


def test_predict_and_score_delegate_to_the_retrained_classifier(split, pgd_aug):
    X_te, y_te = split[2:]
    final, first = pgd_aug.estimator_, pgd_aug.generator_.estimator_
    np.testing.assert_array_equal(pgd_aug.predict(X_te), final.predict(X_te))
    np.testing.assert_allclose(pgd_aug.predict_proba(X_te), final.predict_proba(X_te))
    assert pgd_aug.score(X_te, y_te) == pytest.approx(final.score(X_te, y_te))
    assert not np.allclose(pgd_aug.predict_proba(X_te), first.predict_proba(X_te))
    assert set(pgd_aug.predict(X_te)) <= set(final.classes_)
    assert pgd_aug.score(X_te, y_te) > 0.8


def test_pgd_augmentation_resists_the_attack_it_was_trained_on(split, pgd_aug):
    """PGD examples of held-out rows against the first model barely fool the final model.

    Duplicated rows (same step budget, same rows, no perturbation) do not get
    this: accuracy 0.83 against 0.41 on this case. White-box PGD against the final
    model is another matter -- static augmentation does not reliably help
    there (see docs/results.md), so nothing is asserted about it.
    """
    X, y, X_te, y_te = split
    dup = UAEAugmenter(_mlp(), attack=Duplicate(), random_state=0).fit(X, y)
    X_te_adv = pgd_aug.generator_.generate(X_te, y_te, return_info=False)
    acc_first = np.mean(pgd_aug.generator_.estimator_.predict(X_te_adv) == y_te)
    acc_pgd = np.mean(pgd_aug.predict(X_te_adv) == y_te)
    acc_dup = np.mean(dup.predict(X_te_adv) == y_te)
    assert acc_first < 0.6
    assert acc_pgd > acc_dup + 0.15
    assert acc_pgd > 0.7


def test_sampler_with_supervised_minmax_in_imblearn_pipeline(digits):
    from imblearn.pipeline import Pipeline as ImbPipeline

    X, y = digits[0][:200], digits[1][:200]
    attack = fast_attack(eps=EPS, max_iter=10)
    sampler = UAESampler(_mlp(epochs=10), attack, ratio=0.5, random_state=0)
    Xr, yr = sampler.fit_resample(X, y)
    idx = sampler.augment_indices_
    assert Xr.shape == (300, 64) and len(idx) == 100
    np.testing.assert_array_equal(Xr[:200], X)
    np.testing.assert_array_equal(yr[200:], y[idx])
    assert np.abs(Xr[200:] - X[idx]).max() <= EPS + 1e-6
    # supervised mode: success means the attacked classifier misclassifies the example
    ok = sampler.uae_info_["success"]
    assert ok.any()
    pred = sampler.generator_.estimator_.predict(Xr[200:])
    assert np.all(pred[ok] != y[idx][ok])
    pipe = ImbPipeline([("uae", sampler), ("clf", _mlp(epochs=10))]).fit(X, y)
    assert _last_epoch_rows(pipe.named_steps["clf"]) == 300
    assert pipe.score(digits[0][1400:1600], digits[1][1400:1600]) > 0.6
