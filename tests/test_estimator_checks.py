"""scikit-learn's estimator checks on every public estimator."""

import numpy as np
import pytest
import torch
from imblearn.utils import estimator_checks as imblearn_checks
from sklearn.base import clone
from sklearn.utils import gen_batches, get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_uae import AdversarialTraining, UAEAugmenter, UAEGenerator, UAESampler
from sk_uae.attacks import PGD, MinMaxMINE
from sk_uae.models import (AutoencoderNet, ClassifierNet, ConcreteAutoencoderNet, ContrastiveNet,
                           DenseAutoencoder)


def _small_ae():
    return AutoencoderNet(DenseAutoencoder, module__hidden_units=3, max_epochs=2, batch_size=16,
                          random_state=0)


def _small_attack():
    return MinMaxMINE(eps=0.1, max_iter=2, n_mine_steps=2, n_pairs=4, pair_dim=4,
                      mine_hidden_sizes=(4, 2))


def _small_clf():
    # enough epochs and a large step to pass check_classifiers_train's accuracy bar
    return ClassifierNet(module__hidden_units=(16,), max_epochs=30, lr=0.05, batch_size=32,
                         random_state=0)


ESTIMATORS = [
    _small_clf(),
    UAEGenerator(_small_clf(), attack=PGD(eps=0.1, max_iter=2),
                 batch_size=16, random_state=0),
    _small_ae(),
    ConcreteAutoencoderNet(module__n_selected=2, module__hidden_units=4, max_epochs=2,
                           batch_size=16, random_state=0),
    ContrastiveNet(module__hidden_units=(4,), module__projection_dim=3, max_epochs=2,
                   batch_size=16, n_negatives=8, random_state=0),
    UAEGenerator(_small_ae(), attack=_small_attack(), batch_size=16, random_state=0),
    UAEAugmenter(_small_ae(), attack=_small_attack(), batch_size=16, random_state=0),
    UAEAugmenter(_small_ae(), attack=PGD(eps=0.1, max_iter=2), rounds=2, batch_size=16,
                 random_state=0),
    # adversarial training on examples made as it trains
    _small_ae().set_params(callbacks=[("adversarial", AdversarialTraining(
        PGD(eps=0.1, max_iter=2), random_state=0))]),
    UAEGenerator(),  # every default, on the checks' standard-normal data
]

SKORCH_INIT = (
    "skorch's NeuralNet.__init__ stores prefixed parameters passed as **kwargs "
    "(module__*, optimizer__*) and its bookkeeping attributes (history_, "
    "initialized_, virtual_params_) by design; get_params/clone still round-trip."
)

FLOAT32 = (
    "float32 kernels round differently for other batch shapes (about 1e-7 relative, on some "
    "CPUs more), beyond the check's fixed rtol=1e-7; test_float32_outputs_invariant checks the "
    "same property with float32 tolerances."
)
FLOAT32_ATTACK = (
    "float32 kernels round differently for other batch shapes, and an attack's choice of "
    "iterate can turn such a rounding difference into another example; "
    "test_attacks_invariant_in_float64 checks the same property exactly."
)
FLOAT32_CHECKS = ("check_methods_subset_invariance", "check_methods_sample_order_invariance")

EXPECTED_FAILURES = {
    "ClassifierNet": {"check_no_attributes_set_in_init": SKORCH_INIT},
    "AutoencoderNet": {"check_no_attributes_set_in_init": SKORCH_INIT},
    "ConcreteAutoencoderNet": {"check_no_attributes_set_in_init": SKORCH_INIT},
    "ContrastiveNet": {"check_no_attributes_set_in_init": SKORCH_INIT},
}


SKORCH_CALLBACK_STATE = (
    "skorch initialises the callback objects given in `callbacks` in place and they keep "
    "their state on themselves (AdversarialTraining its fitted attack; skorch's own "
    "EarlyStopping fails this check the same way); clone() gives fresh ones."
)


def _expected_failed_checks(estimator):
    failures = dict(EXPECTED_FAILURES.get(type(estimator).__name__, {}))
    if getattr(estimator, "callbacks", None):
        failures["check_estimators_overwrite_params"] = SKORCH_CALLBACK_STATE
    return failures


def _check_name(check):
    return getattr(getattr(check, "func", check), "__name__", "")


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_compatible(estimator, check):
    # a float32 rounding difference passes or fails these by chance: skipped, so that every
    # run has the same outcome; the tests named in the reason check the property itself
    if _check_name(check) in FLOAT32_CHECKS and not get_tags(estimator).non_deterministic:
        pytest.skip(FLOAT32_ATTACK if isinstance(estimator, UAEGenerator) else FLOAT32)
    check(estimator)


SAMPLER_EXPECTED_FAILURES = {
    "check_samplers_sparse": "UAEs are dense perturbations; sparse X is refused with a clear "
                             "error.",
    "check_samplers_pandas_sparse": "sparse input is refused (see check_samplers_sparse).",
}


@imblearn_checks.parametrize_with_checks(
    [UAESampler(_small_ae(), attack=_small_attack(), batch_size=16, random_state=0),
     UAESampler(_small_ae(), attack=_small_attack(), sampling_strategy="auto", batch_size=16,
                random_state=0)],
    expected_failed_checks=lambda est: SAMPLER_EXPECTED_FAILURES,
)
def test_sampler_imblearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------- invariance, with float tolerances
@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request):
    saved = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(saved)


def _outputs(est, X):
    methods = [m for m in ("predict", "predict_proba", "transform") if hasattr(est, m)]
    return {m: np.asarray(getattr(est, m)(X), dtype=np.float64) for m in methods}


def _check_invariance(est, X, **tol):
    full = _outputs(est, X)
    by_batch = [_outputs(est, X[sl]) for sl in gen_batches(len(X), 5)]
    order = np.random.RandomState(1).permutation(len(X))
    shuffled = _outputs(est, X[order])
    for m, ref in full.items():
        np.testing.assert_allclose(np.concatenate([b[m] for b in by_batch]), ref, **tol,
                                   err_msg=f"{m} on subsets")
        np.testing.assert_allclose(shuffled[m], ref[order], **tol, err_msg=f"{m} in other order")


INVARIANT_FLOAT32 = [e for e in ESTIMATORS if not isinstance(e, UAEGenerator)]


@pytest.mark.parametrize("estimator", INVARIANT_FLOAT32, ids=lambda e: type(e).__name__)
def test_float32_outputs_invariant(estimator, torch_threads):
    """sklearn's subset and order checks with tolerances that float32 kernels meet."""
    rng = np.random.RandomState(0)
    X = (3 * rng.uniform(size=(20, 3))).astype(np.float32)
    y = (X[:, 0] > 1.5).astype(int)
    est = clone(estimator).fit(X, y)
    _check_invariance(est, X, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if isinstance(e, UAEGenerator)],
                         ids=lambda e: type(e.attack).__name__)
def test_attacks_invariant_in_float64(estimator, torch_threads):
    """The same checks for the attacks, exact up to the float32 output's rounding."""
    rng = np.random.RandomState(0)
    X = (3 * rng.uniform(size=(20, 3))).astype(np.float32)
    y = (X[:, 0] > 1.5).astype(int)
    est = clone(estimator).set_params(precision="float64", random_state=0).fit(X, y)
    _check_invariance(est, X, rtol=0, atol=1e-6)
