"""The compiled MINE step built for each x86-64 level (``SK_UAE_NATIVE_MARCH``).

Each level is built once, in a cache folder and a process of its own, and
checked as the native build is in ``test_native_mine.py``: the bound and its gradients
against autograd, several training steps against the torch step, float32
and float64. A bad value, or a level this CPU lacks, warns and runs the
torch step.
"""

import os
import platform
import re
import subprocess
import sys

import pytest
import torch

from sk_uae.mine import FusedStatisticsNetworks, _native
from sk_uae.mine._engines import resolve_engine
from test_native_mine import _assert_pair_gradient_is_autograds, _flat_autograd_gradient, _networks

TOL = {torch.float32: dict(atol=2e-6, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-10)}
# as in test_native_mine.py: widths below, at and above one vector of every
# level (4 to 16 floats, 2 to 8 doubles), and remainders after every tile
SHAPES = [(12, 7, (6, 4)), (64, 32, (32, 10)), (33, 20, (17, 3)), (40, 9, (70, 3)),
          (115, 70, (23, 7))]
VECTOR_BYTES = {"x86-64-v2": 16, "x86-64-v3": 32, "x86-64-v4": 64}

x86 = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 levels")
needs_native = pytest.mark.skipif(_native.library() is None,
                                  reason="the compiled MINE step could not be built here")


# the checks of one level run in a process built for it (a process loads one
# library: a second one loaded through the same /proc/self/fd name would be
# the first again); test_every_level starts that process per level
LEVEL = os.environ.get("SK_UAE_NATIVE_MARCH")
in_level = pytest.mark.skipif(LEVEL not in VECTOR_BYTES,
                              reason="run by test_every_level, in a process of its own")


@x86
@pytest.mark.parametrize("level", list(VECTOR_BYTES))
def test_every_level(level, tmp_path):
    if _native.library() is None:
        pytest.skip("the compiled MINE step is not built here")
    missing = [f for f in _native._X86_LEVELS[level] if f not in _native._cpu_flags()]
    if missing:
        pytest.skip(f"this CPU lacks {missing} of {level}")
    env = dict(os.environ, SK_UAE_NATIVE_MARCH=level, SK_UAE_CACHE_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-W", "error::RuntimeWarning", __file__, "-k", "in_level"],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) == 1 + 4 * len(SHAPES), run.stdout[-2000:]
    assert "skipped" not in run.stdout


@in_level
def test_in_level_the_vector_width():
    assert _native.vector_bytes() == VECTOR_BYTES[LEVEL]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@in_level
def test_in_level_gradients_equal_autograd(shape, dtype):
    ref, nets, a, b, perms = _networks(shape, dtype, n=3)
    # in the parameters
    mi, want_params = _flat_autograd_gradient(ref, a, b, perms[0])
    got_mi, got = _native.bounds_and_grads(torch.stack([a, b], 1), nets.theta, perms[0],
                                           nets.hidden_sizes)
    torch.testing.assert_close(got_mi, mi, **TOL[dtype])
    torch.testing.assert_close(got, want_params, **TOL[dtype])
    # in the pairs (what the attack uses)
    _assert_pair_gradient_is_autograds(ref, nets, a, b, perms[0], TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@in_level
def test_in_level_training_follows_the_torch_step(shape, dtype):
    _, nets, a, b, perms = _networks(shape, dtype, n=3)
    _, torch_nets, _, _, _ = _networks(shape, dtype, n=3, native=False)
    assert nets.native and not torch_nets.native
    # float32: a few steps only, before rounding differences grow through Adam
    tol = TOL[dtype] if dtype == torch.float64 else dict(atol=1e-5, rtol=1e-4)
    for chunk in (perms[:3], perms[3:]):
        torch.testing.assert_close(nets.train(a, b, chunk), torch_nets.train(a, b, chunk), **tol)
    for got, want in zip(nets.theta, torch_nets.theta):
        torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("value", ["pentium-9000", "x86-64-v3 -O0", "-march=native"])
def test_an_unknown_level_warns_and_runs_the_torch_step(monkeypatch, tmp_path, value):
    monkeypatch.setattr(_native, "_library", _native._UNSET)
    monkeypatch.setattr(_native, "_warned", set())
    monkeypatch.setenv("SK_UAE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SK_UAE_NATIVE_MARCH", value)
    with pytest.warns(RuntimeWarning, match="SK_UAE_NATIVE_MARCH=.*torch step"):
        assert _native.library() is None
    assert FusedStatisticsNetworks(2, 3, (4, 2)).native is False
    assert resolve_engine("auto") == "fused"
    assert list(tmp_path.iterdir()) == []  # nothing built


@x86
def test_a_level_the_cpu_lacks_warns_and_runs_the_torch_step(monkeypatch, tmp_path):
    monkeypatch.setattr(_native, "_library", _native._UNSET)
    monkeypatch.setattr(_native, "_warned", set())
    monkeypatch.setattr(_native, "_cpu_flags", lambda: {"sse2", "sse4_2", "ssse3", "popcnt"})
    monkeypatch.setenv("SK_UAE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SK_UAE_NATIVE_MARCH", "x86-64-v3")
    with pytest.warns(RuntimeWarning, match="lacks avx2"):
        assert _native.library() is None
    assert list(tmp_path.iterdir()) == []


@needs_native
def test_the_level_is_part_of_the_cache_key(monkeypatch, tmp_path):
    names = []
    for value in ("", "x86-64-v2"):
        monkeypatch.setattr(_native, "_library", _native._UNSET)
        monkeypatch.setenv("SK_UAE_CACHE_DIR", str(tmp_path))
        monkeypatch.setenv("SK_UAE_NATIVE_MARCH", value)
        assert _native.library() is not None
        names.append(sorted(f.name for f in tmp_path.glob("mine_step_*.so")))
    assert len(names[0]) == 1 and len(names[1]) == 2  # a second library beside the first


@needs_native
def test_auto_keeps_the_torch_step_off_x86_64(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert resolve_engine("auto") == "fused"
    assert resolve_engine("native") == "native"  # asked for: built and run
    assert FusedStatisticsNetworks(2, 3, (4, 2)).native is False
    assert FusedStatisticsNetworks(2, 3, (4, 2), native=True).native is True


@x86
@needs_native
def test_libraries_loaded_one_after_another_in_a_process_are_each_their_own(monkeypatch,
                                                                            tmp_path):
    # each is loaded through /proc/self/fd/N: a name reused for another file
    # would make dlopen return the library loaded first (also a name under
    # which a file already loaded was loaded again, the second v2 here)
    widths = []
    for level in ("x86-64-v2", "x86-64-v2", "x86-64-v3"):
        monkeypatch.setattr(_native, "_library", _native._UNSET)
        monkeypatch.setenv("SK_UAE_CACHE_DIR", str(tmp_path / level))
        monkeypatch.setenv("SK_UAE_NATIVE_MARCH", level)
        widths.append(_native.vector_bytes())
    assert widths == [16, 16, 32]
