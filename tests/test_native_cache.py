"""The compiled MINE step's cache: what is loaded, what is rebuilt, what is refused.

The library is built once (a module fixture, with the real compiler); every
test gets its own cache folder and, as ``$CXX``, a stand-in compiler that
answers ``--version`` like the real one (so the library's name is the same)
and "builds" by copying the good library, logging each build. Whatever could
crash (loading a damaged file) runs in a subprocess.
"""

import os
import shutil
import stat
import subprocess
import sys
import threading
import warnings

import pytest
import torch

from sk_uae.mine import FusedStatisticsNetworks, _native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux")
                                or shutil.which("c++") is None,
                                reason="the compiled MINE step needs Linux and a C++ compiler")

# loads _native.py alone (the sk_uae package's imports cost seconds per
# process), then, with the library, trains and takes the gradient in the
# pairs on the inputs in argv[2], saved to argv[3] for the test to compare
# with the torch step
RUN = r"""
import importlib.util, logging, sys, warnings
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="LOG %(message)s")
warnings.simplefilter("always")
spec = importlib.util.spec_from_file_location("native_alone", sys.argv[1])
_native = importlib.util.module_from_spec(spec)
spec.loader.exec_module(_native)
import torch
if _native.library() is None:
    print("TORCH")
    sys.exit(0)
pairs, theta, m, v, perms, hidden = torch.load(sys.argv[2])
mi_b, grad_b = _native.bounds_and_grads(pairs, theta, perms[0], hidden, in_pairs=True)
mi_t = _native.train(pairs, theta, m, v, perms, torch.argsort(perms, 1), 1,
                     (1e-2, 0.9, 0.999, 1e-8), hidden)
torch.save((mi_b, grad_b, mi_t, theta), sys.argv[3])
print("NATIVE")
"""
NATIVE_PY = os.path.join(ROOT, "sk_uae", "mine", "_native.py")


def _expected(inputs):
    """The torch step's results on the inputs saved to ``inputs``."""
    pairs, theta, m, v, perms, hidden = torch.load(inputs)
    nets = FusedStatisticsNetworks(pairs.shape[0], pairs.shape[3], hidden, lr=1e-2,
                                   native=False)
    for dst, src in zip(nets.theta, theta):
        dst.copy_(src)
    a, b = pairs[:, 0], pairs[:, 1]
    mi_b, grad_b = nets.estimate_and_grad(a, b, perms[0])
    mi_t = nets.train(a, b, perms)
    return mi_b, grad_b, mi_t, nets.theta


def _save_inputs(folder):
    folder.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(0)
    nets = FusedStatisticsNetworks(3, 4, (6, 3), native=False, generator=g)
    a = torch.randn(3, 8, 4, generator=g)
    b = 0.5 * a + torch.randn(3, 8, 4, generator=g)
    perms = torch.stack([torch.randperm(8, generator=g) for _ in range(3)])
    torch.save((torch.stack([a, b], 1).contiguous(), nets.theta, nets._m, nets._v, perms,
                nets.hidden_sizes), folder / "inputs.pt")
    return folder


def _load_and_run(folder_of_io, env=None, popen=False):
    """Start RUN in a subprocess (its inputs and outputs in ``folder_of_io``)."""
    args = [sys.executable, "-c", RUN, NATIVE_PY, str(folder_of_io / "inputs.pt"),
            str(folder_of_io / f"out-{os.urandom(6).hex()}.pt")]
    if popen:
        return subprocess.Popen(args, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE), args[-1]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"rc {done.returncode}: {done.stderr[-2000:]}"
    return done, args[-1]


def _check_results(inputs, outputs):
    for got, want in zip(torch.load(outputs), _expected(inputs)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The real build: ``(library name, its bytes, its checksum file's bytes)``."""
    folder = tmp_path_factory.mktemp("built")
    env = {**os.environ, "SK_UAE_CACHE_DIR": str(folder)}
    env.pop("CXX", None)
    env.pop("SK_UAE_NATIVE", None)
    io = _save_inputs(folder / "io")
    done, out = _load_and_run(io, env=env)
    if "NATIVE" not in done.stdout:
        pytest.skip(f"the compiled MINE step could not be built here: {done.stderr[-500:]}")
    _check_results(io / "inputs.pt", out)
    assert done.stderr.count("LOG built the compiled MINE step") == 1
    (so,) = folder.glob("mine_step_*.so")
    return so.name, so.read_bytes(), (folder / (so.name + ".sha256")).read_bytes()


@pytest.fixture
def cache(tmp_path, monkeypatch, built):
    """A fresh cache folder and the stand-in compiler; ``cache.builds()`` counts its builds."""
    name, _, _ = built

    class Cache:
        folder = tmp_path / "cache"
        log = tmp_path / "builds.log"
        good = tmp_path / "good.so"
        compiler = tmp_path / "fake-c++"
        io = _save_inputs(tmp_path / "io")
        so = folder / name
        sidecar = folder / (name + ".sha256")

        def fill(self):
            """Put the good library and its checksum in the cache."""
            self.folder.mkdir(mode=0o700, exist_ok=True)
            self.so.write_bytes(built[1])
            self.sidecar.write_bytes(built[2])
            os.chmod(self.so, 0o700)
            os.chmod(self.sidecar, 0o600)

        def builds(self):
            return len(self.log.read_text().splitlines()) if self.log.exists() else 0

        def run(self):
            """Load and run in a subprocess: it must end well, with the compiled step's
            results equal to the torch step's."""
            done, out = _load_and_run(self.io)
            assert "NATIVE" in done.stdout
            _check_results(self.io / "inputs.pt", out)
            return done

    c = Cache()
    c.good.write_bytes(built[1])
    c.compiler.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then exec c++ --version; fi\n'
        f'echo build >> "{c.log}"\n'
        'sleep "${FAKE_CXX_SLEEP:-0}"\n'
        'for arg; do out="$arg"; done\n'  # the last argument: the output file
        f'cp "{c.good}" "$out"\n')
    os.chmod(c.compiler, 0o755)
    monkeypatch.setenv("SK_UAE_CACHE_DIR", str(c.folder))
    monkeypatch.setenv("CXX", str(c.compiler))
    monkeypatch.delenv("SK_UAE_NATIVE", raising=False)
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setattr(_native, "_library", _native._UNSET)
    monkeypatch.setattr(_native, "_warned", set())
    return c


def _truncate(c):
    c.so.write_bytes(c.so.read_bytes()[: c.so.stat().st_size // 3])


def _garbage(c):
    data = bytearray(c.so.read_bytes())
    g = torch.Generator().manual_seed(0)
    start = len(data) // 8  # past the ELF header: into the code
    data[start:start + 4096] = torch.randint(0, 256, (4096,), generator=g,
                                             dtype=torch.uint8).numpy().tobytes()
    c.so.write_bytes(bytes(data))


def _wrong_checksum(c):
    c.sidecar.write_text("0" * 64 + "\n")


def _no_checksum(c):
    c.sidecar.unlink()


def _world_writable(c):
    os.chmod(c.so, 0o777)


def _foreign(c):
    os.chown(c.so, 65534, 65534)


def _foreign_checksum(c):
    os.chown(c.sidecar, 65534, 65534)


def _symlink(c):
    other = c.folder.parent / "elsewhere.so"
    os.replace(c.so, other)
    os.symlink(other, c.so)


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.mark.parametrize("damage, why", [
    (_truncate, "does not match the checksum"),
    (_garbage, "does not match the checksum"),
    (_wrong_checksum, "does not match the checksum"),
    (_no_checksum, "has no checksum file"),
    (_world_writable, "writable by its group or by everyone"),
    pytest.param(_foreign, "is owned by user 65534", marks=root_only),
    pytest.param(_foreign_checksum, "is owned by user 65534", marks=root_only),
    (_symlink, "symbolic link"),
], ids=["truncated", "garbage", "wrong-checksum", "no-checksum", "world-writable", "foreign",
        "foreign-checksum", "symlink"])
def test_a_bad_file_is_not_loaded_but_rebuilt(cache, damage, why):
    cache.fill()
    damage(cache)
    done = cache.run()
    assert "NATIVE" in done.stdout
    assert "RuntimeWarning" in done.stderr and why in done.stderr
    assert str(cache.so) in done.stderr  # the warning names the file
    assert cache.builds() == 1
    st = cache.so.stat()
    assert st.st_uid == os.geteuid() and not st.st_mode & 0o022 and not cache.so.is_symlink()
    if damage is _truncate:  # the rebuilt file is loaded as it is, in the next process
        again = cache.run()
        assert "RuntimeWarning" not in again.stderr and cache.builds() == 1


def test_a_good_file_is_loaded_without_a_build(cache):
    cache.fill()
    done = cache.run()
    assert "NATIVE" in done.stdout and "RuntimeWarning" not in done.stderr
    assert "LOG build" not in done.stderr and cache.builds() == 0


def test_the_folder_is_created_private_and_the_build_logged(cache, caplog):
    cache.folder = cache.folder / "deeper"
    os.environ["SK_UAE_CACHE_DIR"] = str(cache.folder)  # monkeypatch restores it
    with caplog.at_level("INFO", logger="sk_uae"):
        assert _native.library() is not None
    assert stat.S_IMODE(cache.folder.stat().st_mode) == 0o700
    messages = [r.getMessage() for r in caplog.records if r.name == "sk_uae"]
    assert sum(m.startswith("building the compiled MINE step") for m in messages) == 1
    assert sum(m.startswith("built the compiled MINE step") for m in messages) == 1
    assert cache.builds() == 1
    # files: the library (not writable by others), its checksum, the lock
    names = sorted(p.name for p in cache.folder.iterdir())
    assert names == sorted([_native._LOCK_NAME, cache.so.name, cache.so.name + ".sha256"])


@pytest.mark.parametrize("unsafe, why", [
    (lambda f: os.chmod(f, 0o777), "writable by its group or by everyone"),
    (lambda f: os.chmod(f, 0o770), "writable by its group or by everyone"),
    pytest.param(lambda f: os.chown(f, 65534, 65534), "is owned by user 65534", marks=root_only),
], ids=["world-writable", "group-writable", "foreign"])
def test_an_unsafe_folder_is_not_used(cache, unsafe, why):
    cache.fill()  # a good library in it: not loaded either
    unsafe(cache.folder)
    with pytest.warns(RuntimeWarning, match=why) as caught:
        assert _native.library() is None
    assert str(cache.folder) in str(caught[0].message)
    assert cache.builds() == 0
    assert FusedStatisticsNetworks(2, 3, (4, 2)).native is False  # the torch step


def test_concurrent_first_uses_build_once(cache):
    env = {**os.environ, "FAKE_CXX_SLEEP": "2"}  # a slow build: all start while it runs
    procs = [_load_and_run(cache.io, env=env, popen=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p, _ in procs]
    assert [p.returncode for p, _ in procs] == [0, 0, 0], [err[-1000:] for _, err in outs]
    assert all("NATIVE" in out for out, _ in outs)
    for _, path in procs:
        _check_results(cache.io / "inputs.pt", path)
    assert cache.builds() == 1
    assert sum(err.count("LOG built the compiled MINE step") for _, err in outs) == 1
    assert not any("RuntimeWarning" in err for _, err in outs)


def test_concurrent_threads_build_once(cache, monkeypatch):
    monkeypatch.setenv("FAKE_CXX_SLEEP", "1")
    command = _native._compiler()
    libs, errors = [], []

    def load():  # below library()'s own lock: the file lock alone
        try:
            libs.append(_native._build_and_load(command))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(libs) == 3 and all(lib is not None for lib in libs)
    assert cache.builds() == 1


@pytest.mark.parametrize("value, why", [
    ("sk-uae-no-such-compiler", "names no program found"),
    ("sk-uae-no-such-compiler -O2", "names no program found"),
    ('g++ "-O2', "cannot be split"),
], ids=["missing", "missing-with-flags", "unbalanced-quote"])
def test_a_bad_cxx_warns_once_and_falls_back(cache, monkeypatch, value, why):
    monkeypatch.setenv("CXX", value)
    with pytest.warns(RuntimeWarning, match="CXX=.*" + why + ".*torch step") as caught:
        assert _native.library() is None
    assert len([w for w in caught if "CXX=" in str(w.message)]) == 1
    monkeypatch.setattr(_native, "_library", _native._UNSET)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not again in this process
        assert _native.library() is None


def test_cxx_with_flags_is_a_program_and_its_flags(cache, monkeypatch):
    monkeypatch.setenv("CXX", f"{cache.compiler} -O2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _native.library() is not None
    assert cache.builds() == 1
    # the flags are part of the library's name: not the one built without them
    assert not cache.so.exists() and len(list(cache.folder.glob("mine_step_*.so"))) == 1


# ------------------------------------------------------------ input checks
def _inputs(dtype=torch.float32):
    nets = FusedStatisticsNetworks(3, 4, (6, 3), dtype=dtype, native=False)
    pairs = torch.randn(3, 2, 8, 4, dtype=dtype)
    perms = torch.stack([torch.randperm(8) for _ in range(2)])
    return nets, pairs, perms


def _train(nets, pairs, perms, **kw):
    args = dict(pairs=pairs, params=nets.theta, ms=nets._m, vs=nets._v, perms=perms,
                inverses=torch.argsort(perms, 1), first_step=1,
                hyper=(1e-3, 0.9, 0.999, 1e-8), hidden_sizes=nets.hidden_sizes)
    args.update(kw)
    return _native.train(**args)


def test_inputs_are_checked_before_the_call():
    nets, pairs, perms = _inputs()
    bad_pairs = torch.randn(3, 2, 4, 8).transpose(2, 3)  # (3, 2, 8, 4), not contiguous
    with pytest.raises(ValueError, match="pairs as a contiguous.*non-contiguous"):
        _native.bounds_and_grads(bad_pairs, nets.theta, perms[0], nets.hidden_sizes)
    with pytest.raises(ValueError, match="pairs as a contiguous.*non-contiguous"):
        _train(nets, bad_pairs, perms)
    with pytest.raises(ValueError, match="float32 or float64 pairs; got torch.float16"):
        _native.bounds_and_grads(pairs.half(), nets.theta, perms[0], nets.hidden_sizes)
    with pytest.raises(ValueError, match=r"params\[0\] .*torch.float32.*got dtype torch.float64"):
        _native.bounds_and_grads(pairs, [w.double() for w in nets.theta], perms[0],
                                 nets.hidden_sizes)
    with pytest.raises(ValueError, match=r"ms\[2\] .*got dtype torch.float64"):
        _train(nets, pairs, perms, ms=nets._m[:2] + [nets._m[2].double()] + nets._m[3:])
    with pytest.raises(ValueError, match=r"vs\[0\] .*non-contiguous"):
        _train(nets, pairs, perms, vs=[nets._v[0].transpose(2, 3).contiguous().transpose(2, 3)]
               + nets._v[1:])
    with pytest.raises(ValueError, match=r"params\[4\] .*shape \(3, 3\); got shape \(3, 5\)"):
        _native.bounds_and_grads(pairs, nets.theta[:4] + [torch.zeros(3, 5)], perms[0],
                                 nets.hidden_sizes)
    with pytest.raises(ValueError, match=r"pairs of shape \(B, 2, K, p\)"):
        _native.bounds_and_grads(pairs[:, 0], nets.theta, perms[0], nets.hidden_sizes)
    with pytest.raises(ValueError, match=r"perm with values in \[0, 8\)"):
        _native.bounds_and_grads(pairs, nets.theta, perms[0] + 1, nets.hidden_sizes)
    with pytest.raises(ValueError, match=r"perms as .*shape \(S, 8\)"):
        _train(nets, pairs, perms[:, :5])
    with pytest.raises(ValueError, match="two positive hidden sizes"):
        _native.bounds_and_grads(pairs, nets.theta, perms[0], (6, 3, 2))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        _native.bounds_and_grads(pairs.numpy(), nets.theta, perms[0], nets.hidden_sizes)
