"""Pickle/joblib round trips, CUDA-saved nets on a CPU-only machine, weights-only save/load."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch

from sk_uae import UAESampler
from sk_uae.models import ClassifierNet, load_net_params
from test_hardening import ESTIMATORS, SKORCH, X, _fit, _output


def _result(est):
    if isinstance(est, UAESampler):  # the fitted state a sampler keeps: its generator
        return est.generator_.transform(X)
    return _output(est, X)


@pytest.fixture(scope="module")
def fitted():
    out = {}
    for name, (make, _) in ESTIMATORS.items():
        est = make()
        _fit(est, X)
        out[name] = est
    return out


@pytest.mark.parametrize("how", ["pickle", "joblib"])
@pytest.mark.parametrize("name", ESTIMATORS)
def test_round_trip_gives_identical_outputs(fitted, name, how, tmp_path):
    est = fitted[name]
    before = _result(est)
    if how == "pickle":
        back = pickle.loads(pickle.dumps(est))
    else:
        joblib.dump(est, tmp_path / "est.joblib")
        back = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(_result(back), before)
    np.testing.assert_array_equal(_result(est), before)  # the original is untouched


@pytest.mark.parametrize("name", SKORCH)
def test_net_pickled_with_cuda_device_loads_on_cpu(fitted, name):
    # a net fitted with device="cuda" pickles its device; its tensors are
    # saved by torch with their CUDA location. Here (CPU only) the tensors are
    # on the CPU but the device is "cuda": skorch's __setstate__ must map the
    # load to the CPU, warn, and set device="cpu".
    if torch.cuda.is_available():
        pytest.skip("CUDA is available: the CPU-only fallback cannot be exercised here")
    net = fitted[name]
    before = _result(net)
    state = pickle.dumps(net)
    net_cuda = pickle.loads(state)
    net_cuda.device = "cuda"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back = pickle.loads(pickle.dumps(net_cuda))
    assert str(back.device) == "cpu"
    assert any("CUDA" in str(w.message) for w in caught)
    np.testing.assert_array_equal(_result(back), before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_net_fitted_on_cuda_round_trips():  # pragma: no cover - GPU machines only
    make, _ = ESTIMATORS["AutoencoderNet"]
    net = make(device="cuda")
    _fit(net, X)
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(back.transform(X), net.transform(X))


@pytest.mark.parametrize("name", SKORCH)
def test_weights_only_save_and_load(fitted, name, tmp_path):
    net = fitted[name]
    path = tmp_path / "params.pt"
    net.save_params(f_params=path)
    make, _ = ESTIMATORS[name]
    classes = net.classes_ if isinstance(net, ClassifierNet) else None
    activation = getattr(net, "output_activation_", None)  # autoencoders: "auto" resolved
    new = load_net_params(make(), path, n_features_in=X.shape[1], classes=classes,
                          output_activation=activation)
    np.testing.assert_array_equal(_result(new), _result(net))
    # the file holds tensors only: torch's weights_only loader reads it
    state = torch.load(path, weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())


def test_weights_only_load_checks_its_inputs(fitted):
    buf = io.BytesIO()
    fitted["ClassifierNet"].save_params(f_params=buf)
    buf.seek(0)
    make, _ = ESTIMATORS["ClassifierNet"]
    with pytest.raises(ValueError, match="classes="):
        load_net_params(make(), buf, n_features_in=6)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="size mismatch"):  # wrong width: torch says which
        load_net_params(make(), buf, n_features_in=5, classes=[0, 1])
