"""Bad input to every public estimator, attack, metric and the CLI.

Every case must end in an exception whose message names the problem (or, for
pandas input, in the NumPy result): never a NaN result, a traceback from deep
inside torch/skorch, or silently accepted nonsense. All data are tiny (24 x 6,
one epoch) so that no case can hang.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from sk_uae import UAEAugmenter, UAEGenerator, UAESampler, metrics
from sk_uae.attacks import PGD, CarliniWagnerL2, Duplicate, GaussianNoise, MinMaxMINE
from sk_uae.cli import main
from sk_uae.metric_learning import LMNNPL, certified_radius
from sk_uae.models import AutoencoderNet, ClassifierNet, ConcreteAutoencoderNet, ContrastiveNet

pd = pytest.importorskip("pandas")

RNG = np.random.RandomState(0)
X = RNG.rand(24, 6).astype(np.float32)
Y = np.arange(24) % 2
NAN = float("nan")


def _ae(**kw):
    return AutoencoderNet(**{**dict(module__hidden_units=3, max_epochs=1, batch_size=8,
                                    random_state=0), **kw})


def _clf(**kw):
    return ClassifierNet(**{**dict(module__hidden_units=(4,), max_epochs=1, batch_size=8,
                                   random_state=0), **kw})


def _mm(**kw):
    return MinMaxMINE(**{**dict(eps=0.1, max_iter=2, n_mine_steps=1, n_pairs=4, pair_dim=3,
                                mine_hidden_sizes=(4, 2)), **kw})


def _small(cls, **fixed):
    """Factory of ``cls`` with tiny settings; callables in ``fixed`` are built per call."""
    def make(**kw):
        params = {"batch_size": 8, "random_state": 0}
        params.update({k: (v() if callable(v) else v) for k, v in fixed.items()})
        params.update(kw)
        return cls(**params)
    return make


# name -> (factory, uses labels); every estimator of the public API, tiny settings
ESTIMATORS = {
    "AutoencoderNet": (_ae, False),
    "ClassifierNet": (_clf, True),
    "ConcreteAutoencoderNet": (_small(ConcreteAutoencoderNet, module__n_selected=2,
                                      module__hidden_units=3, max_epochs=1), False),
    "ContrastiveNet": (_small(ContrastiveNet, module__hidden_units=(4,),
                              module__projection_dim=3, max_epochs=1, n_negatives=4), False),
    "UAEGenerator-MinMaxMINE": (_small(UAEGenerator, estimator=_ae, attack=_mm), False),
    "UAEGenerator-PGD": (_small(UAEGenerator, estimator=_clf,
                                attack=lambda: PGD(eps=0.1, max_iter=2)), True),
    "UAEGenerator-CW": (_small(UAEGenerator, estimator=_clf, attack=lambda: CarliniWagnerL2(
        max_iter=2, binary_search_steps=1)), True),
    "UAEGenerator-GaussianNoise": (_small(UAEGenerator, estimator=_ae,
                                          attack=lambda: GaussianNoise(eps=0.1)), False),
    "UAEGenerator-Duplicate": (_small(UAEGenerator, estimator=_ae, attack=Duplicate), False),
    "UAEAugmenter": (_small(UAEAugmenter, estimator=_ae, attack=_mm), False),
    "UAEAugmenter-clf": (_small(UAEAugmenter, estimator=_clf,
                                attack=lambda: PGD(eps=0.1, max_iter=2)), True),
    "UAESampler": (_small(UAESampler, estimator=_ae, attack=_mm), True),
    # tol=1: three iterations count as converged (these tests are about input, not fits)
    "LMNNPL": (lambda **kw: LMNNPL(**{**dict(n_neighbors=1, n_impostors=2, max_iter=3, tol=1.0,
                                             random_state=0), **kw}), True),
}
SKORCH = ["AutoencoderNet", "ClassifierNet", "ConcreteAutoencoderNet", "ContrastiveNet"]
META = [n for n in ESTIMATORS if n.startswith("UAE")]


def _fit(est, X, y=Y):
    if isinstance(est, UAESampler):
        return est.fit_resample(X, y)
    return est.fit(X, y)


def _output(est, X):
    """What a fitted estimator computes from X (its transform, else predict)."""
    return est.transform(X) if hasattr(est, "transform") else est.predict(X)


def _with(X_, i=0, value=NAN):
    X_ = X_.copy()
    X_[i, 0] = value
    return X_


_str = X.astype(object)
_str[3, 2] = "a"

# case -> (bad X at fit, y, exception types, pattern the message must contain)
FIT_CASES = {
    "nan": (_with(X), Y, ValueError, "NaN"),
    "inf": (_with(X, value=np.inf), Y, ValueError, "infinity"),
    "empty": (X[:0], Y[:0], ValueError, "0 sample"),
    "1d": (X[:, 0], Y, ValueError, "Expected 2D array"),
    "string-column": (_str, Y, ValueError, "could not convert string"),
    "sparse": (sp.csr_matrix(X), Y, TypeError, "dense data is required"),
    "no-features": (X[:, :0], Y, ValueError, "0 feature"),
}


@pytest.mark.parametrize("case", FIT_CASES)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_bad_X_at_fit(name, case):
    make, _ = ESTIMATORS[name]
    X_bad, y, exc, pattern = FIT_CASES[case]
    with pytest.raises(exc, match=pattern):
        _fit(make(), X_bad, y)


@pytest.mark.parametrize("name", [n for n, (_, sup) in ESTIMATORS.items() if sup])
def test_mismatched_y_length(name):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _fit(ESTIMATORS[name][0](), X, Y[:-1])


@pytest.mark.parametrize("name", ["UAEGenerator-MinMaxMINE", "UAEGenerator-GaussianNoise",
                                  "UAEAugmenter"])
def test_mismatched_y_length_even_where_y_is_unused(name):
    # the generator passes y on to its model: a wrong length is a caller bug
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _fit(ESTIMATORS[name][0](), X, Y[:-1])


@pytest.mark.parametrize("name", ["ClassifierNet", "UAEGenerator-PGD", "UAEAugmenter-clf",
                                  "UAESampler", "LMNNPL"])
def test_one_class_labels(name):
    with pytest.raises(ValueError, match=r"(2|more than 1) class"):
        _fit(ESTIMATORS[name][0](), X, np.zeros(24, dtype=int))


@pytest.mark.parametrize("name", ["ClassifierNet", "UAEGenerator-PGD"])
def test_nan_labels(name):
    with pytest.raises(ValueError, match="y contains NaN"):
        _fit(ESTIMATORS[name][0](), X, np.where(Y == 0, NAN, 1.0))


@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n != "UAESampler"])
def test_transform_before_fit(name):
    with pytest.raises(NotFittedError, match="not fitted"):
        _output(ESTIMATORS[name][0](), X)


def test_augmenter_around_a_classifier_has_no_transform():
    aug = ESTIMATORS["UAEAugmenter-clf"][0]()
    assert not hasattr(aug, "transform") and hasattr(aug, "predict")
    assert hasattr(ESTIMATORS["UAEAugmenter"][0](), "transform")


@pytest.fixture(scope="module")
def fitted():
    return {name: _fit(make(), X) for name, (make, _) in ESTIMATORS.items()
            if name != "UAESampler"}


# case -> (bad X after fit, pattern)
PREDICT_CASES = {
    "wrong-width": (X[:, :4], "X has 4 features, but .* is expecting 6"),
    "nan": (_with(X), "NaN"),
    "1d": (X[0], "Expected 2D array"),
    "empty": (X[:0], "0 sample"),
}


@pytest.mark.parametrize("case", PREDICT_CASES)
@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n != "UAESampler"])
def test_bad_X_after_fit(fitted, name, case):
    X_bad, pattern = PREDICT_CASES[case]
    with pytest.raises(ValueError, match=pattern):
        _output(fitted[name], X_bad)


@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n.startswith("UAEGenerator")
                                  and "Duplicate" not in n])
def test_out_of_range_images_with_explicit_clipping(name):
    make, labels = ESTIMATORS[name]
    est = make().set_params(attack__clip_values=(0.0, 1.0))
    _fit(est, X, Y if labels else None)
    with pytest.raises(ValueError, match=r"outside the attack's clip_values=\(0.0, 1.0\)"):
        est.transform(X + 2)


@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n.startswith("UAEGenerator")])
def test_rows_outside_the_auto_range_keep_their_own_bounds(fitted, name):
    # clip_values="auto" is the training rows' range; a held-out row beyond it is
    # attacked as it is, and no element is pushed further out than it was
    X_out = X + 2
    X_adv = fitted[name].transform(X_out)
    assert np.all(np.isfinite(X_adv))
    assert np.all(X_adv <= X_out) and X_adv.min() >= X.min()


@pytest.mark.parametrize("name", ESTIMATORS)
def test_pandas_dataframe_gives_the_numpy_result(name):
    make, _ = ESTIMATORS[name]
    cols = [f"f{j}" for j in range(X.shape[1])]
    df = pd.DataFrame(X, columns=cols)
    y_series = pd.Series(Y)
    a, b = make(), make()
    out_np, out_df = _fit(a, X, Y), _fit(b, df, y_series)
    if isinstance(a, UAESampler):
        np.testing.assert_array_equal(np.asarray(out_df[0]), out_np[0])
        np.testing.assert_array_equal(np.asarray(out_df[1]), out_np[1])
        return
    res_np, res_df = _output(a, X), _output(b, df)
    assert np.asarray(res_df).shape == res_np.shape
    if res_np.dtype.kind == "f":
        assert np.all(np.isfinite(res_np))
    if name == "LMNNPL":  # float64 scipy/torch solver: round-off only
        np.testing.assert_allclose(res_df, res_np, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_array_equal(res_df, res_np)


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("attack, pattern", [
    (_mm(eps=-0.1), "'eps' parameter of MinMaxMINE"),
    (_mm(eps=NAN), "'eps' parameter of MinMaxMINE"),
    (PGD(eps=-1.0), "'eps' parameter of PGD"),
    (PGD(eps=NAN), "'eps' parameter of PGD"),
    (PGD(eps=np.inf), "'eps' parameter of PGD"),
    (PGD(eps_step=NAN), "'eps_step' parameter of PGD"),
    (GaussianNoise(eps=-0.1), "'eps' parameter of GaussianNoise"),
    (GaussianNoise(eps=NAN), "'eps' parameter of GaussianNoise"),
    (GaussianNoise(sigma=NAN), "'sigma' parameter of GaussianNoise"),
    (CarliniWagnerL2(initial_const=NAN), "'initial_const' parameter of CarliniWagnerL2"),
    (CarliniWagnerL2(lr=NAN), "'lr' parameter of CarliniWagnerL2"),
    (PGD(clip_values=(NAN, 1.0)), "clip_values must be 'auto', None or \\(low, high\\)"),
    (GaussianNoise(clip_values=(1.0, 0.0)), "clip_values must be 'auto', None or \\(low, high\\)"),
    (_mm(clip_values=(0.0,)), "clip_values must be 'auto', None or \\(low, high\\)"),
], ids=lambda v: type(v).__name__ if not isinstance(v, str) else "")
def test_bad_attack_parameters(attack, pattern):
    with pytest.raises(ValueError, match=pattern):
        UAEGenerator(_ae(), attack).fit(X)


@pytest.mark.parametrize("name", SKORCH + META)
def test_batch_size_zero(name):
    with pytest.raises(ValueError, match="batch_size"):
        _fit(ESTIMATORS[name][0](batch_size=0), X)


# ConcreteAutoencoderNet.transform is a column selection: no batches to size
@pytest.mark.parametrize("name", ["AutoencoderNet", "ClassifierNet", "ContrastiveNet"])
def test_batch_size_zero_set_after_fit(fitted, name):
    import copy

    est = copy.deepcopy(fitted[name]).set_params(batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        _output(est, X)


@pytest.mark.parametrize("name", SKORCH)
def test_batch_size_minus_one_means_all_rows(fitted, name):
    import copy

    est = copy.deepcopy(fitted[name])
    ref = _output(est, X)
    np.testing.assert_allclose(_output(est.set_params(batch_size=-1), X), ref, atol=1e-6)


@pytest.mark.parametrize("device, pattern", [("tpu", "not a valid torch device"),
                                             ("cuda:0", "CUDA")])
@pytest.mark.parametrize("name", SKORCH + META)
def test_unknown_or_absent_device(name, device, pattern):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match=f"device='{device}'.*{pattern}"):
        _fit(ESTIMATORS[name][0](device=device), X)


def test_lmnnpl_unknown_device():
    with pytest.raises(ValueError, match="'device' parameter of LMNNPL"):
        LMNNPL(device="tpu").fit(X, Y)


def test_prefit_estimator_of_another_width():
    ae = _ae().fit(X)
    with pytest.raises(ValueError, match="fitted on 6"):
        UAEGenerator(ae, _mm(), prefit=True).fit(X[:, :4])


def test_generate_labels_checked(fitted):
    gen = fitted["UAEGenerator-PGD"]
    with pytest.raises(ValueError, match="y has 23 rows but X has 24"):
        gen.generate(X, Y[:-1])
    with pytest.raises(ValueError, match="not among the classes"):
        gen.generate(X, Y + 5)


def test_outputs_are_finite(fitted):
    for name, est in fitted.items():
        out = _output(est, X)
        if out.dtype.kind == "f":
            assert np.all(np.isfinite(out)), name


# --------------------------------------------------------------------- metrics
@pytest.mark.parametrize("call, pattern", [
    (lambda: metrics.distortion(X, X[:, :4]), "one shape"),
    (lambda: metrics.distortion(X, np.full_like(X, NAN)), "X_adv contains NaN"),
    (lambda: metrics.distortion(_with(X), X), "X contains NaN"),
    (lambda: metrics.distortion(X[:0], X[:0]), "empty"),
    (lambda: metrics.cosine_similarity(X, _with(X, value=np.inf)), "infinite"),
    (lambda: metrics.mine_similarity(X, np.full_like(X, NAN)), "NaN"),
    (lambda: metrics.ssim(X, X, (2, 2)), "image_shape"),
    (lambda: metrics.attack_success_rate(Y, Y[:-1]), "one length"),
    (lambda: metrics.attack_success_rate([], []), "empty"),
    (lambda: metrics.robust_accuracy(_clf(), X, Y, PGD(max_iter=1)), "not fitted"),
    (lambda: certified_radius(X, Y, X[:2, :4], Y[:2]), "features of X_train"),
    (lambda: certified_radius(X, Y[:-1], X[:2], Y[:2]), "inconsistent numbers"),
    (lambda: certified_radius(X, Y, np.full((2, 6), NAN), Y[:2]), "NaN"),
    (lambda: certified_radius(X, Y, X[:2], Y[:2], n_neighbors=0), "n_neighbors=0"),
], ids=["dist-shape", "dist-nan-adv", "dist-nan", "dist-empty", "cos-inf", "mine-nan",
        "ssim-shape", "asr-len", "asr-empty", "robacc-unfitted", "cert-width", "cert-ylen",
        "cert-nan", "cert-k0"])
def test_metrics_bad_input(call, pattern):
    with pytest.raises((ValueError, NotFittedError), match=pattern):
        call()


# ------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("argv, message", [
    (["generate", "--eps", "-0.1"], "'eps' parameter"),
    (["generate", "--eps", "nan"], "'eps' parameter"),
    (["generate", "--batch-size", "0"], "'batch_size' parameter"),
    (["generate", "--n-samples", "0"], "--n-samples must be at least 1"),
    (["generate", "--epochs", "0"], "--epochs must be at least 1"),
    (["generate", "--hidden-units", "0"], "--hidden-units must be at least 1"),
    (["generate", "--max-iter", "0"], "'max_iter' parameter"),
    (["augment", "--eps", "nan"], "'eps' parameter"),
    (["augment", "--ratio", "2"], "'ratio' parameter"),
    (["augment", "--batch-size", "0"], "'batch_size' parameter"),
    (["augment", "--device", "tpu"], "device='tpu'"),
    (["augment", "--n-train", "-5"], "--n-train must be at least 1"),
    (["augment", "--n-test", "0"], "--n-test must be at least 1"),
])
def test_cli_bad_options(argv, message, capsys, tmp_path):
    # every run stops before training: tiny settings guard against a slow pass
    tiny = (["--epochs", "1", "--max-iter", "1"] if "--epochs" not in argv
            and "--max-iter" not in argv else [])
    extra = ["--n-samples", "2"] if argv[0] == "generate" and "--n-samples" not in argv else []
    if argv[0] == "augment":
        extra = ["--seeds", "1", "--methods", "none,uae", "--no-plots"]
        if "--n-train" not in argv and "--n-test" not in argv:
            extra += ["--n-train", "20", "--n-test", "10"]
    assert main(argv + tiny + extra + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    usage, error = err.rsplit("\n", 1)  # the usage line(s), then the error on one line
    assert usage.startswith("usage: sk-uae") and error.startswith("sk-uae: error:")
    assert message in error


@pytest.mark.parametrize("content, message", [
    ("label\n1\n0\n", "no feature columns"),  # string columns are fine: they are encoded
    ("a,b,label\n1,nan,0\n0.5,0.2,1\n", "missing values in columns ['b']"),
    ("a,b,label\n1,inf,0\n0.5,0.2,1\n", "infinite values"),
    ("a,b\n", "no data rows"),
    ("", "is empty"),
])
def test_cli_bad_csv(content, message, capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["generate", "--data", f"csv:{path}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    usage, error = err.rsplit("\n", 1)  # the usage line(s), then the error on one line
    assert usage.startswith("usage: sk-uae") and error.startswith("sk-uae: error:")
    assert message in error


def test_more_bad_arguments_named():
    from sk_uae.attacks import resolve_objective
    from sk_uae.mine import estimate_mi

    X = np.random.RandomState(0).rand(6, 10).astype(np.float32)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            estimate_mi(X, X, batch_size=bad)
    ae = AutoencoderNet(max_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="confidence"):
        resolve_objective(ae, confidence=0.5)
    with pytest.raises(ValueError, match="classes must not repeat"):
        ClassifierNet(max_epochs=1, classes=["a", "a", "b"]).fit(X, ["a", "b"] * 3)
