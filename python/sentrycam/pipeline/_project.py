"""Width cap and byte bound: wide layers travel as a fixed, seeded Gaussian random projection.

A layer still wider than ``max_dim`` after pooling is multiplied by a ``(D, k)`` matrix of
independent ``N(0, 1/k)`` values, which keeps squared distances and norms in expectation
(Johnson–Lindenstrauss). The matrix depends only on the layer's name, ``D`` and ``k``, so every
frame of a layer (and every run) uses the same one: warm starts and point identity stay valid.
It is generated in blocks of rows from seeds of their own, so a very wide layer never needs the
whole matrix in memory, and the same values come out whether it is cached or not.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base import is_tensor

DEFAULT_MAX_DIM = 512  # the browser reduces to 32 dimensions anyway; 512 keeps ResNet-18 exact
DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024
MIN_FRAME_BYTES = 64 * 1024  # below this, no useful frame fits: max_frame_bytes is rejected
MIN_PROJECTED_DIM = 8  # fewer dimensions than this carry too little structure: refuse instead
FRAME_OVERHEAD_BYTES = 16 * 1024  # schema, metadata JSON and padding of one Arrow IPC stream
ROW_OVERHEAD_BYTES = 12 + 1  # id, label, pred (int32 each) and validity bits per point
BLOCK_ROWS = 4096  # rows of the matrix generated from one seed
CACHE_MAX_BYTES = 64 * 1024 * 1024  # matrices up to this size are kept between frames
PROJECTION_SEED = 0x5E27C4  # mixed with the layer name: a fixed matrix per layer


@dataclass(frozen=True)
class WirePlan:
    """What one layer's frame will carry: ``dim`` values per point, or nothing (refused)."""

    dim: int | None  # None: refused (does not fit even at MIN_PROJECTED_DIM)
    reason: str  # "" (as captured), "max_dim" or "max_frame_bytes"


def frame_bytes(n: int, d: int, bytes_per_value: int) -> int:
    """Upper estimate of the encoded size of an ``n`` x ``d`` frame."""
    return FRAME_OVERHEAD_BYTES + n * (ROW_OVERHEAD_BYTES + d * bytes_per_value)


def plan_width(
    n: int, d: int, *, max_dim: int, max_frame_bytes: int, bytes_per_value: int
) -> WirePlan:
    """The width a frame of ``n`` points of ``d`` values travels at, within both bounds."""
    dim, reason = (d, "") if d <= max_dim else (max_dim, "max_dim")
    if frame_bytes(n, dim, bytes_per_value) <= max_frame_bytes:
        return WirePlan(dim, reason)
    fit = (max_frame_bytes - FRAME_OVERHEAD_BYTES - n * ROW_OVERHEAD_BYTES) // (n * bytes_per_value)
    if fit < MIN_PROJECTED_DIM:
        return WirePlan(None, "max_frame_bytes")
    return WirePlan(int(fit), "max_frame_bytes")


class Projector:
    """Fixed random projections, one per (layer, input width, output width)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], np.ndarray] = {}
        self._torch_cache: dict[tuple[str, int, int, str], Any] = {}

    def matrix(self, layer: str, d: int, k: int) -> np.ndarray:
        """The whole ``(d, k)`` float32 matrix of ``layer`` (tests and small layers)."""
        return np.concatenate([self._block(layer, d, k, b) for b in range(_blocks(d))])

    def project(self, layer: str, rows: Any, k: int) -> Any:
        """``rows @ R`` for the layer's matrix ``R`` (a tensor stays a tensor on its device)."""
        d = int(rows.shape[1])
        key = (layer, d, k)
        if d * k * 4 <= CACHE_MAX_BYTES:
            if is_tensor(rows):
                tkey = (*key, str(rows.device))
                r = self._torch_cache.get(tkey)
                if r is None:
                    import torch

                    r = self._torch_cache[tkey] = torch.from_numpy(self._cached(key)).to(
                        rows.device
                    )
                return rows @ r
            return rows @ self._cached(key)
        out = None
        for b in range(_blocks(d)):  # a very wide layer: one block of the matrix at a time
            block = self._block(layer, d, k, b)
            part = rows[:, b * BLOCK_ROWS : b * BLOCK_ROWS + block.shape[0]]
            if is_tensor(rows):
                import torch

                block = torch.from_numpy(block).to(rows.device)
            term = part @ block
            out = term if out is None else out + term
        return out

    def _cached(self, key: tuple[str, int, int]) -> np.ndarray:
        r = self._cache.get(key)
        if r is None:
            r = self._cache[key] = self.matrix(*key)
        return r

    @staticmethod
    def _block(layer: str, d: int, k: int, b: int) -> np.ndarray:
        rows = min(BLOCK_ROWS, d - b * BLOCK_ROWS)
        seed = [PROJECTION_SEED, zlib.crc32(layer.encode()), d, k, b]
        rng = np.random.default_rng(seed)
        return rng.standard_normal((rows, k), dtype=np.float32) * np.float32(1.0 / np.sqrt(k))


def _blocks(d: int) -> int:
    return -(-d // BLOCK_ROWS)
