"""The command line on tiny settings: files written, errors with the usage line."""

import argparse
import json

import numpy as np
import pytest

import sk_uae
from sk_uae.cli import main
from sk_uae.mine import _native


def test_augment_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["augment", "--seeds", "2", "--epochs", "2",
               "--max-iter", "2", "--n-train", "120", "--n-test", "60", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["summary"]) == {"none", "duplicate", "noise", "pgd", "uae"}
    assert len(res["runs"]) == 2 and all(np.isfinite(r["scores"]["uae"]) for r in res["runs"])
    assert 0 <= res["runs"][0]["uae"]["success_rate"] <= 1
    for name in ("scores.png", "uae_examples.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "test reconstruction MSE, lower is better" in printed
    assert "mean +- std over 2 seed(s); 'none' trains as many optimiser steps" in printed
    assert "difference to none (paired t-test)" in printed and "UAE success rate" in printed
    tests = res["paired_tests_vs_none"]
    assert set(tests) == {"duplicate", "noise", "pgd", "uae"}
    assert all(0 <= t["p"] <= 1 and t["n"] == 2 for t in tests.values() if t["p"] is not None)
    assert res["command"][:2] == ["sk-uae", "augment"] and res["wall_seconds"] > 0


def test_augment_continue_gives_every_method_the_same_rows(tmp_path):
    out = tmp_path / "continue"
    assert main(["augment", "--retrain", "continue", "--ratio", "0.5", "--seeds", "1",
                 "--epochs", "2", "--max-iter", "2", "--n-train", "120", "--n-test", "60",
                 "--out", str(out), "--no-plots"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["retrain"] == "continue" and "(2 + ratio)" in res["step_budget"]
    # 2 epochs on 120 rows (1 batch), then 2 on 180 (2 batches): 6 steps; none: 6 epochs
    assert res["runs"][0]["steps"] == {m: 6 for m in res["summary"]}
    assert res["runs"][0]["samples_seen"]["duplicate"] == 600


def test_generate_writes_examples(tmp_path):
    out = tmp_path / "gen"
    assert main(["generate", "--n-samples", "16", "--max-iter", "2", "--epochs", "1",
                 "--out", str(out)]) == 0
    assert np.load(out / "uae.npy").shape == (16, 64)
    assert "success_rate" in json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("argv, message", [
    (["augment", "--methods", "none,bogus"], "unknown methods ['bogus']"),
    (["augment", "--task", "nope"], "argument --task: invalid choice: 'nope'"),
    (["augment", "--model", "transformer"], "model 'transformer'"),
    (["augment", "--data", "csv:missing.csv"], "not found"),
    (["augment", "--data", "mnist"], "--data-dir"),
    (["augment", "--seeds", "0"], "--seeds"),
    (["augment", "--n-train", "5000"], "exceed"),
    (["augment", "--retrain", "warm"], "argument --retrain: invalid choice: 'warm'"),
])
def test_bad_options_give_one_line_errors(argv, message, capsys, tmp_path):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "checkpoint.json").write_text('{"fingerprint": "of other options", "records": {}}')
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    usage, error = err.rsplit("\n", 1)  # the usage line(s), then the error on one line
    assert usage.startswith("usage: sk-uae") and error.startswith("sk-uae: error:")
    assert message in error
    # a run stopped by a bad option leaves the output folder as it was
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.json"]
    assert "other options" in (out / "checkpoint.json").read_text()


def test_csv_data(tmp_path):
    rng = np.random.RandomState(0)
    data = np.column_stack([rng.rand(80, 5), rng.randint(0, 2, 80)])
    path = tmp_path / "d.csv"
    np.savetxt(path, data, delimiter=",", header="a,b,c,d,e,label", comments="")
    out = tmp_path / "csv"
    assert main(["augment", "--data", f"csv:{path}", "--methods", "none,uae", "--seeds", "1",
                 "--epochs", "1", "--max-iter", "2", "--out", str(out), "--no-plots"]) == 0
    assert json.loads((out / "results.json").read_text())["n_train"] == 60


@pytest.mark.parametrize("task, model", [("representation", "concrete"), ("contrastive", "mlp")])
def test_augment_other_tasks(tmp_path, task, model):
    out = tmp_path / task
    assert main(["augment", "--task", task, "--model", model, "--methods", "none,pgd,uae",
                 "--seeds", "1", "--epochs", "1", "--max-iter", "2", "--n-train", "150",
                 "--n-test", "80", "--out", str(out), "--no-plots"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["higher_is_better"] is True
    assert all(0 <= res["summary"][m]["mean"] <= 1 for m in ("none", "pgd", "uae"))


def test_representation_task_needs_labels(tmp_path):
    path = tmp_path / "nolabel.csv"
    np.savetxt(path, np.random.RandomState(0).rand(30, 4), delimiter=",", header="a,b,c,d",
               comments="")
    assert main(["augment", "--data", f"csv:{path}", "--task", "representation",
                 "--model", "concrete"]) == 2


def _resumable_argv(out, epochs="3"):
    return ["augment", "--seeds", "2", "--epochs", epochs, "--max-iter", "2", "--n-train", "200",
            "--n-test", "60", "--no-plots", "--out", str(out)]


def _n_records(out):
    try:
        records = json.loads((out / "checkpoint.json").read_text())["records"]
    except (OSError, ValueError):
        return 0
    return sum(len(r) for r in records.values())


class _FitCounter:
    """Counts the augmenter fits of compare_augmentations (one per method computed)."""

    def __init__(self, monkeypatch):
        from sk_uae import evaluation

        self.calls = 0
        original = evaluation.UAEAugmenter.fit

        def counting(aug, *args, **kw):
            self.calls += 1
            return original(aug, *args, **kw)

        monkeypatch.setattr(evaluation.UAEAugmenter, "fit", counting)


@pytest.mark.slow
def test_a_killed_augment_resumes_to_the_same_results(tmp_path, monkeypatch):
    import subprocess
    import sys
    import time

    ref = tmp_path / "uninterrupted"
    assert main(_resumable_argv(ref)) == 0
    out = tmp_path / "killed"
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "sk_uae.cli", *_resumable_argv(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while _n_records(out) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    finished = _n_records(out)
    assert 3 <= finished < 10 and not (out / "results.json").exists(), finished
    counter = _FitCounter(monkeypatch)
    assert main(_resumable_argv(out)) == 0
    assert counter.calls == 10 - finished  # the finished (seed, method) pairs are skipped
    assert _results(out) == _results(ref)


def test_a_changed_option_starts_afresh(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert main(_resumable_argv(out, epochs="2")) == 0
    counter = _FitCounter(monkeypatch)
    assert main(_resumable_argv(out, epochs="3")) == 0
    assert counter.calls == 10  # nothing of the 2-epoch run is reused
    assert "started afresh" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    assert main(_resumable_argv(fresh, epochs="3")) == 0
    assert _results(out) == _results(fresh)
    counter.calls = 0
    assert main(_resumable_argv(out, epochs="3")) == 0  # all done: nothing recomputed
    assert counter.calls == 0


@pytest.mark.skipif(_native.library() is None, reason="the compiled MINE step is not built here")
def test_a_resume_with_another_engine_starts_afresh(tmp_path, monkeypatch, capsys):
    import sklearn
    import torch

    import sk_uae

    out = tmp_path / "run"
    assert main(_resumable_argv(out)) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["engine"] == "native" and res["attack"]["mine_backend"] == "auto"
    assert res["versions"] == {"sk_uae": sk_uae.__version__, "torch": torch.__version__,
                               "numpy": np.__version__, "sklearn": sklearn.__version__}
    # the same command on a machine without the compiled step: the torch engine
    monkeypatch.setattr(_native, "library", lambda: None)
    counter = _FitCounter(monkeypatch)
    assert main(_resumable_argv(out)) == 0
    assert counter.calls == 10  # nothing of the native run is reused
    assert "started afresh" in capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["engine"] == "fused"


def _results(out):
    """results.json without what differs between two runs of the same results."""
    res = json.loads((out / "results.json").read_text())
    return {k: v for k, v in res.items() if k not in ("command", "wall_seconds")}


def _breast_cancer_csv(tmp_path, standardise=False):
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    d = load_breast_cancer()
    X = StandardScaler().fit_transform(d.data) if standardise else d.data
    path = tmp_path / "bc.csv"
    np.savetxt(path, np.column_stack([X[:240], d.target[:240]]), delimiter=",", comments="",
               header=",".join([f"f{j}" for j in range(X.shape[1])] + ["label"]), fmt="%.8g")
    return path


@pytest.mark.parametrize("standardise, scale", [(False, "auto"), (True, "none")],
                         ids=["raw", "standardised"])
def test_a_raw_or_standardised_csv_gives_a_meaningful_main_job(tmp_path, standardise, scale):
    """Raw columns in the thousands once gave success 1.000 and distortion 0.0000."""
    path = _breast_cancer_csv(tmp_path, standardise)
    out = tmp_path / "out"
    assert main(["augment", "--data", f"csv:{path}", "--methods", "none,uae", "--seeds", "1",
                 "--epochs", "10", "--max-iter", "10", "--scale", scale, "--out", str(out),
                 "--no-plots"]) == 0
    uae = json.loads((out / "results.json").read_text())["runs"][0]["uae"]
    assert 0 < uae["success_rate"] < 1
    assert uae["distortion_linf_mean"] > 1e-3


def test_generate_writes_a_csv_of_the_input_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    n = 90
    table = pd.DataFrame({"city": rng.choice(["Oslo", "Lima", "Pune"], n),
                          "visits": rng.poisson(3, n), "age": rng.randint(18, 80, n),
                          "spend": rng.lognormal(3, 1, n), "label": rng.randint(0, 2, n)})
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "gen"
    assert main(["generate", "--data", f"csv:{path}", "--n-samples", "40", "--epochs", "3",
                 "--max-iter", "4", "--immutable", "age", "--out", str(out)]) == 0
    uaes = pd.read_csv(out / "uaes.csv")
    assert list(uaes.columns) == list(table.columns) and len(uaes) == 40
    assert set(uaes["city"]) <= set(table["city"])
    np.testing.assert_array_equal(uaes["age"], table["age"][:40])
    np.testing.assert_array_equal(uaes["label"], table["label"][:40])
    assert uaes["visits"].dtype.kind == "i"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["constraint_satisfaction"] == 1.0
    assert main(["generate", "--data", f"csv:{path}", "--immutable", "nope",
                 "--out", str(out)]) == 2


def test_help_names_every_option_with_text_and_default(capsys):
    from sk_uae.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        for action in command._actions:
            if action.dest in ("help",):
                continue
            assert action.help, f"{name} {action.option_strings} has no help text"
            if action.default is None:  # the help says what happens without it
                assert "default" in action.help, (name, action.option_strings)
        text = command.format_help()
        eps = "0.1" if name == "robustness" else "0.3"  # training budget / the UAE attack's
        assert f"(default: {eps})" in text and "(default: sk_uae_out)" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"sk-uae {sk_uae.__version__}"


def test_abbreviations_are_refused_and_errors_show_the_usage(capsys, tmp_path):
    assert main(["augment", "--epoch", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: sk-uae augment") and "unrecognized arguments: --epoch" in err


def test_the_parser_tables_are_the_library_tables():
    from sk_uae import cli
    from sk_uae._augmenter import RETRAIN_MODES
    from sk_uae.callbacks import EVERY
    from sk_uae.evaluation import METHODS, ROBUSTNESS_MODELS, TASKS, TRAINING_ATTACKS
    from sk_uae.metrics import DEFAULT_EPS
    from sk_uae.tabular import SCALERS

    assert set(cli.TASK_NAMES) == set(TASKS) and cli.METHOD_NAMES == METHODS
    assert cli.RETRAIN_NAMES == RETRAIN_MODES and cli.SCALE_NAMES == SCALERS
    assert cli.ROBUSTNESS_MODEL_NAMES == tuple(ROBUSTNESS_MODELS)
    assert cli.TRAINING_ATTACK_NAMES == TRAINING_ATTACKS and cli.EVERY_NAMES == EVERY
    assert tuple(float(e) for e in cli.EPS_GRID.split(",")) == DEFAULT_EPS


def test_help_answers_without_loading_torch():
    import subprocess
    import sys

    code = ("import sys; from sk_uae.cli import main\n"
            "for command in ('augment', 'robustness'):\n"
            "    try:\n        main([command, '--help'])\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn'))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_an_unwritable_out_fails_before_any_work(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["augment", "--out", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    monkeypatch.setattr("os.access", lambda path, mode: False)  # as a user without rights
    assert main(["generate", "--out", str(tmp_path / "new" / "out")]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_resumed_run_says_so(tmp_path, capsys):
    argv = ["augment", "--seeds", "1", "--epochs", "1", "--max-iter", "2", "--methods",
            "none,uae", "--n-train", "60", "--n-test", "30", "--no-plots", "--out",
            str(tmp_path)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 0
    assert "resumed 2 of 2 results from" in capsys.readouterr().err


def test_robustness_writes_both_curves(tmp_path, capsys):
    out = tmp_path / "rob"
    assert main(["robustness", "--model", "classifier", "--n-train", "200", "--n-test", "60",
                 "--epochs", "2", "--max-iter", "2", "--eps-grid", "0,0.1,0.2",
                 "--out", str(out)]) == 0
    res = json.loads((out / "robustness.json").read_text())
    assert res["kind"] == "classifier" and res["greater_is_better"] == {"accuracy": True}
    for name in ("none", "adversarial"):
        curve = res["curves"][name]
        assert curve["eps"] == [0.0, 0.1, 0.2] and all(0 <= a <= 1 for a in curve["accuracy"])
    adv = res["training"]["adversarial"]
    assert adv["adv_rows"] == 2 * 200 and adv["adv_iterations"] == 2 * 200 * 2
    assert adv["rows_seen"] == 2 * res["training"]["none"]["rows_seen"]
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "accuracy (higher is more robust)" in printed and "rows attacked" in printed


@pytest.mark.parametrize("model", ["concrete", "contrastive"])
def test_robustness_of_an_encoder_has_a_probe(tmp_path, model):
    out = tmp_path / model
    assert main(["robustness", "--model", model, "--n-train", "150", "--n-test", "60",
                 "--epochs", "1", "--max-iter", "2", "--eps-grid", "0,0.2", "--no-plots",
                 "--out", str(out)]) == 0
    res = json.loads((out / "robustness.json").read_text())
    assert res["kind"] == "encoder"
    curve = res["curves"]["adversarial"]
    assert curve["shift_l2"][0] == 0 and curve["shift_l2"][1] > 0
    assert 0 <= curve["probe_accuracy"][1] <= 1


def test_robustness_autoencoder_writes_strict_json(tmp_path):
    out = tmp_path / "ae"
    assert main(["robustness", "--n-train", "120", "--n-test", "40", "--epochs", "1",
                 "--max-iter", "2", "--eps-grid", "0,0.2", "--attack", "noise", "--no-plots",
                 "--out", str(out)]) == 0
    text = (out / "robustness.json").read_text()
    assert "NaN" not in text  # the UAE success rate of budget 0 is null
    res = json.loads(text)
    assert res["curves"]["none"]["uae_success_rate"][0] is None
    assert not (out / "robustness.png").exists()


def test_robustness_of_a_mixed_table_keeps_its_categories(tmp_path, monkeypatch):
    """A CSV's one-hot categories are constraints of the training and the curves' attacks."""
    pd = pytest.importorskip("pandas")
    import sk_uae.evaluation

    rng = np.random.RandomState(0)
    n = 120
    table = pd.DataFrame({"city": rng.choice(["Oslo", "Lima", "Pune"], n),
                          "spend": rng.lognormal(3, 1, n), "age": rng.randint(18, 80, n)})
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    seen = []
    compare = sk_uae.evaluation.compare_robustness

    def recording(*args, **kwargs):
        seen.append(kwargs["constraints"])
        return compare(*args, **kwargs)

    monkeypatch.setattr(sk_uae.evaluation, "compare_robustness", recording)
    out = tmp_path / "mixed"
    assert main(["robustness", "--data", f"csv:{path}", "--n-train", "80", "--n-test", "40",
                 "--epochs", "1", "--max-iter", "2", "--eps-grid", "0,0.2", "--no-plots",
                 "--out", str(out)]) == 0
    (constraints,) = seen
    assert [len(g) for g in constraints.one_hot] == [3]
    assert json.loads((out / "robustness.json").read_text())["kind"] == "autoencoder"


@pytest.mark.parametrize("argv, message", [
    (["robustness", "--eps-grid", "0,x"], "--eps-grid"),
    (["robustness", "--eps-grid", "-0.1"], "non-negative"),
    (["robustness", "--model", "tree"], "argument --model: invalid choice: 'tree'"),
    (["robustness", "--immutable", "a"], "unrecognized arguments: --immutable"),
])
def test_robustness_bad_options(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
