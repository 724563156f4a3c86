"""The compiled MINE step (``_native.cpp``): built on first use, optional.

The library is compiled once per machine with the system's C++ compiler
(``$CXX``, split like a shell command line into a program and its flags,
e.g. ``CXX="ccache g++"``; else ``c++``) for the CPU it runs on
(``-march=native``; ``$SK_UAE_NATIVE_MARCH``, e.g. ``x86-64-v3``, builds for
that x86-64 level instead, see :func:`march`; the source picks its vector
width and register tiles from the level), cached under
``$SK_UAE_CACHE_DIR`` (default: ``$XDG_CACHE_HOME/sk_uae`` or
``~/.cache/sk_uae``) and loaded with :mod:`ctypes`. Where there is no
compiler, the build fails, or ``SK_UAE_NATIVE=0`` is set, :func:`library`
returns ``None`` and the callers use the torch implementation.

A file in the cache is code that this process runs, so it is loaded only
after these checks:

* the cache folder is created private (mode 0700; an existing one that only
  this user can write to is used as it is); a folder owned by another user,
  or writable by its group or by everyone, is not used at all (a
  ``RuntimeWarning``, and the torch step runs);
* the library ``mine_step_<key>.so`` and its checksum file
  ``mine_step_<key>.so.sha256`` (the sha256 of the library, written when it
  was built) must be regular files owned by this user and not writable by
  the group or others, and the library's sha256 must equal the recorded
  one; it is hashed from the open file that is then loaded. A library that
  fails any check (truncated, overwritten, foreign, world-writable, without
  its checksum) is never loaded: a ``RuntimeWarning`` names it and what was
  wrong, and it is rebuilt;
* a build writes to a temporary file in the folder and renames it into
  place (then its checksum file, the same way), under an exclusive
  ``flock`` on ``mine_step.lock``: concurrent first uses, threads or
  processes, build once, and those that waited load what the first built;
* building logs an INFO line to the ``"sk_uae"`` logger before (it takes a
  few seconds) and after (``verbose`` does not reach here: the lines show
  where logging is configured, like the ``verbose >= 2`` iteration lines);
* a ``$CXX`` that cannot be split or names no program found on ``PATH``
  gives a ``RuntimeWarning`` naming the variable (once per process and
  value), and the torch step runs.

:func:`train` and :func:`bounds_and_grads` check their tensors' device,
dtype, contiguity and shapes (and the shuffles' range) before the call, and
raise ``ValueError`` (``TypeError`` for a non-tensor) on a mismatch.
"""

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import platform
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

_SOURCE = Path(__file__).with_name("_native.cpp")
_FLAGS = ["-O3", "-fopenmp-simd", "-fno-math-errno", "-shared", "-fPIC",
          "-std=c++17", "-pthread", "-Werror=attributes"]
_LOCK_NAME = "mine_step.lock"
# the x86-64 levels SK_UAE_NATIVE_MARCH may name, with the /proc/cpuinfo flags
# each needs (a library built for a level the CPU lacks would stop the process
# with an illegal instruction, so it is not built)
_X86_LEVELS = {
    "x86-64": ("sse2",),
    "x86-64-v2": ("sse4_2", "ssse3", "popcnt"),
    "x86-64-v3": ("avx2", "fma", "bmi2", "f16c", "movbe"),
    "x86-64-v4": ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"),
}
_UNSET = object()
_library = _UNSET
_library_lock = threading.Lock()  # one thread of a process at a time finds or builds it
_warned = set()  # messages given once per process
_loaded_fds = []  # the descriptors libraries were loaded through, kept open
_LOG = logging.getLogger("sk_uae")


def _warn(message, once=False):
    if once:
        if message in _warned:
            return
        _warned.add(message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _cpu_id():
    # -march=native code must not be loaded on another CPU sharing the cache
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() + platform.machine()


def _cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def march():
    """The ``-march`` the library is built for: ``$SK_UAE_NATIVE_MARCH``, else ``"native"``.

    ``None`` (with a ``RuntimeWarning``, once per process and value) where the
    variable names no level known here (``native``, ``x86-64``,
    ``x86-64-v2``, ``x86-64-v3``, ``x86-64-v4``; only ``native`` on other
    machines) or a level this CPU lacks: the torch step runs instead.
    """
    value = os.environ.get("SK_UAE_NATIVE_MARCH", "").strip() or "native"
    if value == "native":
        return value
    fallback = "the compiled MINE step is not built and the torch step runs instead"
    x86 = platform.machine() in ("x86_64", "AMD64")
    if not x86 or value not in _X86_LEVELS:
        known = ", ".join(["native", *_X86_LEVELS]) if x86 else "native"
        _warn(f"SK_UAE_NATIVE_MARCH={value!r} is not a level known here ({known}); {fallback}",
              once=True)
        return None
    missing = [f for f in _X86_LEVELS[value] if f not in _cpu_flags()]
    if missing:
        _warn(f"SK_UAE_NATIVE_MARCH={value!r}: this CPU lacks {', '.join(missing)}; {fallback}",
              once=True)
        return None
    return value


def _cache_dir():
    root = os.environ.get("SK_UAE_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "sk_uae" if xdg else Path.home() / ".cache" / "sk_uae"


def _compiler():
    """The compiler's command (program, then flags), or ``None``.

    ``$CXX`` is split like a shell command line (``"g++ -O2"``,
    ``"ccache g++"``); one that cannot be split, or whose program is not
    found, warns once per process and value.
    """
    value = os.environ.get("CXX", "")
    if not value.strip():
        found = shutil.which("c++")
        return [found] if found else None
    fallback = "the compiled MINE step is not built and the torch step runs instead"
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        _warn(f"CXX={value!r} cannot be split into a program and its flags ({exc}); {fallback}",
              once=True)
        return None
    found = shutil.which(argv[0])
    if found is None:
        _warn(f"CXX={value!r} names no program found on PATH ({argv[0]!r}); {fallback}",
              once=True)
        return None
    return [found, *argv[1:]]


def _folder_problem(folder, uid):
    """Create ``folder`` private (0700) if it is missing; why it is unsafe, or ``None``."""
    try:
        folder.mkdir(mode=0o700, parents=True)
        os.chmod(folder, 0o700)  # whatever the umask
    except FileExistsError:
        pass
    st = os.stat(folder)
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if st.st_uid != uid:
        return f"is owned by user {st.st_uid}, not by this user ({uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by its group or by everyone (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _open_checked(path, uid):
    """``(fd, None)`` for a regular file owned by ``uid`` and writable by it alone.

    ``(None, None)`` where it does not exist, ``(None, why)`` where it fails a check.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "is a symbolic link"
        return None, f"cannot be opened ({exc.strerror})"
    st = os.fstat(fd)
    why = None
    if not stat.S_ISREG(st.st_mode):
        why = "is not a regular file"
    elif st.st_uid != uid:
        why = f"is owned by user {st.st_uid}, not by this user ({uid})"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        why = f"is writable by its group or by everyone (mode {stat.S_IMODE(st.st_mode):o})"
    if why is not None:
        os.close(fd)
        return None, why
    return fd, None


def _read_all(fd):
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _load_verified(target, uid):
    """``(library, None)``, or ``(None, what is wrong)``; ``(None, None)`` where there is none.

    The library is hashed from the descriptor that is then loaded (through
    ``/proc/self/fd``), so the bytes checked are the bytes run.
    """
    sidecar = target.with_name(target.name + ".sha256")
    fd, why = _open_checked(target, uid)
    if fd is None:
        return None, why
    try:
        side_fd, side_why = _open_checked(sidecar, uid)
        if side_fd is None:
            return None, (f"has no checksum file {sidecar.name} ({side_why})" if side_why else
                          f"has no checksum file {sidecar.name}")
        try:
            recorded = os.read(side_fd, 256).decode("ascii", "replace").strip()
        finally:
            os.close(side_fd)
        if not re.fullmatch(r"[0-9a-f]{64}", recorded):
            return None, f"its checksum file {sidecar.name} is damaged"
        actual = hashlib.sha256(_read_all(fd)).hexdigest()
        if actual != recorded:
            return None, ("does not match the checksum recorded when it was built "
                          "(damaged or replaced)")
        # dlopen returns the library it already loaded under the same name,
        # and a name it was given stays the library's (also where the file
        # was already loaded under another name): the descriptor stays open
        # for the life of the process, so that no other library is opened
        # under this /proc/self/fd/N later (another cache folder or level:
        # dlopen would return this one). One descriptor per load; a process
        # loads once unless the cached library is reset.
        proc = f"/proc/self/fd/{fd}"
        lib = ctypes.CDLL(proc if os.path.exists(proc) else str(target))
        _loaded_fds.append(fd)
        fd = None
    finally:
        if fd is not None:
            os.close(fd)
    return lib, None


@contextlib.contextmanager
def _locked(folder):
    fd = os.open(folder / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _LOG.info("waiting for another process building the compiled MINE step in %s",
                      folder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_atomic(path, data, mode):
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _compile(command, target, flags):
    """Build into a temporary file, then rename it and its checksum into place."""
    _LOG.info("building the compiled MINE step with %s (first use: a few seconds) into %s",
              " ".join(command), target)
    start = time.perf_counter()
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([*command, *flags, str(_SOURCE), "-o", tmp], check=True,
                       capture_output=True, text=True, timeout=300)
        os.chmod(tmp, 0o700)
        with open(tmp, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _write_atomic(target.with_name(target.name + ".sha256"), (digest + "\n").encode(), 0o600)
    _LOG.info("built the compiled MINE step %s in %.1f s", target, time.perf_counter() - start)


def _build_and_load(command, arch="native"):
    version = subprocess.run([command[0], "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    flags = [*_FLAGS, f"-march={arch}"]
    key = hashlib.sha256(b"\0".join([_SOURCE.read_bytes(), " ".join(flags).encode(),
                                     "\0".join(command[1:]).encode(), version.encode(),
                                     _cpu_id().encode(), sys.platform.encode()])).hexdigest()
    folder = _cache_dir()
    uid = os.geteuid()
    why = _folder_problem(folder, uid)
    if why is not None:
        _warn(f"the compiled MINE step is not used: its cache folder {folder} {why}; the torch "
              "step runs instead (set SK_UAE_CACHE_DIR to a folder of your own)")
        return None
    target = folder / f"mine_step_{key[:16]}.so"
    lib, _ = _load_verified(target, uid)  # the usual case: built before, no lock needed
    if lib is not None:
        return lib
    with _locked(folder):
        lib, why = _load_verified(target, uid)  # another process may have built it meanwhile
        if lib is not None:
            return lib
        if why is not None:
            _warn(f"the compiled MINE step {target} {why}; it is not loaded but rebuilt")
        _compile(command, target, flags)
        lib, why = _load_verified(target, uid)
        if lib is None:
            raise OSError(f"{target} {why} right after it was built")
        return lib


def library():
    """The loaded library, or ``None`` where it cannot be built (cached per process)."""
    global _library
    with _library_lock:
        if _library is not _UNSET:
            return _library
        _library = None
        if os.environ.get("SK_UAE_NATIVE", "1") == "0" or not sys.platform.startswith("linux"):
            return None
        arch = march()
        if arch is None:
            return None
        command = _compiler()
        if command is None:
            return None
        try:
            lib = _build_and_load(command, arch)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", None) or exc
            _warn(f"the compiled MINE step is not available ({detail}); using the torch one")
            return None
        if lib is None:
            return None
        try:
            for name in ("sk_uae_train_f32", "sk_uae_train_f64"):
                fn = getattr(lib, name)
                fn.restype = None
                fn.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
            for name in ("sk_uae_grad_f32", "sk_uae_grad_f64"):
                fn = getattr(lib, name)
                fn.restype = None
                fn.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 7 + [ctypes.c_int]
            lib.sk_uae_vector_bytes.restype = ctypes.c_int
            lib.sk_uae_vector_bytes.argtypes = []
        except AttributeError as exc:
            _warn(f"the compiled MINE step is not available ({exc}); using the torch one")
            return None
        _library = lib
        return lib


def vector_bytes():
    """The vector width of the loaded library in bytes (64, 32 or 16), or ``None`` without one."""
    lib = library()
    return None if lib is None else int(lib.sk_uae_vector_bytes())


def preferred():
    """Whether ``"auto"`` uses the compiled step where it can run.

    On x86-64 it does (at every level it is faster than the torch step, see
    ``docs/performance.md``); on other machines (aarch64) the step builds
    and runs, but it has not been timed or tested there, so ``"auto"`` keeps
    the torch step and ``"native"`` asks for the compiled one.
    """
    return platform.machine() in ("x86_64", "AMD64")



def applies(device="cpu", dtype=torch.float32, hidden_sizes=(32, 10), conv_front=None,
            ma_rate=None):
    """Whether the compiled step can run for these networks on this machine.

    It needs CPU tensors of float32 or float64, two dense layers per branch,
    no conv front, no moving-average correction (``ma_rate=None``) and the
    library of :func:`library` (a C++ compiler, and ``SK_UAE_NATIVE`` not
    ``0``).

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        Device of the networks' tensors.
    dtype : torch.dtype, default=torch.float32
        Their floating-point type.
    hidden_sizes : tuple of int, default=(32, 10)
        Dense widths of each branch.
    conv_front : tuple or None, default=None
        The conv front, if any (only whether it is ``None`` matters).
    ma_rate : float or None, default=None
        The moving-average rate, if any.

    Returns
    -------
    bool
    """
    return (torch.device(device).type == "cpu" and dtype in (torch.float32, torch.float64)
            and len(tuple(hidden_sizes)) == 2 and conv_front is None and ma_rate is None
            and library() is not None)

# ------------------------------------------------------------ input checks
def _check_tensor(name, t, dtype, shape):
    if not torch.is_tensor(t):
        raise TypeError(f"the compiled MINE step: {name} must be a torch.Tensor, "
                        f"got {type(t).__name__}")
    wrong = []
    if t.device.type != "cpu":
        wrong.append(f"device {t.device}")
    if t.dtype != dtype:
        wrong.append(f"dtype {t.dtype}")
    if t.dim() != len(shape) or any(want is not None and got != want
                                    for got, want in zip(t.shape, shape)):
        wrong.append(f"shape {tuple(t.shape)}")
    if not t.is_contiguous():
        wrong.append("a non-contiguous layout")
    if wrong:
        want = "(" + ", ".join("S" if w is None else str(w) for w in shape) + ")"
        raise ValueError(f"the compiled MINE step needs {name} as a contiguous CPU tensor of "
                         f"{dtype} and shape {want}; got " + ", ".join(wrong))


def _check_pairs(pairs, hidden_sizes):
    if not torch.is_tensor(pairs):
        raise TypeError(f"the compiled MINE step: pairs must be a torch.Tensor, "
                        f"got {type(pairs).__name__}")
    if pairs.dtype not in (torch.float32, torch.float64):
        raise ValueError("the compiled MINE step needs float32 or float64 pairs; "
                         f"got {pairs.dtype}")
    if pairs.dim() != 4 or pairs.shape[1] != 2 or min(pairs.shape[2:]) < 1:
        raise ValueError("the compiled MINE step needs pairs of shape (B, 2, K, p) with K, p >= 1; "
                         f"got {tuple(pairs.shape)}")
    n, _, k, p = pairs.shape
    _check_tensor("pairs", pairs, pairs.dtype, (n, 2, k, p))
    hidden = tuple(hidden_sizes)
    if len(hidden) != 2 or not all(isinstance(h, int) and h >= 1 for h in hidden):
        raise ValueError("the compiled MINE step needs two positive hidden sizes; "
                         f"got {hidden_sizes!r}")
    return n, k, p, hidden


def _check_parameters(name, tensors, dtype, n, p, hidden):
    h1, h2 = hidden
    shapes = [(n, 2, h1, p), (n, 2, h1), (n, 2, h2, h1), (n, 2, h2), (n, h2)]
    if len(tensors) != len(shapes):
        raise ValueError(f"the compiled MINE step needs {len(shapes)} tensors in {name}; "
                         f"got {len(tensors)}")
    for i, (t, shape) in enumerate(zip(tensors, shapes)):
        _check_tensor(f"{name}[{i}]", t, dtype, shape)


def _check_shuffles(name, t, shape, k):
    _check_tensor(name, t, torch.int32, shape)
    if t.numel():
        # read where the compiled code reads: the CPU memory, through a numpy
        # view (no tensor-to-host conversion, which the device tests count)
        values = np.ctypeslib.as_array((ctypes.c_int32 * t.numel()).from_address(t.data_ptr()))
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= k:
            raise ValueError(f"the compiled MINE step needs {name} with values in [0, {k}); "
                             f"got [{low}, {high}]")


def _pointers(tensors):
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


def train(pairs, params, ms, vs, perms, inverses, first_step, hyper, hidden_sizes):
    """Run ``len(perms)`` steps of every network in place; the last bounds, (B,).

    ``pairs`` is (B, 2, K, p); ``params``, ``ms`` and ``vs`` the five tensors
    of :class:`FusedStatisticsNetworks` (two dense layers per branch), all
    contiguous CPU tensors of one dtype, float32 or float64 (checked: a
    mismatch raises ``ValueError``).
    """
    n, k, p, hidden = _check_pairs(pairs, hidden_sizes)
    for name, group in (("params", params), ("ms", ms), ("vs", vs)):
        _check_parameters(name, group, pairs.dtype, n, p, hidden)
    perms = perms.to(torch.int32).contiguous()
    inverses = inverses.to(torch.int32).contiguous()
    _check_shuffles("perms", perms, (None, k), k)
    n_steps = perms.shape[0]
    _check_shuffles("inverses", inverses, (n_steps, k), k)
    hyper = [float(h) for h in hyper]
    if len(hyper) != 4:
        raise ValueError(f"the compiled MINE step needs 4 hyperparameters; got {len(hyper)}")
    lib = library()
    if lib is None:
        raise RuntimeError("the compiled MINE step is not available")
    fn = lib.sk_uae_train_f32 if pairs.dtype == torch.float32 else lib.sk_uae_train_f64
    dims = (ctypes.c_int * 4)(k, p, *hidden)
    hyper = (ctypes.c_double * 4)(*hyper)
    mi = pairs.new_empty(n)
    fn(n, dims, pairs.data_ptr(), _pointers(params), _pointers(ms), _pointers(vs),
       n_steps, perms.data_ptr(), inverses.data_ptr(), int(first_step), hyper, mi.data_ptr(),
       torch.get_num_threads())
    return mi


def bounds_and_grads(pairs, params, perm, hidden_sizes, in_pairs=False):
    """The bound of every network, (B,), and its gradient.

    With ``in_pairs``, the gradient in the ``x'`` side of the pairs, (B, K, p)
    (what the attack needs); otherwise in the parameters, flat per network,
    (B, P): the five parameter tensors in order, each network's slice of them
    flattened (the tests compare it with autograd). The tensors are checked
    as in :func:`train`.
    """
    n, k, p, hidden = _check_pairs(pairs, hidden_sizes)
    _check_parameters("params", params, pairs.dtype, n, p, hidden)
    perm = perm.to(torch.int32).contiguous()
    _check_shuffles("perm", perm, (k,), k)
    lib = library()
    if lib is None:
        raise RuntimeError("the compiled MINE step is not available")
    fn = lib.sk_uae_grad_f32 if pairs.dtype == torch.float32 else lib.sk_uae_grad_f64
    dims = (ctypes.c_int * 4)(k, p, *hidden)
    inverse = torch.argsort(perm).to(torch.int32)
    mi = pairs.new_empty(n)
    if in_pairs:
        grad = pairs.new_empty(n, k, p)
    else:
        grad = pairs.new_empty(n, sum(w[0].numel() for w in params))
    fn(n, dims, pairs.data_ptr(), _pointers(params), perm.data_ptr(), inverse.data_ptr(),
       mi.data_ptr(), grad.data_ptr(), int(in_pairs))
    return mi, grad
