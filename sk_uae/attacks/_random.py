"""Per-row random draws that do not depend on how rows are batched.

An attack sees one batch at a time and no row indices, yet a row must get
the same draw in any batch and different rows must get different draws. The
draws here are a counter-based hash of ``(seed, the row's float32 values,
column, stream)``: pure integer torch ops, so any device gives the same bits.
Identical rows get identical draws.
"""

import math

import torch

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mul32(h, c):
    """``(h * c) mod 2**32`` for ``0 <= h < 2**32`` without int64 overflow."""
    lo = h * (c & 0xFFFF)
    hi = ((h * (c >> 16)) & 0xFFFF) << 16
    return (lo + hi) & _M32


def _fmix32(h):
    """MurmurHash3's 32-bit finaliser on an int64 tensor of 32-bit values."""
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


def row_keys(x, seed):
    """One 32-bit key per row of ``x`` (B, d), from the seed and the row's values."""
    bits = x.detach().to(torch.float32).contiguous().view(torch.int32).to(torch.int64) & _M32
    cols = torch.arange(x.shape[1], device=x.device, dtype=torch.int64)
    salt = _fmix32((_mul32(cols, _GOLDEN) + int(seed)) & _M32)
    mixed = _fmix32(bits ^ salt).sum(1) & _M32
    return _fmix32(mixed ^ _fmix32(torch.full_like(mixed, int(seed) & _M32)))


def row_uniform(x, seed, stream=0):
    """Uniform draws in (0, 1), shape of ``x``, as float64."""
    keys = row_keys(x, seed)
    cols = torch.arange(x.shape[1], device=x.device, dtype=torch.int64)
    ctr = (_mul32(cols, _GOLDEN) + 0x632BE5AB * (int(stream) + 1)) & _M32
    h = _fmix32(_fmix32(keys[:, None] ^ ctr[None, :]))
    return (h.to(torch.float64) + 0.5) / 2.0**32


def row_normal(x, seed, stream=0):
    """Standard normal draws (Box-Muller), shape and dtype of ``x``."""
    u1 = row_uniform(x, seed, 2 * stream)
    u2 = row_uniform(x, seed, 2 * stream + 1)
    z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
    return z.to(x.dtype)
