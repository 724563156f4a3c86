"""Supervised MinMax MINE: objective choice, goal, best iterate, labels, search over c."""

import numpy as np
import pytest
import torch

from conftest import unit_rows
from sk_uae import UAEGenerator
from sk_uae.attacks import MarginObjective, MinMaxMINE, ReconstructionObjective, resolve_objective

FAST = dict(eps=0.2, max_iter=40, lr=0.05, n_pairs=16, pair_dim=8, mine_hidden_sizes=(16, 4))


def _gen(model, attack, random_state=0, batch_size=64):
    return UAEGenerator(model, attack=attack, prefit=True, batch_size=batch_size,
                        random_state=random_state).fit(unit_rows(64))


def test_objective_follows_the_estimator_and_can_be_forced(small_clf, small_ae):
    assert isinstance(resolve_objective(small_clf), MarginObjective)
    assert isinstance(resolve_objective(small_ae), ReconstructionObjective)
    assert isinstance(resolve_objective(small_ae, "margin"), MarginObjective)
    assert isinstance(resolve_objective(small_clf, "reconstruction"), ReconstructionObjective)
    assert resolve_objective(small_clf).mi_sign == -1
    with pytest.raises(ValueError, match="targeted=True and confidence need a classifier"):
        resolve_objective(small_ae, targeted=True)


def test_margin_loss_is_the_carlini_wagner_margin(small_clf, clf_rows):
    X, y = clf_rows
    x = torch.as_tensor(X[:8])
    obj = resolve_objective(small_clf, confidence=0.5)
    ctx = obj.prepare(x, torch.as_tensor(small_clf.encode_labels(y[:8])))
    z = small_clf.decision_function(X[:8])
    own = z[np.arange(8), y[:8]]
    other = np.where(np.eye(10, dtype=bool)[y[:8]], -np.inf, z).max(1)
    expected = np.maximum(0, own - other + 0.5 + 1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(obj.loss(x, x, ctx).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_supervised_success_means_misclassified_by_independent_predict(small_clf, clf_rows):
    X, y = clf_rows
    X_adv, info = _gen(small_clf, MinMaxMINE(**FAST)).generate(X, y)
    ok = info["success"]
    assert 0.2 < ok.mean()
    pred = small_clf.predict(X_adv)
    assert np.all(pred[ok] != y[ok])
    np.testing.assert_array_equal(info["loss"][ok], 0)
    assert np.all(np.abs(X_adv - X) <= FAST["eps"] + 1e-6)


def test_best_iterate_is_the_misclassified_one_with_highest_mi(small_clf, clf_rows):
    X, y = clf_rows
    x = torch.as_tensor(X[:16])
    obj = resolve_objective(small_clf)
    log = []
    res = MinMaxMINE(**FAST).fit(X).run(
        x, obj, y=torch.as_tensor(y[:16]), seed=0,
        callback=lambda t, c, f, mi: log.append((t, f.clone(), mi.clone())))
    f = torch.stack([e[1] for e in log[1:]])  # t = 0 (the start) is no candidate
    mi = torch.stack([e[2] for e in log[1:]])
    hit = f <= 0
    assert res.success.any()
    np.testing.assert_array_equal(res.success.numpy(), hit.any(0).numpy())
    best = torch.where(hit, mi, torch.tensor(-np.inf)).amax(0)
    np.testing.assert_allclose(res.mi[res.success].numpy(), best[res.success].numpy(), rtol=1e-6)


def test_labels_default_to_the_models_predictions(small_clf, clf_rows):
    X, _ = clf_rows
    gen = _gen(small_clf, MinMaxMINE(**FAST))
    np.testing.assert_allclose(gen.generate(X[:16])[0],
                               gen.generate(X[:16], small_clf.predict(X[:16]))[0], atol=0)


def test_string_labels_map_through_classes(digits):
    from sk_uae.models import ClassifierNet

    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    clf = ClassifierNet(module__hidden_units=(32,), max_epochs=10, lr=1e-2,
                        random_state=0).fit(X[:800], names[y[:800]])
    Xe, ye = X[900:932], names[y[900:932]]
    X_adv, info = _gen(clf, MinMaxMINE(**FAST)).generate(Xe, ye)
    pred = clf.predict(X_adv)
    assert info["success"].any()
    assert np.all(pred[info["success"]] != ye[info["success"]])


def test_labels_to_indices_follows_the_order_of_classes():
    from sk_uae.utils import labels_to_indices

    np.testing.assert_array_equal(labels_to_indices(["a", "b", "a"], ["b", "a"]), [1, 0, 1])
    np.testing.assert_array_equal(labels_to_indices([3, 1, 2], [3, 2, 1]), [0, 2, 1])
    mixed = np.array([1, "x"], dtype=object)  # not orderable: looked up one by one
    np.testing.assert_array_equal(labels_to_indices(np.array(["x", 1], object), mixed), [1, 0])
    with pytest.raises(ValueError, match=r"labels \['c'\] that are not among the classes"):
        labels_to_indices(["a", "c"], ["b", "a"])
    with pytest.raises(ValueError, match="not among the classes"):
        labels_to_indices(np.array(["z"], object), mixed)


def test_classifier_net_with_unsorted_classes(digits):
    from sk_uae.models import ClassifierNet

    X, y = digits
    keep = y < 2
    X, labels = X[keep][:200], np.where(y[keep][:200] == 0, "a", "b")
    # used to fail in fit: labels_to_indices assumed sorted classes
    clf = ClassifierNet(classes=["b", "a"], max_epochs=10, lr=1e-2, random_state=0)
    clf.fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["b", "a"])
    pred = clf.predict(X)
    assert np.mean(pred == labels) > 0.95
    np.testing.assert_array_equal(pred, clf.classes_[clf.predict_proba(X).argmax(axis=1)])
    X_adv, info = _gen(clf, MinMaxMINE(**FAST)).generate(X[:16], labels[:16])
    success = info["success"]
    assert np.all(clf.predict(X_adv)[success] != labels[:16][success])


def test_skorch_classifier_with_probability_outputs(digits):
    from skorch import NeuralNetClassifier

    class SoftmaxMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                           torch.nn.Linear(32, 10), torch.nn.Softmax(dim=-1))

        def forward(self, x):
            return self.net(x)

    X, y = digits
    torch.manual_seed(0)
    net = NeuralNetClassifier(SoftmaxMLP, max_epochs=10, lr=0.1, train_split=None,
                              verbose=0).fit(X[:800], y[:800])
    obj = resolve_objective(net)
    with torch.no_grad():  # the margin works on log-probabilities
        z = obj.logits(torch.as_tensor(X[:4]))
    np.testing.assert_allclose(torch.softmax(z, -1).numpy(), net.predict_proba(X[:4]), atol=1e-5)
    X_adv, info = _gen(net, MinMaxMINE(**FAST)).generate(X[900:932], y[900:932])
    ok = info["success"]
    assert ok.any()
    assert np.all(net.predict(X_adv)[ok] != y[900:932][ok])


def test_binary_search_over_c(small_clf, clf_rows):
    X, y = clf_rows
    X, y = X[:32], y[:32]
    attack = MinMaxMINE(**{**FAST, "max_iter": 15}, const_search_steps=3, initial_const=0.1)
    gen = _gen(small_clf, attack, batch_size=32)
    X_adv, info = gen.generate(X, y)
    ok = info["success"]
    assert ok.any()
    assert np.all(small_clf.predict(X_adv)[ok] != y[ok])
    assert np.all(np.abs(X_adv - X) <= FAST["eps"] + 1e-6)
    # more rounds can only add successes (each round is an independent full run)
    one = _gen(small_clf, attack.set_params(const_search_steps=1)).generate(X, y)[1]
    assert np.all(ok[one["success"]])
    gen.set_params(batch_size=16)
    attack.set_params(const_search_steps=3)
    halves = np.vstack([gen.generate(X[:16], y[:16])[0], gen.generate(X[16:], y[16:])[0]])
    np.testing.assert_allclose(halves, X_adv, atol=1e-5, rtol=0)


def test_supervised_batch_invariance_and_repeatability(small_clf, clf_rows):
    X, y = clf_rows
    X, y = X[:32], y[:32]
    gen = _gen(small_clf, MinMaxMINE(**FAST), batch_size=32)
    whole, info = gen.generate(X, y)
    gen.set_params(batch_size=16)
    halves = [gen.generate(X[:16], y[:16]), gen.generate(X[16:], y[16:])]
    np.testing.assert_allclose(np.vstack([h[0] for h in halves]), whole, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.concatenate([h[1]["mi"] for h in halves]), info["mi"],
                               atol=1e-4, rtol=0)
    again = _gen(small_clf, MinMaxMINE(**FAST), batch_size=32).generate(X, y)[0]
    np.testing.assert_array_equal(again, whole)
