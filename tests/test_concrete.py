import numpy as np
import pytest
import torch

from sk_uae import UAEGenerator
from sk_uae.models import (ConcreteAutoencoder, ConcreteAutoencoderNet, ConcreteSelector,
                           TemperatureAnnealing)
from conftest import fast_attack


def _signal_data(n=512, seed=0):
    """3 independent signals in columns 0-2, duplicated in 3-5; columns 6-11 constant."""
    s = np.random.RandomState(seed).rand(n, 3).astype(np.float32)
    return np.hstack([s, s, np.full((n, 6), 0.5, np.float32)]), np.r_[0, 1, 2, 0, 1, 2]


@pytest.fixture(scope="module")
def fitted():
    X, signal = _signal_data()
    net = ConcreteAutoencoderNet(module__n_selected=3, module__hidden_units=16, max_epochs=30,
                                 batch_size=64, lr=3e-2, start_temperature=10.0,
                                 end_temperature=0.1, random_state=0).fit(X)
    return net, X, signal


def test_selector_finds_the_informative_columns(fitted):
    net, X, signal = fitted
    sel = net.selected_features_
    # exactly n_selected indices; repeats would be allowed, but here every
    # independent signal must be covered (a column or its duplicate), no constant one
    assert sel.shape == (3,)
    assert np.all(sel < 6)
    assert sorted(signal[sel]) == [0, 1, 2]


def test_transform_and_support_follow_the_selection(fitted):
    net, X, _ = fitted
    sel = net.selected_features_
    np.testing.assert_array_equal(net.transform(X), X[:, sel])
    mask = net.get_support()
    assert mask.dtype == bool and mask.shape == (X.shape[1],)
    np.testing.assert_array_equal(np.flatnonzero(mask), np.unique(sel))
    np.testing.assert_array_equal(net.get_support(indices=True), np.unique(sel))
    # eval-mode forward is the hard selection
    net.module_.eval()
    with torch.no_grad():
        code = net.module_.encode(torch.as_tensor(X[:5])).numpy()
    np.testing.assert_array_equal(code, X[:5, sel])


def test_temperature_annealed_from_start_to_end(fitted):
    net = fitted[0]
    temps = np.asarray(net.history[:, "temperature"])
    assert len(temps) == 30
    assert temps[0] == pytest.approx(10.0)
    assert temps[-1] == pytest.approx(0.1)
    assert net.module_.temperature == pytest.approx(0.1, rel=1e-6)
    ratios = temps[1:] / temps[:-1]  # exponential: a constant ratio
    np.testing.assert_allclose(ratios, (0.1 / 10.0) ** (1 / 29), rtol=1e-6)


def test_temperature_schedule_and_errors():
    cb = TemperatureAnnealing(4.0, 1.0).initialize()
    assert [cb.temperature(e, 3) for e in range(3)] == pytest.approx([4.0, 2.0, 1.0])
    assert cb.temperature(0, 1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="end_temperature"):
        TemperatureAnnealing(1.0, 0.0).initialize()
    X = _signal_data(n=32)[0]
    with pytest.raises(ValueError, match="start_temperature"):
        ConcreteAutoencoderNet(module__n_selected=2, start_temperature=-1, max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="n_selected"):
        ConcreteAutoencoderNet(module__n_selected=13, max_epochs=1).fit(X)


def test_selector_training_is_soft_and_stochastic_eval_is_hard():
    torch.manual_seed(0)
    sel = ConcreteSelector(5, 2, temperature=1.0)
    sel.train()
    w1, w2 = sel.weights(), sel.weights()
    torch.testing.assert_close(w1.sum(1), torch.ones(2))
    assert not torch.equal(w1, w2)  # fresh Gumbel noise each pass
    assert ((w1 > 0) & (w1 < 1)).any()
    sel.eval()
    w = sel.weights()
    assert torch.equal(w.sum(1), torch.ones(2)) and set(w.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(w.argmax(1), sel.selected_features)


def test_module_shapes_and_errors():
    m = ConcreteAutoencoder(10, n_selected=4, hidden_units=(8, 6), output_activation="sigmoid")
    rec, code = m(torch.rand(3, 10))
    assert rec.shape == (3, 10) and code.shape == (3, 4)
    assert m.first_layer_features(torch.rand(3, 10)).shape == (3, 4, 1)
    with pytest.raises(ValueError, match="hidden_units"):
        ConcreteAutoencoder(10, n_selected=4, hidden_units=(0,))


def test_uae_generator_attacks_a_concrete_autoencoder(digits):
    X = digits[0][:200]
    net = ConcreteAutoencoderNet(module__n_selected=16, max_epochs=5, random_state=0)
    gen = UAEGenerator(net, fast_attack(eps=0.2), random_state=0).fit(X)
    X_adv, info = gen.generate(X[:24])
    assert X_adv.shape == (24, 64)
    assert np.abs(X_adv - X[:24]).max() <= 0.2 + 1e-6
    assert X_adv.min() >= 0 and X_adv.max() <= 1
    assert np.all(np.isfinite(info["loss"])) and np.all(info["loss"] >= 0)
