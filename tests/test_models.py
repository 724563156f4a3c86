import numpy as np
import pytest
import torch

from sk_uae.models import (AutoencoderNet, ConvAutoencoder, DenseAutoencoder, SparseAutoencoder,
                           first_layer_features)


def test_autoencoder_net_learns_and_infers_width(digits):
    X = digits[0][:500]
    untrained = AutoencoderNet(max_epochs=1, lr=1e-5, random_state=0).fit(X)
    trained = AutoencoderNet(module__hidden_units=32, max_epochs=20, lr=1e-2,
                             random_state=0).fit(X)
    assert trained.module_.encoder.in_features == 64
    assert trained.score(X) > untrained.score(X) + 0.01
    rec = trained.predict(X)
    assert rec.shape == X.shape
    assert trained.score(X) == pytest.approx(-np.mean((rec - X) ** 2), rel=1e-5)
    assert trained.transform(X).shape == (500, 32)


def test_random_state_repeatable(digits):
    X = digits[0][:200]
    a = AutoencoderNet(max_epochs=3, random_state=1).fit(X).predict(X)
    b = AutoencoderNet(max_epochs=3, random_state=1).fit(X).predict(X)
    c = AutoencoderNet(max_epochs=3, random_state=2).fit(X).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sparse_penalty_is_the_kl_divergence():
    module = SparseAutoencoder(4, hidden_units=2, output_activation="sigmoid", sparsity_target=0.1,
                               sparsity_weight=3.0)
    code = torch.tensor([[0.2, 0.1], [0.4, 0.1]])
    rho, rho_hat = 0.1, np.array([0.3, 0.1])
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    assert module.penalty(code).item() == pytest.approx(3.0 * kl.mean(), rel=1e-5)
    assert module.penalty(torch.full((3, 2), 0.1)).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="sparsity_target"):
        SparseAutoencoder(4, output_activation="sigmoid", sparsity_target=1.5)


def test_sparse_training_lowers_mean_activation(digits):
    X = digits[0][:500]
    kw = dict(module__hidden_units=32, max_epochs=15, lr=1e-2, random_state=0)
    dense = AutoencoderNet(DenseAutoencoder, **kw).fit(X)
    sparse = AutoencoderNet(SparseAutoencoder, **kw).fit(X)
    assert sparse.transform(X).mean() < dense.transform(X).mean()


def test_conv_autoencoder_shapes_and_errors(digits):
    X = digits[0][:100]
    ae = AutoencoderNet(ConvAutoencoder, module__filters=(4, 2), max_epochs=1,
                        random_state=0).fit(X)
    assert ae.predict(X).shape == X.shape
    assert ae.transform(X).shape == (100, 2 * 2 * 2)
    with pytest.raises(ValueError, match="input_shape"):
        AutoencoderNet(ConvAutoencoder, module__input_shape=(1, 4, 4), max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="square"):
        AutoencoderNet(ConvAutoencoder, max_epochs=1).fit(X[:, :60])


def test_first_layer_features():
    x = torch.rand(3, 64)
    dense = DenseAutoencoder(64, hidden_units=5, output_activation="sigmoid")
    assert first_layer_features(dense)(x).shape == (3, 5, 1)
    conv = ConvAutoencoder(64, filters=(4, 2))
    assert first_layer_features(conv)(x).shape == (3, 4, 64)
    seq = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.Conv2d(1, 3, 3))
    assert first_layer_features(seq)(x).shape == (3, 3, 36)
    with pytest.raises(ValueError, match="random_projection"):
        first_layer_features(torch.nn.ReLU())


@pytest.mark.parametrize("name", ["AutoencoderNet", "ClassifierNet", "ContrastiveNet",
                                  "ConcreteAutoencoderNet"])
def test_nets_have_no_varargs_and_clone(name):
    # *args after module only ever raised "multiple values for argument
    # 'criterion'"; every parameter after module is keyword-only
    import inspect

    from sklearn.base import clone

    from sk_uae import models
    from sk_uae.models._base import UnsupervisedNet

    cls = getattr(models, name)
    for klass in (cls, UnsupervisedNet):
        kinds = {p.kind for p in inspect.signature(klass.__init__).parameters.values()}
        assert inspect.Parameter.VAR_POSITIONAL not in kinds
    with pytest.raises(TypeError, match="positional argument"):
        cls(cls().module, torch.nn.MSELoss)
    net = cls(lr=0.5, module__hidden_units=3, random_state=7)
    params = net.get_params()
    assert params["lr"] == 0.5 and params["module__hidden_units"] == 3
    assert params["random_state"] == 7 and "args" not in params
    copy = clone(net)
    assert copy.get_params()["module__hidden_units"] == 3 and copy.lr == 0.5
