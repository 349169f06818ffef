"""Geometry metrics of one layer's activations on a fixed probe set.

:func:`layer_metrics` takes an ``(N, D)`` array (NumPy, PyTorch or anything ``np.asarray``
accepts; higher-rank inputs are flattened to ``(N, -1)``), optional integer class labels, and a
:class:`LayerState` that carries what the frame-to-frame metrics need from earlier frames.
PyTorch tensors are processed with torch on their own device; everything else with NumPy. The two
paths compute the same quantities (float32 matrix products, float64 scalars).

Rows that contain a non-finite value are excluded from every metric except ``nonfinite_frac``.
Finite values of any size up to float32's maximum give finite metrics: the rows are scaled by a
power of two before any product or decomposition (exact), sums of squares run in float64, and the
scale is put back into the metrics that have one (norms, spreads, distances, ``change_prev``).
No NumPy warning escapes.
Every key below is always present; a value that is undefined for the input (no labels, a single
class, fewer than two valid rows, a changed probe size, ...) is ``float('nan')``.

Keys (all ``float``):

``n_valid``            rows used (finite rows).
``nonfinite_frac``     fraction of non-finite values in the whole array.
``norm_mean``          mean row L2 norm.
``norm_max``           max row L2 norm.
``dead_frac``          in a layer whose outputs are never negative (ReLU and the like: every finite
                       value of the frame is >= 0), the fraction of units that are zero for every
                       probe input (on a mean- or max-pooled map: zero at every position);
                       NaN in any other layer, where "dead" means nothing.
``constant_frac``      fraction of units whose value does not vary across the probe inputs
                       (standard deviation under 1e-4 of the layer's RMS unit deviation).
``dormant_frac``       fraction of units whose mean |activation| <= ``tau`` x the layer's mean
                       of those per-unit means (Sokar et al., 2023; ``tau`` = 0.025).
``eff_rank``           RankMe effective rank: exp of the entropy of the normalised singular
                       values of the centred activations (values below 1e-3 x the largest are
                       float32 round-off and count as 0). 1 for rank-1 data, ~D for isotropic.
``n_classes``          classes present among the valid rows.
``intra_var``          tr(S_W): mean squared distance of a row to its class centroid.
``inter_dist``         mean Euclidean distance between pairs of class centroids.
``fisher``             tr(S_B) / tr(S_W), S_B over class means weighted equally; ``inf`` when the
                       classes are perfectly collapsed (tr(S_W) is round-off) but distinct.
``nc1``                neural-collapse NC1 = tr(S_W S_B^+) / C, computed exactly through the
                       C x C Gram of the centred class means (no D x D pseudo-inverse).
``cka_prev``           linear CKA with the previous frame of this layer.
``cka_ref``            linear CKA with the reference frame (the layer's first frame by default).
``knn_jaccard_prev``   mean Jaccard overlap of each point's 10-NN set with the previous frame's
                       (over the first ``KNN_MAX_QUERIES`` valid rows, neighbours among all).
``change_prev``        relative change since the previous frame, ||X - X_prev||_F / ||X_prev||_F,
                       estimated through a fixed random sketch of ``SKETCH_COLS`` columns (0 for a
                       layer that did not move at all, e.g. frozen parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base import to_numpy
from ..contract import KNN_K, METRIC_KEYS
from ._ops import Ops, class_metrics, entropy_rank, quietly

__all__ = [
    "DORMANT_TAU",
    "KNN_MAX_QUERIES",
    "SKETCH_COLS",
    "LayerState",
    "layer_metrics",
]

DORMANT_TAU = 0.025
#: Columns of the Gaussian sketch behind ``change_prev`` (its relative error is ~1/sqrt of this;
#: it tells "moved" from "did not move", it is not a precise distance).
SKETCH_COLS = 32
_SKETCH_SEED = 0x5E7C
KNN_MAX_QUERIES = 256
#: A unit is constant when its standard deviation across the probe is at most this share of the
#: layer's RMS unit deviation (float32 noise on a constant is far below it).
CONSTANT_RTOL = 1e-4
_NAN = float("nan")


@dataclass
class _Snapshot:
    """What one frame leaves behind for CKA and kNN overlap."""

    row_mask: np.ndarray  # (N,) bool: valid rows of the frame (on CPU)
    xc: Any  # centred valid rows (backend array) when D <= N, else None
    gram: Any  # centred N x N Gram when D > N (bounded memory for wide layers), else None
    gram_self_fro: float  # ||Xc^T Xc||_F
    knn: np.ndarray | None  # (Q, k) neighbour indices into the full row range
    sketch: np.ndarray | None = None  # (n_valid, SKETCH_COLS) fixed sketch of the valid rows


@dataclass
class LayerState:
    """Per-layer memory between frames: the previous and the reference frame."""

    prev: _Snapshot | None = None
    ref: _Snapshot | None = None
    frames: int = 0

    def reset(self, keep_ref: bool = False) -> None:
        """Forget earlier frames (all of them, or all but the reference)."""
        self.prev = None
        if not keep_ref:
            self.ref = None
        self.frames = 0


def _gram(ops: Ops, snap: _Snapshot, keep: np.ndarray | None) -> Any:
    """Centred N x N Gram of a snapshot's valid rows (only ``keep`` of them, recentred)."""
    if snap.xc is not None:
        a = snap.xc
        if keep is not None:
            a = ops.take(a, keep)
            a = a - ops.colmean(a)
        return a @ a.T
    k = snap.gram
    if keep is None:
        return k
    k = ops.take(ops.take(k, keep).T, keep)
    return k - k.mean(0)[None, :] - k.mean(1)[:, None] + k.mean()


def _cka(ops: Ops, cur: _Snapshot, old: _Snapshot | None) -> float:
    if old is None or old.row_mask.shape != cur.row_mask.shape:
        return _NAN
    both = cur.row_mask & old.row_mask
    n = int(both.sum())
    if n < 2:
        return _NAN
    same = bool((both == cur.row_mask).all() and (both == old.row_mask).all())
    keep_c = None if same else both[cur.row_mask]
    keep_o = None if same else both[old.row_mask]
    a, b = cur.xc, old.xc
    if a is not None and b is not None and a.shape[1] * b.shape[1] <= n * n:
        # Feature space: ||A^T B||_F^2, cheap when D is small.
        if ops.torch is not None and b.device != a.device:
            b = b.to(a.device)
        if not same:
            a, b = ops.take(a, keep_c), ops.take(b, keep_o)
            a, b = a - ops.colmean(a), b - ops.colmean(b)
            den = math.sqrt(ops.fro2(a.T @ a) * ops.fro2(b.T @ b))
        else:
            den = cur.gram_self_fro * old.gram_self_fro
        num = ops.fro2(a.T @ b)
    else:
        # Sample space: <K_A, K_B> with centred Grams; never forms a D x D matrix.
        ka, kb = _gram(ops, cur, keep_c), _gram(ops, old, keep_o)
        if ops.torch is not None and kb.device != ka.device:
            kb = kb.to(ka.device)
        num = ops.inner(ka, kb)
        den = cur.gram_self_fro * old.gram_self_fro
        if not same:
            den = math.sqrt(ops.inner(ka, ka) * ops.inner(kb, kb))
    if not den > 0:
        return _NAN
    return float(min(max(num / den, 0.0), 1.0))


def _same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two frames' valid-row masks are the same (row i is the same sample in both)."""
    return a.shape == b.shape and bool((a == b).all())


_SKETCHES: dict[int, np.ndarray] = {}


def _sketch(ops: Ops, xv: Any) -> np.ndarray:
    """The valid rows times a fixed Gaussian (d, SKETCH_COLS) matrix, as float64 on the CPU."""
    d = int(xv.shape[1])
    mat = _SKETCHES.get(d)
    if mat is None:
        if len(_SKETCHES) > 64:
            _SKETCHES.clear()
        rng = np.random.default_rng(_SKETCH_SEED + d)
        mat = _SKETCHES[d] = rng.standard_normal((d, SKETCH_COLS)).astype(np.float32)
    m = ops.asarr(mat, xv)
    if ops.torch is not None:
        m = m.to(xv.dtype)
    return ops.cpu(xv @ m).astype(np.float64)


def _change(cur: _Snapshot, old: _Snapshot | None) -> float:
    if old is None or cur.sketch is None or old.sketch is None:
        return _NAN
    if not _same_rows(cur.row_mask, old.row_mask):
        return _NAN
    den = float(np.linalg.norm(old.sketch))
    return float(np.linalg.norm(cur.sketch - old.sketch)) / den if den > 0 else _NAN


def _jaccard(cur: np.ndarray | None, old: np.ndarray | None) -> float:
    if cur is None or old is None or cur.shape != old.shape or cur.size == 0:
        return _NAN
    inter = (cur[:, :, None] == old[:, None, :]).sum(axis=(1, 2))
    k = cur.shape[1]
    return float((inter / (2 * k - inter)).mean())


@quietly
def layer_metrics(
    x: Any,
    labels: Any = None,
    state: LayerState | None = None,
    *,
    tau: float = DORMANT_TAU,
    k: int = KNN_K,
    projection: Any = None,
) -> dict[str, float]:
    """All geometry metrics of one frame of one layer, as a flat ``{key: float}``.

    ``labels``: optional integer class per row (``None``: class metrics are NaN; a negative or
    NaN label marks a row as unlabelled, left out of the class metrics only). ``state``:
    updated in place so that the next call can compare against this frame; ``None`` computes the
    single-frame metrics only. ``projection``: the rows of ``x`` under a random projection (a
    layer too wide for exact metrics): the per-value, per-row and per-unit metrics
    (``nonfinite_frac``, norms, ``dead_frac``, ``constant_frac``, ``dormant_frac``) are still
    computed on ``x``, which costs one pass over it; the rest (class geometry, rank, CKA,
    neighbours) on ``projection``.
    """
    out = dict.fromkeys(METRIC_KEYS, _NAN)
    ops = Ops(x)
    xa = ops.prepare(x)
    n_all = int(xa.shape[0])
    total = n_all * int(xa.shape[1])
    if n_all == 0 or total == 0:
        out["n_valid"] = 0.0
        return out
    rows, n_bad = ops.finite_rows(xa)
    out["nonfinite_frac"] = n_bad / total
    xv = ops.take(xa, rows)
    n = int(rows.sum())
    out["n_valid"] = float(n)
    if n == 0:
        if state is not None:
            state.prev = None
        return out
    scale = ops.pow2_scale(xv)  # rows / scale have entries of magnitude <= 1
    xv = xv * (1.0 / scale) if scale != 1.0 else xv
    norms = ops.rownorm(xv) * scale
    out["norm_mean"] = float(norms.mean())
    out["norm_max"] = float(norms.max())
    peak = ops.colmax(ops.absolute(xv))
    if ops.min(xv) >= 0:  # a layer that is never negative: a unit at 0 for every input is dead
        out["dead_frac"] = float((peak <= 0).mean())
    if n >= 2:  # a unit's spread across inputs needs two inputs
        sd = ops.colstd(xv)
        rms = float(np.sqrt((sd * sd).mean()))
        out["constant_frac"] = float((sd <= CONSTANT_RTOL * rms).mean())
    unit = ops.colabsmean(xv)
    out["dormant_frac"] = float((unit <= tau * unit.mean()).mean())
    if projection is not None:
        xv = ops.take(ops.prepare(projection), rows)
        scale = ops.pow2_scale(xv)
        xv = xv * (1.0 / scale) if scale != 1.0 else xv

    if labels is not None:
        lab = to_numpy(labels, "labels").reshape(-1)
        lab = None if lab.shape[0] != n_all else lab[rows]
        xl = xv
        if lab is not None and lab.dtype.kind in "fiu":
            known = np.isfinite(lab) & (lab >= 0)  # NaN or negative: unlabelled row
            if not known.all():
                xl, lab = ops.take(xv, known), lab[known]
            lab = lab.astype(np.int64)
        geometry = class_metrics(ops, xl, lab)
        geometry["intra_var"] *= scale * scale
        geometry["inter_dist"] *= scale
        out.update(geometry)

    if n < 2:
        if state is not None:
            state.prev = None
        return out
    xc = xv - ops.colmean(xv)
    d = int(xc.shape[1])
    gram = xc.T @ xc if d <= n else xc @ xc.T
    try:
        eig = ops.eigvalsh(gram)
    except (np.linalg.LinAlgError, RuntimeError):  # cannot converge: say so, keep the rest
        eig = np.full(int(gram.shape[0]), np.nan)
    out["eff_rank"] = entropy_rank(eig)
    self_fro = float(np.sqrt((np.clip(eig, 0.0, None) ** 2).sum()))

    knn = None
    kk = min(k, n - 1)
    if kk >= 1:
        q = min(n, KNN_MAX_QUERIES)
        local = ops.knn(xv, q, kk)
        valid_idx = np.flatnonzero(rows)
        knn = valid_idx[local]  # indices into the full row range, stable across frames
    wide = d > n
    snap = _Snapshot(rows, None if wide else xc, gram if wide else None, self_fro, knn)
    if state is not None:
        snap.sketch = _sketch(ops, xv) * scale  # change_prev compares sizes across frames
        out["change_prev"] = _change(snap, state.prev)
        out["cka_prev"] = _cka(ops, snap, state.prev)
        out["cka_ref"] = _cka(ops, snap, state.ref)
        prev = state.prev
        if prev is not None and _same_rows(rows, prev.row_mask):
            out["knn_jaccard_prev"] = _jaccard(knn, state.prev.knn)
        state.prev = snap
        if state.ref is None:
            state.ref = snap
        state.frames += 1
    return out
