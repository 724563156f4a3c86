"""Models that fit the table they get: output_activation="auto" and the checks after fit."""

import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from skorch import NeuralNetRegressor
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from sk_uae import UAEAugmenter, UAEGenerator, UAESampler
from sk_uae.attacks import PGD, MinMaxMINE
from sk_uae.exceptions import FitQualityWarning
from sk_uae.models import (AutoencoderNet, ClassifierNet, ConcreteAutoencoder,
                           ConcreteAutoencoderNet, ConvAutoencoder, DenseAutoencoder,
                           SparseAutoencoder, load_net_params)
from sk_uae.utils._checks import check_finite_train_loss, in_unit_range

NETS = {
    "dense": lambda **kw: AutoencoderNet(DenseAutoencoder, module__hidden_units=4, **kw),
    "sparse": lambda **kw: AutoencoderNet(SparseAutoencoder, module__hidden_units=4, **kw),
    "concrete": lambda **kw: ConcreteAutoencoderNet(module__n_selected=3,
                                                    module__hidden_units=4, **kw),
}

# these tests fit tiny models on purpose; whether they beat the column means is not the point
tiny = pytest.mark.filterwarnings("ignore::sk_uae.exceptions.FitQualityWarning")


@pytest.fixture(scope="module")
def cancer():
    """scikit-learn's breast-cancer table (569 x 30), raw."""
    return load_breast_cancer().data


def _unit(n=64, d=6, seed=0):
    return np.random.RandomState(seed).rand(n, d).astype(np.float32)


def _standard(n=64, d=6, seed=0):
    return np.random.RandomState(seed).randn(n, d).astype(np.float32)


def _small_attack():
    return MinMaxMINE(eps=0.1, max_iter=2, n_mine_steps=2, n_pairs=4, pair_dim=4,
                      mine_hidden_sizes=(4, 2))


# ---------------------------------------------------------------- output_activation="auto"
def test_in_unit_range_allows_float_rounding():
    assert in_unit_range(np.array([0.0, 0.5, 1.0], np.float32))
    assert in_unit_range(np.array([np.float32(1) + np.finfo(np.float32).eps], np.float32))
    assert in_unit_range(np.array([-np.finfo(np.float32).eps], np.float32))
    assert not in_unit_range(np.array([0.0, 1.01], np.float32))
    assert not in_unit_range(np.array([-0.01, 0.5], np.float32))
    assert not in_unit_range(np.array([np.nan, 0.5], np.float32))


@tiny
@pytest.mark.parametrize("name", NETS)
def test_auto_resolves_from_the_training_rows(name):
    unit = NETS[name](max_epochs=1, random_state=0).fit(_unit())
    assert unit.output_activation_ == "sigmoid"
    assert unit.module_.output_activation == "sigmoid"
    std = NETS[name](max_epochs=1, random_state=0).fit(_standard())
    assert std.output_activation_ == "identity"
    # the identity reaches values a sigmoid cannot
    assert std.predict(_standard()).min() < 0


@tiny
def test_auto_counts_minmax_scaler_rounding_as_unit_range(cancer):
    X = MinMaxScaler().fit_transform(cancer).astype(np.float32)
    X[0, 0] = np.float32(1) + np.finfo(np.float32).eps  # MinMaxScaler's 1.0000001
    assert X.max() > 1
    net = AutoencoderNet(max_epochs=1, random_state=0).fit(X)
    assert net.output_activation_ == "sigmoid"


@tiny
def test_auto_is_identity_for_standardised_data(cancer):
    X = StandardScaler().fit_transform(cancer).astype(np.float32)
    assert AutoencoderNet(max_epochs=1, random_state=0).fit(X).output_activation_ == "identity"


@tiny
@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("explicit", ["sigmoid", "identity", "tanh"])
def test_explicit_output_activation_is_kept(name, explicit):
    for X in (_unit(), _standard()):
        net = NETS[name](module__output_activation=explicit, max_epochs=1, random_state=0).fit(X)
        assert net.output_activation_ == explicit
        assert net.get_params()["module__output_activation"] == explicit


@tiny
def test_explicit_auto_is_resolved_too():
    net = AutoencoderNet(module__output_activation="auto", max_epochs=1, random_state=0)
    assert net.fit(_standard()).output_activation_ == "identity"


@tiny
def test_conv_autoencoder_reports_its_fixed_sigmoid(digits):
    net = AutoencoderNet(ConvAutoencoder, max_epochs=1, batch_size=64, random_state=0)
    assert net.fit(digits[0][:64]).output_activation_ == "sigmoid"


@pytest.mark.parametrize("make", [
    lambda: DenseAutoencoder(6),
    lambda: SparseAutoencoder(6, hidden_units=3),
    lambda: ConcreteAutoencoder(6, n_selected=2),
])
def test_a_module_built_directly_needs_an_explicit_activation(make):
    with pytest.raises(ValueError, match=r"output_activation='auto'.*'sigmoid'.*'identity'"):
        make()


@tiny
def test_auto_is_resolved_once_warm_start_and_partial_fit_keep_it():
    net = AutoencoderNet(max_epochs=1, random_state=0).fit(_unit())
    module = net.module_
    net.partial_fit(_standard())  # continues: same module, same activation
    assert net.module_ is module and net.output_activation_ == "sigmoid"
    net.set_params(warm_start=True).fit(_standard())
    assert net.module_ is module and net.output_activation_ == "sigmoid"
    # a module rebuilt without the rows (set_params(module__...)) keeps the resolution
    net.set_params(module__hidden_units=3)
    assert net.module_ is not module and net.output_activation_ == "sigmoid"
    # a fresh fit resolves again
    net.set_params(warm_start=False).fit(_standard())
    assert net.output_activation_ == "identity"
    first = AutoencoderNet(max_epochs=1, random_state=0).partial_fit(_standard())
    assert first.output_activation_ == "identity"


@tiny
def test_clone_pickle_and_weights_only_loading():
    X = _standard()
    net = AutoencoderNet(module__hidden_units=3, max_epochs=2, random_state=0)
    fitted = clone(net).fit(X)
    assert "module__output_activation" not in clone(net).get_params()
    assert not hasattr(clone(fitted), "output_activation_")
    back = pickle.loads(pickle.dumps(fitted))
    assert back.output_activation_ == "identity"
    np.testing.assert_array_equal(back.predict(X), fitted.predict(X))

    buf = io.BytesIO()
    fitted.save_params(f_params=buf)
    buf.seek(0)
    with pytest.raises(ValueError, match="output_activation=... to load_net_params"):
        load_net_params(net, buf, n_features_in=X.shape[1])
    buf.seek(0)
    new = load_net_params(net, buf, n_features_in=X.shape[1],
                          output_activation=fitted.output_activation_)
    assert new.output_activation_ == "identity"
    np.testing.assert_array_equal(new.predict(X), fitted.predict(X))
    with pytest.raises(ValueError, match="autoencoder nets only"):
        load_net_params(ClassifierNet(), buf, n_features_in=X.shape[1], classes=[0, 1],
                        output_activation="sigmoid")


def test_standardised_breast_cancer_beats_the_column_means(cancer):
    """The default net now rebuilds standardised columns; a sigmoid output could not."""
    X = StandardScaler().fit_transform(cancer).astype(np.float32)
    baseline = -float(np.mean(X.var(axis=0)))  # the column means' score: -1
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitQualityWarning)
        auto = AutoencoderNet(random_state=0).fit(X)
    sigmoid = AutoencoderNet(module__output_activation="sigmoid", random_state=0).fit(X)
    # measured (20 epochs, seeds 0-2): auto -0.25 to -0.26, sigmoid -0.81 to -0.82
    assert auto.output_activation_ == "identity"
    assert auto.score(X) > -0.4 > baseline
    assert sigmoid.score(X) < -0.6
    assert auto.score(X) > sigmoid.score(X) + 0.3


# ----------------------------------------------------------------- a model that did not train
def _huge_column(cancer):
    X = StandardScaler().fit_transform(cancer[:120]).astype(np.float32)
    X[:, 0] *= 1e30
    return X, (cancer[:120, 0] > np.median(cancer[:120, 0])).astype(int)


def test_the_net_raises_when_its_loss_is_not_finite(cancer):
    X, _ = _huge_column(cancer)
    with pytest.raises(ValueError, match=r"did not train.*scale of X.*StandardScaler"):
        AutoencoderNet(max_epochs=2, random_state=0).fit(X)


@pytest.mark.parametrize("make", [
    lambda: UAEGenerator(AutoencoderNet(max_epochs=2), _small_attack(), random_state=0),
    lambda: UAEGenerator(attack=_small_attack(), random_state=0),  # the default model
    lambda: UAEAugmenter(AutoencoderNet(max_epochs=2), _small_attack(), random_state=0),
    lambda: UAESampler(AutoencoderNet(max_epochs=2), _small_attack(), random_state=0),
], ids=["generator", "generator-default", "augmenter", "sampler"])
def test_estimators_refuse_a_model_with_an_infinite_loss(cancer, make):
    X, y = _huge_column(cancer)
    est = make()
    with pytest.raises(ValueError, match=r"scale of X.*e\+30.*Scale the columns"):
        est.fit_resample(X, y) if isinstance(est, UAESampler) else est.fit(X)


class _Regressor(torch.nn.Module):
    def __init__(self, input_dim=30):
        super().__init__()
        self.lin = torch.nn.Linear(input_dim, 1)

    def forward(self, x):
        return self.lin(x).squeeze(-1)


def test_any_skorch_net_with_an_infinite_loss_is_refused(cancer):
    """A user's own skorch net does not check itself; the estimators check its history."""
    X, _ = _huge_column(cancer)
    y = X[:, 1].copy()
    net = NeuralNetRegressor(_Regressor, max_epochs=2, train_split=None)
    with pytest.raises(ValueError, match="scale of X"):
        UAEGenerator(net, PGD(eps=0.1, max_iter=2), random_state=0).fit(X, y)
    fine = NeuralNetRegressor(_Regressor, max_epochs=2, train_split=None)
    Xs = StandardScaler().fit_transform(cancer[:120]).astype(np.float32)
    check_finite_train_loss(fine.fit(Xs, Xs[:, 1].copy()))  # finite: no error
    check_finite_train_loss(StandardScaler().fit(Xs))  # no history: nothing to check


# ------------------------------------------------------ worse than the column means: a warning
def test_a_model_worse_than_the_column_means_warns(cancer):
    # standardised columns shifted below 0: a sigmoid output cannot reach any of them
    X = StandardScaler().fit_transform(cancer).astype(np.float32) - 3
    net = AutoencoderNet(module__output_activation="sigmoid", random_state=0)
    with pytest.warns(FitQualityWarning, match=r"worse than their column means.*"
                      r"output_activation_='sigmoid'.*'identity'"):
        net.fit(X)
    assert -net.score(X) > np.mean(X.var(axis=0))  # the warning is true
    with pytest.warns(FitQualityWarning, match="column means"):
        net.partial_fit(X)


def test_a_model_that_beats_the_column_means_does_not_warn(digits):
    X = digits[0][:500]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitQualityWarning)
        net = AutoencoderNet(random_state=0).fit(X)
    assert -net.score(X) < np.mean(X.var(axis=0))


def test_the_estimators_pass_the_warning_on_and_a_frozen_model_is_not_checked(cancer):
    X = StandardScaler().fit_transform(cancer[:200]).astype(np.float32) - 3
    bad = AutoencoderNet(module__output_activation="sigmoid", max_epochs=2, random_state=0)
    with pytest.warns(FitQualityWarning):
        gen = UAEGenerator(bad, _small_attack(), random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitQualityWarning)
        UAEGenerator(FrozenEstimator(gen.estimator_), _small_attack(), random_state=0).fit(X)
