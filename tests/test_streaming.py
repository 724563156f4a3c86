"""UAEGenerator.generate_to: sharded, checksummed, resumable output."""

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import fast_attack
from sk_uae import UAEGenerator
from sk_uae.mine import _native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_ROWS, SHARD = 192, 48  # 4 shards


@pytest.fixture(scope="module")
def gen(prefit_gen, digits):
    # float64: shards of 48 rows are not whole batches of 32, and other batch
    # shapes must not round differently (see test_minmax)
    return UAEGenerator(prefit_gen.estimator_, attack=prefit_gen.attack, prefit=True,
                        batch_size=32, random_state=0, precision="float64").fit(digits[0][:600])


@pytest.fixture(scope="module")
def rows(digits):
    X, _ = digits
    return np.ascontiguousarray(X[1000:1000 + N_ROWS])


class RowCounter:
    """Counts the rows that UAEGenerator._perturb really attacks."""

    def __init__(self, monkeypatch):
        self.rows = 0
        original = UAEGenerator._perturb

        def counting(gen, model, attack, X, *args, **kw):
            self.rows += X.shape[0]
            return original(gen, model, attack, X, *args, **kw)

        monkeypatch.setattr(UAEGenerator, "_perturb", counting)


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _manifest(path):
    with open(os.path.join(path, "manifest.json")) as fh:
        return json.load(fh)


def _mtimes(path, indices):
    names = [f"shard_{i:05d}{ext}" for i in indices for ext in (".npy", ".info.npy")]
    return {n: os.stat(os.path.join(path, n)).st_mtime_ns for n in names}


def test_generate_to_equals_generate(gen, rows, tmp_path):
    X_ref, info_ref = gen.generate(rows)
    X_adv, info = gen.generate_to(tmp_path / "out", rows, shard_size=SHARD, return_info=True)
    assert isinstance(X_adv, np.memmap) and not X_adv.flags.writeable
    assert X_adv.dtype == rows.dtype and X_adv.shape == rows.shape
    np.testing.assert_array_equal(X_adv, X_ref)
    for key, ref in info_ref.items():
        np.testing.assert_array_equal(info[key], ref)
    manifest = _manifest(tmp_path / "out")
    assert manifest["complete"] and manifest["n_shards"] == N_ROWS // SHARD
    assert sorted(manifest["shards"]) == [str(i) for i in range(N_ROWS // SHARD)]
    assert manifest["header"]["seed"] == 0


def test_second_call_reuses_every_shard(gen, rows, tmp_path, monkeypatch):
    out = tmp_path / "out"
    gen.generate_to(out, rows, shard_size=SHARD)
    before = _read(out / "X_adv.npy")
    counter = RowCounter(monkeypatch)
    gen.generate_to(out, rows, shard_size=SHARD)
    assert counter.rows == 0
    assert _read(out / "X_adv.npy") == before
    gen.generate_to(out, rows, shard_size=SHARD, resume=False)
    assert counter.rows == N_ROWS  # resume=False recomputes everything
    assert _read(out / "X_adv.npy") == before


KILL_SCRIPT = textwrap.dedent("""
    import pickle, sys, time
    import numpy as np
    import torch
    torch.set_num_threads(1)
    import sk_uae._streaming as st

    write_shard = st.write_shard

    def slow_write_shard(*args, **kw):  # leave the test time to kill us mid-run
        entry = write_shard(*args, **kw)
        time.sleep(1.0)
        return entry

    st.write_shard = slow_write_shard
    with open(sys.argv[1], "rb") as fh:
        gen = pickle.load(fh)
    X = np.load(sys.argv[2])
    gen.generate_to(sys.argv[3], X, shard_size=int(sys.argv[4]))
""")


@pytest.mark.slow
def test_kill_and_resume_is_byte_identical(gen, rows, tmp_path, monkeypatch):
    # reference: an uninterrupted run
    ref = tmp_path / "ref"
    gen.generate_to(ref, rows, shard_size=SHARD, return_info=True)

    # a subprocess runs the same call and is killed after >= 1 shard is recorded
    with open(tmp_path / "gen.pkl", "wb") as fh:
        pickle.dump(gen, fh)
    np.save(tmp_path / "X.npy", rows)
    (tmp_path / "run.py").write_text(KILL_SCRIPT)
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "run.py"), str(tmp_path / "gen.pkl"),
         str(tmp_path / "X.npy"), str(out), str(SHARD)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    done = {}
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "manifest.json").exists():
                try:
                    done = _manifest(out)["shards"]
                except ValueError:  # never half-written (atomic rename), but be safe
                    done = {}
                if done:
                    break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        output = proc.communicate()[0].decode(errors="replace")
    assert done, f"the subprocess recorded no shard before it ended:\n{output}"
    manifest = _manifest(out)
    assert not manifest["complete"], "the subprocess finished before it was killed"
    finished = sorted(int(i) for i in manifest["shards"])
    assert 1 <= len(finished) < N_ROWS // SHARD
    mtimes = _mtimes(out, finished)

    counter = RowCounter(monkeypatch)
    X_adv, info = gen.generate_to(out, rows, shard_size=SHARD, return_info=True)
    assert counter.rows == N_ROWS - SHARD * len(finished)  # finished shards not recomputed
    assert _mtimes(out, finished) == mtimes
    assert _read(out / "X_adv.npy") == _read(ref / "X_adv.npy")
    assert _read(out / "info.npy") == _read(ref / "info.npy")
    assert _manifest(out)["complete"]


def test_corrupted_shard_is_redone(gen, rows, tmp_path, monkeypatch):
    out = tmp_path / "out"
    gen.generate_to(out, rows, shard_size=SHARD)
    good = _read(out / "X_adv.npy")
    shard = out / "shard_00001.npy"
    data = bytearray(_read(shard))
    data[-5:] = bytes(b ^ 0xFF for b in data[-5:])  # flip bytes of the last row
    shard.write_bytes(bytes(data))
    counter = RowCounter(monkeypatch)
    gen.generate_to(out, rows, shard_size=SHARD)
    assert counter.rows == SHARD  # only shard 1
    assert _read(out / "X_adv.npy") == good
    assert _read(shard) != bytes(data)


def test_missing_info_file_is_redone(gen, rows, tmp_path, monkeypatch):
    out = tmp_path / "out"
    gen.generate_to(out, rows, shard_size=SHARD)
    good = _read(out / "info.npy")
    os.remove(out / "shard_00002.info.npy")
    counter = RowCounter(monkeypatch)
    gen.generate_to(out, rows, shard_size=SHARD)
    assert counter.rows == SHARD
    assert _read(out / "info.npy") == good


def test_other_parameters_are_not_mixed_in(gen, rows, tmp_path, monkeypatch):
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    gen.generate_to(out, rows, shard_size=SHARD)
    old = _read(out / "X_adv.npy")
    other = UAEGenerator(gen.estimator_, attack=fast_attack(max_iter=4, eps=0.005), prefit=True,
                         batch_size=32, random_state=0).fit(rows)
    counter = RowCounter(monkeypatch)
    other.generate_to(out, rows, shard_size=SHARD)
    assert counter.rows == N_ROWS  # every shard's fingerprint differs
    other.generate_to(fresh, rows, shard_size=SHARD)
    assert _read(out / "X_adv.npy") == _read(fresh / "X_adv.npy") != old
    assert _manifest(out)["header"]["attack"]["params"]["eps"] == 0.005


def test_the_manifest_records_the_engine_and_the_versions(gen, rows, tmp_path):
    import sklearn
    import torch

    import sk_uae

    gen.generate_to(tmp_path / "out", rows[:SHARD], shard_size=SHARD)
    header = _manifest(tmp_path / "out")["header"]
    assert header["engine"] == gen.attack_.engine_for("cpu", gen.estimator_)
    assert header["engine"] in ("native", "fused")
    assert header["attack"]["params"]["mine_backend"] == "auto"
    assert header["versions"] == {"sk_uae": sk_uae.__version__, "torch": torch.__version__,
                                  "numpy": np.__version__, "sklearn": sklearn.__version__}


@pytest.mark.skipif(_native.library() is None, reason="the compiled MINE step is not built here")
def test_a_resume_with_another_engine_recomputes_every_shard(gen, rows, tmp_path, monkeypatch):
    # the same parameters (mine_backend="auto") on a machine without the compiled
    # step run the torch engine: its shards must not be mixed with the native ones
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    gen.generate_to(out, rows, shard_size=SHARD)
    assert _manifest(out)["header"]["engine"] == "native"
    counter = RowCounter(monkeypatch)
    monkeypatch.setattr(_native, "library", lambda: None)
    gen.generate_to(out, rows, shard_size=SHARD)
    assert counter.rows == N_ROWS  # every shard recomputed
    assert _manifest(out)["header"]["engine"] == "fused"
    gen.generate_to(out, rows, shard_size=SHARD)
    assert counter.rows == N_ROWS  # the same engine again: every shard reused
    gen.generate_to(fresh, rows, shard_size=SHARD)
    assert _read(out / "X_adv.npy") == _read(fresh / "X_adv.npy")


def test_other_seed_and_other_rows_are_redone(gen, rows, tmp_path, monkeypatch):
    out = tmp_path / "out"
    gen.generate_to(out, rows, shard_size=SHARD)
    counter = RowCounter(monkeypatch)
    changed = rows.copy()
    changed[SHARD + 3] = 1.0 - changed[SHARD + 3]  # one row of shard 1
    gen.generate_to(out, changed, shard_size=SHARD)
    assert counter.rows == SHARD
    reseeded = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True, batch_size=32,
                            random_state=1).fit(rows)
    reseeded.generate_to(out, changed, shard_size=SHARD)
    assert counter.rows == SHARD + N_ROWS


def test_other_model_weights_are_redone(gen, rows, tmp_path, monkeypatch):
    import copy

    import torch

    out = tmp_path / "out"
    gen.generate_to(out, rows, shard_size=SHARD)
    other = copy.deepcopy(gen)
    with torch.no_grad():
        next(other.estimator_.module_.parameters()).add_(1e-3)
    counter = RowCounter(monkeypatch)
    other.generate_to(out, rows, shard_size=SHARD)
    assert counter.rows == N_ROWS


def test_memory_mapped_input_and_labels(gen, rows, tmp_path):
    np.save(tmp_path / "X.npy", rows)
    X_mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    y = np.arange(N_ROWS) % 10
    X_adv = gen.generate_to(tmp_path / "out", X_mm, y, shard_size=SHARD)
    np.testing.assert_array_equal(X_adv, gen.generate(rows, return_info=False))


@pytest.mark.parametrize("random_state", [None, np.random.RandomState(0)])
def test_generate_to_needs_int_random_state(gen, rows, tmp_path, random_state):
    bad = UAEGenerator(gen.estimator_, attack=gen.attack, prefit=True,
                       random_state=random_state).fit(rows)
    with pytest.raises(ValueError, match="int random_state"):
        bad.generate_to(tmp_path / "out", rows)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shard_size", [0, -3, 2.5, "10", True])
def test_generate_to_bad_shard_size(gen, rows, tmp_path, shard_size):
    with pytest.raises(ValueError, match="shard_size must be an int >= 1"):
        gen.generate_to(tmp_path / "out", rows, shard_size=shard_size)


def test_generate_to_refuses_foreign_directory(gen, rows, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="without a generate_to manifest"):
        gen.generate_to(tmp_path, rows)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_generate_to_unfitted_and_wrong_features(rows, tmp_path, gen):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        UAEGenerator(random_state=0).generate_to(tmp_path / "a", rows)
    with pytest.raises(ValueError, match="features"):
        gen.generate_to(tmp_path / "b", rows[:, :10])


def test_generate_to_empty_input_like_generate(gen, rows, tmp_path):
    with pytest.raises(ValueError, match="0 sample"):
        gen.generate(rows[:0])
    with pytest.raises(ValueError, match="0 sample"):
        gen.generate_to(tmp_path / "out", rows[:0])
