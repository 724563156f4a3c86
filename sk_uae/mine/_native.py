"""The compiled MINE step (``_native.cpp``): built on first use, optional.

The library is compiled once per machine with the system's C++ compiler
(``$CXX``, else ``c++``) for the CPU it runs on, cached under
``$SK_UAE_CACHE_DIR`` (default: ``$XDG_CACHE_HOME/sk_uae`` or
``~/.cache/sk_uae``) and loaded with :mod:`ctypes`. Where there is no
compiler, the build fails, or ``SK_UAE_NATIVE=0`` is set, :func:`library`
returns ``None`` and the callers use the torch implementation.
"""

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("_native.cpp")
_FLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-shared", "-fPIC",
          "-std=c++17", "-pthread", "-Werror=attributes"]
_UNSET = object()
_library = _UNSET


def _cpu_id():
    # -march=native code must not be loaded on another CPU sharing the cache
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() + platform.machine()


def _cache_dir():
    root = os.environ.get("SK_UAE_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "sk_uae" if xdg else Path.home() / ".cache" / "sk_uae"


def _build(compiler):
    source = _SOURCE.read_bytes()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    key = hashlib.sha256(b"\0".join([source, " ".join(_FLAGS).encode(), version.encode(),
                                     _cpu_id().encode(), sys.platform.encode()])).hexdigest()
    target = _cache_dir() / f"mine_step_{key[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *_FLAGS, str(_SOURCE), "-o", tmp], check=True,
                       capture_output=True, text=True, timeout=300)
        os.replace(tmp, target)  # atomic: concurrent builders leave one whole file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def library():
    """The loaded library, or ``None`` where it cannot be built (cached per process)."""
    global _library
    if _library is not _UNSET:
        return _library
    _library = None
    if os.environ.get("SK_UAE_NATIVE", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        return None
    try:
        lib = ctypes.CDLL(str(_build(compiler)))
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        warnings.warn(f"the compiled MINE step is not available ({detail}); using the torch one",
                      RuntimeWarning, stacklevel=2)
        return None
    for name in ("sk_uae_train_f32", "sk_uae_train_f64"):
        fn = getattr(lib, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_int]
    for name in ("sk_uae_grad_f32", "sk_uae_grad_f64"):
        fn = getattr(lib, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 7 + [ctypes.c_int]
    _library = lib
    return lib


def _pointers(tensors):
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


def train(pairs, params, ms, vs, perms, inverses, first_step, hyper, hidden_sizes):
    """Run ``len(perms)`` steps of every network in place; the last bounds, (B,).

    ``pairs`` is (B, 2, K, p); ``params``, ``ms`` and ``vs`` the five tensors
    of :class:`FusedStatisticsNetworks` (two dense layers per branch), all
    contiguous CPU tensors of one dtype, float32 or float64.
    """
    lib = library()
    n, _, k, p = pairs.shape
    fn = lib.sk_uae_train_f32 if pairs.dtype == torch.float32 else lib.sk_uae_train_f64
    dims = (ctypes.c_int * 4)(k, p, *hidden_sizes)
    hyper = (ctypes.c_double * 4)(*hyper)
    perms = perms.to(torch.int32).contiguous()
    inverses = inverses.to(torch.int32).contiguous()
    mi = pairs.new_empty(n)
    fn(n, dims, pairs.data_ptr(), _pointers(params), _pointers(ms), _pointers(vs),
       perms.shape[0], perms.data_ptr(), inverses.data_ptr(), first_step, hyper, mi.data_ptr(),
       torch.get_num_threads())
    return mi


def bounds_and_grads(pairs, params, perm, hidden_sizes, in_pairs=False):
    """The bound of every network, (B,), and its gradient.

    With ``in_pairs``, the gradient in the ``x'`` side of the pairs, (B, K, p)
    (what the attack needs); otherwise in the parameters, flat per network,
    (B, P): the five parameter tensors in order, each network's slice of them
    flattened (the tests compare it with autograd).
    """
    lib = library()
    n, _, k, p = pairs.shape
    fn = lib.sk_uae_grad_f32 if pairs.dtype == torch.float32 else lib.sk_uae_grad_f64
    dims = (ctypes.c_int * 4)(k, p, *hidden_sizes)
    perm = perm.to(torch.int32).contiguous()
    inverse = torch.argsort(perm).to(torch.int32)
    mi = pairs.new_empty(n)
    if in_pairs:
        grad = pairs.new_empty(n, k, p)
    else:
        grad = pairs.new_empty(n, sum(w[0].numel() for w in params))
    fn(n, dims, pairs.data_ptr(), _pointers(params), perm.data_ptr(), inverse.data_ptr(),
       mi.data_ptr(), grad.data_ptr(), int(in_pairs))
    return mi, grad
