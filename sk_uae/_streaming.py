"""Shard and manifest I/O of :meth:`sk_uae.UAEGenerator.generate_to`.

No attack code here: :func:`stream_to` is handed a ``compute(start, stop)``
callable and a ``fingerprint(start, stop)`` callable and only takes care of
files. Layout of an output directory::

    manifest.json            format, sizes, seed, and one entry per finished shard
    shard_00000.npy          adversarial rows of shard 0 (dtype of X)
    shard_00000.info.npy     its per-sample statistics (structured array, INFO_DTYPE)
    ...
    X_adv.npy                the assembled result (rebuilt from the shards on every run)
    info.npy                 the assembled statistics

A shard is reused only when its manifest entry has the fingerprint the
current call computes (parameters, model weights, seed, the shard's input
rows) and both of its files still have the recorded sha256. Files are
written under temporary names and renamed, and the manifest entry is
written after the shard's files, so a process killed at any point leaves
either a valid shard or one that is redone.
"""

import hashlib
import json
import os

import numpy as np

FORMAT = "sk_uae.generate_to"
VERSION = 1
MANIFEST = "manifest.json"
X_FILE = "X_adv.npy"
INFO_FILE = "info.npy"
INFO_DTYPE = np.dtype([("success", "?"), ("mi", "<f8"), ("loss", "<f8"),
                       ("distortion_linf", "<f8"), ("distortion_l2", "<f8"),
                       ("distortion_linf_units", "<f8")])
_FILE_BUFFER = 1 << 16
_CHUNK = 1 << 20


def sha256_file(path):
    """Hex sha256 of a file's bytes, read into one reused 64 KiB buffer.

    Memory stays at the buffer's size whatever the file's: a fresh
    ``fh.read(n)`` per block would allocate up to ``n`` bytes each time.
    """
    h = hashlib.sha256()
    buf = bytearray(_FILE_BUFFER)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def hash_array(a):
    """Hex sha256 of an array's dtype, shape and values (row blocks, bounded memory)."""
    a = np.asarray(a)
    h = hashlib.sha256(f"{a.dtype.str}|{a.shape}".encode())
    if a.ndim == 0 or a.shape[0] == 0:
        h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()
    row_bytes = max(1, a[0].nbytes)
    step = max(1, _CHUNK // row_bytes)
    for i in range(0, a.shape[0], step):
        h.update(np.ascontiguousarray(a[i:i + step]).tobytes())
    return h.hexdigest()


def hash_state_dict(module):
    """Hex sha256 of a torch module's ``state_dict`` (names, dtypes, shapes, values)."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        arr = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{arr.dtype}|{tuple(arr.shape)}".encode())
        h.update(_tensor_bytes(arr))
    return h.hexdigest()


def _tensor_bytes(tensor):
    import torch

    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy().tobytes()


def jsonable(value):
    """A JSON-serialisable, deterministic description of a parameter value.

    Estimators (e.g. attacks) become their class and parameters; classes and
    functions their qualified names; arrays their hash; other objects their
    class name (plus ``repr`` unless it shows a memory address).
    """
    from sklearn.base import BaseEstimator

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, np.ndarray):
        return {"ndarray": hash_array(value)}
    if isinstance(value, BaseEstimator):
        return {"class": _qualname(type(value)), "params": jsonable(value.get_params(deep=False))}
    if isinstance(value, type) or callable(value):
        return {"callable": _qualname(value)}
    text = repr(value)
    return {"object": _qualname(type(value)), "repr": None if " at 0x" in text else text}


def _qualname(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def digest(payload):
    """Hex sha256 of a JSON-serialisable payload (sorted keys)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def read_manifest(directory):
    """The manifest dict of ``directory``, or ``None`` if absent or unreadable."""
    try:
        with open(os.path.join(directory, MANIFEST)) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    if not isinstance(manifest.get("shards"), dict):
        manifest["shards"] = {}
    return manifest


def write_manifest(directory, manifest):
    """Write the manifest atomically (temporary file, fsync, rename)."""
    write_json_atomic(os.path.join(directory, MANIFEST), manifest)


def write_json_atomic(path, payload, sort_keys=True):
    """Write ``payload`` as JSON to ``path`` atomically: a kill leaves the old file or the new."""
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1, sort_keys=sort_keys)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_atomic(path, array):
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def shard_names(index):
    """File names of shard ``index``: (rows, statistics)."""
    return f"shard_{index:05d}.npy", f"shard_{index:05d}.info.npy"


def write_shard(directory, index, x_adv, info):
    """Write one shard's two files; return its manifest entry (without fingerprint)."""
    x_name, info_name = shard_names(index)
    _save_atomic(os.path.join(directory, x_name), x_adv)
    _save_atomic(os.path.join(directory, info_name), info)
    return {"x_file": x_name, "x_sha256": sha256_file(os.path.join(directory, x_name)),
            "info_file": info_name,
            "info_sha256": sha256_file(os.path.join(directory, info_name))}


def load_shard(directory, entry, shape, dtype):
    """Memory-map a recorded shard, or ``None`` if a file is missing, altered or misshapen."""
    try:
        x_path = os.path.join(directory, entry["x_file"])
        info_path = os.path.join(directory, entry["info_file"])
        if (sha256_file(x_path) != entry["x_sha256"]
                or sha256_file(info_path) != entry["info_sha256"]):
            return None
        x = np.load(x_path, mmap_mode="r", allow_pickle=False)
        info = np.load(info_path, mmap_mode="r", allow_pickle=False)
    except (OSError, KeyError, TypeError, ValueError):
        return None
    if x.shape != shape or x.dtype != dtype or info.shape != (shape[0],) or \
            info.dtype != INFO_DTYPE:
        return None
    return x, info


def info_to_struct(info):
    """Per-sample info dict of arrays -> structured array of ``INFO_DTYPE``."""
    out = np.empty(len(info["success"]), dtype=INFO_DTYPE)
    for name in INFO_DTYPE.names:
        out[name] = info[name]
    return out


def struct_to_info(struct):
    """Structured ``INFO_DTYPE`` array -> dict of (read-only view) arrays."""
    return {name: struct[name] for name in INFO_DTYPE.names}


def stream_to(directory, *, n_samples, n_features, dtype, shard_size, header, fingerprint,
              compute, resume=True):
    """Compute ``n_samples`` rows shard by shard into ``directory``.

    Parameters
    ----------
    directory : str or path-like
        Created if needed. A non-empty directory without a manifest of this
        format is refused (it would be overwritten).
    n_samples, n_features : int
    dtype : numpy dtype of the rows.
    shard_size : int
        Rows per shard (the last one may be shorter).
    header : dict
        JSON-serialisable description stored in the manifest (seed, params).
    fingerprint : callable ``(start, stop) -> str``
        Everything that determines the shard's result; a recorded shard
        with another fingerprint is recomputed.
    compute : callable ``(start, stop) -> (x_adv, info_struct)``
    resume : bool, default=True
        Reuse verified shards of an earlier (interrupted) run.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    old = read_manifest(directory)
    if old is None and any(not n.endswith(".tmp") for n in os.listdir(directory)):
        raise ValueError(
            f"path={directory!r} is a non-empty directory without a generate_to manifest "
            f"({MANIFEST}); give an empty or new directory, or the directory of an "
            "earlier generate_to call to resume it.")
    old_shards = (old or {}).get("shards", {}) if resume else {}
    dtype = np.dtype(dtype)
    n_shards = -(-n_samples // shard_size) if n_samples else 0
    manifest = {"format": FORMAT, "version": VERSION, "n_samples": int(n_samples),
                "n_features": int(n_features), "dtype": dtype.str, "shard_size": int(shard_size),
                "n_shards": n_shards, "header": header, "complete": False, "shards": {}}
    # keep the verified entries only; an entry is dropped before its files are rewritten
    plan = []
    for i in range(n_shards):
        start, stop = i * shard_size, min((i + 1) * shard_size, n_samples)
        fp = fingerprint(start, stop)
        entry = old_shards.get(str(i))
        ok = (isinstance(entry, dict) and entry.get("fingerprint") == fp
              and entry.get("start") == start and entry.get("stop") == stop)
        plan.append((i, start, stop, fp, entry if ok else None))
        if ok:
            manifest["shards"][str(i)] = entry
    write_manifest(directory, manifest)

    x_out = np.lib.format.open_memmap(os.path.join(directory, X_FILE), mode="w+", dtype=dtype,
                                      shape=(n_samples, n_features))
    info_out = np.lib.format.open_memmap(os.path.join(directory, INFO_FILE), mode="w+",
                                         dtype=INFO_DTYPE, shape=(n_samples,))
    try:
        for i, start, stop, fp, entry in plan:
            shard = None
            if entry is not None:
                shard = load_shard(directory, entry, (stop - start, n_features), dtype)
            if shard is None:
                manifest["shards"].pop(str(i), None)
                x_adv, info = compute(start, stop)
                x_adv = np.ascontiguousarray(x_adv, dtype=dtype)
                new = write_shard(directory, i, x_adv, info)
                new.update(start=start, stop=stop, fingerprint=fp)
                manifest["shards"][str(i)] = new
                write_manifest(directory, manifest)
            else:
                x_adv, info = shard
            x_out[start:stop] = x_adv
            info_out[start:stop] = info
        x_out.flush()
        info_out.flush()
    finally:
        del x_out, info_out
    manifest["complete"] = True
    manifest["outputs"] = {"x_file": X_FILE,
                           "x_sha256": sha256_file(os.path.join(directory, X_FILE)),
                           "info_file": INFO_FILE,
                           "info_sha256": sha256_file(os.path.join(directory, INFO_FILE))}
    write_manifest(directory, manifest)


def open_outputs(directory):
    """Read-only memory maps of the assembled ``(X_adv, info_struct)``."""
    directory = os.fspath(directory)
    return (np.load(os.path.join(directory, X_FILE), mmap_mode="r"),
            np.load(os.path.join(directory, INFO_FILE), mmap_mode="r"))

