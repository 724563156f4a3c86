"""Torch glue shared by the algorithm and estimator layers."""

import threading
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

_MAX_SEED = 2**31 - 1


def resolve_device(device):
    """Return a :class:`torch.device` for ``"cpu"``, ``"cuda[:i]"`` or ``"auto"``.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` picks CUDA when available, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the name is not a device torch knows, or CUDA is asked for but absent.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device={device!r} is not a valid torch device; expected 'cpu', "
                "'cuda', 'cuda:<index>' or 'auto'."
            ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA but torch sees no CUDA device; "
            "use device='cpu' or device='auto'."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r}: only 'cpu' and 'cuda' devices are supported.")
    return dev


def seed_from_random_state(random_state):
    """Draw one integer seed from a sklearn-style ``random_state``.

    An int gives the same seed every time; ``None`` or a ``RandomState``
    instance give a fresh draw (the usual scikit-learn semantics).

    Parameters
    ----------
    random_state : int, RandomState instance or None
        An int is reduced modulo ``2**31 - 1`` and returned; ``None`` draws
        from NumPy's global random state, a ``RandomState`` instance from
        itself (advancing it).

    Returns
    -------
    int
        A seed in ``[0, 2**31 - 1)``.
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state) % _MAX_SEED
    return int(check_random_state(random_state).randint(_MAX_SEED))


@contextmanager
def torch_seed(seed, device=None):
    """Seed torch's global generators inside the block and restore them after.

    Used around code we do not own (skorch's training loop, module
    initialisation) so that ``random_state`` makes it repeatable without
    changing the caller's global random state.

    Parameters
    ----------
    seed : int
        Seed given to :func:`torch.manual_seed` on entering the block.
    device : str, torch.device or None, default=None
        When a CUDA device, its generator is saved and restored as well;
        otherwise only the CPU generator is forked (``torch.manual_seed``
        still seeds every device).
    """
    devices = []
    if device is not None and torch.device(device).type == "cuda":
        devices = [torch.device(device)]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


PRECISIONS = {"float32": None, "float64": None, "bfloat16": torch.bfloat16,
              "float16": torch.float16}
REDUCED_PRECISIONS = ("bfloat16", "float16")


def compute_dtype(precision):
    """The dtype of an attack's own tensors: float64 for ``"float64"``, else float32."""
    return torch.float64 if precision == "float64" else torch.float32


class AutocastModule(torch.nn.Module):
    """Run a module's forward (and so its backward) in reduced precision.

    The forward runs under :func:`torch.autocast` with ``dtype`` on the
    inputs' device type; floating outputs (also inside tuples and lists)
    come back as float32, so the code around the module -- an attack's
    perturbation, dual variables and MINE networks -- keeps working in
    float32.

    Parameters
    ----------
    module : torch.nn.Module
        The module to wrap (not copied; it keeps its own parameters).
    dtype : torch.dtype
        ``torch.bfloat16`` or ``torch.float16``.
    """

    def __init__(self, module, dtype):
        super().__init__()
        self.inner = module
        self.dtype = dtype

    def forward(self, x, *args, **kwargs):
        with torch.autocast(device_type=x.device.type, dtype=self.dtype):
            out = self.inner(x, *args, **kwargs)
        return _to_float32(out)


def _to_float32(out):
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float32(o) for o in out)
    return out


def with_precision(module, precision):
    """``module`` itself for float32 and float64, else wrapped in :class:`AutocastModule`.

    Parameters
    ----------
    module : torch.nn.Module
        The attacked model's module (in float64 already for ``"float64"``).
    precision : {"float32", "float64", "bfloat16", "float16"}
        Precision of its forward and backward passes.

    Returns
    -------
    torch.nn.Module
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not supported; expected one of "
                         f"{sorted(PRECISIONS)}.")
    dtype = PRECISIONS[precision]
    return module if dtype is None else AutocastModule(module, dtype)


_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"depth": 0, "saved": None}


@contextmanager
def one_torch_thread():
    """Limit torch to one intra-op thread inside the block (re-entrant across threads).

    An attack runs every batch on the CPU inside it, so that a batch's
    arithmetic -- and so its result -- is the single-threaded one whatever
    the thread settings; parallel work runs batches side by side instead
    (:meth:`sk_uae.attacks.BaseAttack.perturb`'s threads, ``n_jobs``
    workers), which also keeps several processes or threads from each
    starting a full thread pool on the same cores.

    torch's thread count is process-wide: every thread entering the block
    sets it to 1 (where a build keeps it per thread, each thread then has
    one), and the count of the first thread that entered is restored when
    the last one leaves. Other torch work of the process meanwhile runs on
    one thread too.
    """
    with _THREADS_LOCK:
        if _THREADS_STATE["depth"] == 0:
            _THREADS_STATE["saved"] = torch.get_num_threads()
        _THREADS_STATE["depth"] += 1
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["depth"] -= 1
            if _THREADS_STATE["depth"] == 0:
                torch.set_num_threads(_THREADS_STATE["saved"])
