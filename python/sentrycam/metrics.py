"""Geometry metrics of one layer's activations on a fixed probe set.

:func:`layer_metrics` takes an ``(N, D)`` array (NumPy, PyTorch or anything ``np.asarray``
accepts; higher-rank inputs are flattened to ``(N, -1)``), optional integer class labels, and a
:class:`LayerState` that carries what the frame-to-frame metrics need from earlier frames.
PyTorch tensors are processed with torch on their own device; everything else with NumPy. The two
paths compute the same quantities (float32 matrix products, float64 scalars).

Rows that contain a non-finite value are excluded from every metric except ``nonfinite_frac``.
Every key below is always present; a value that is undefined for the input (no labels, a single
class, fewer than two valid rows, a changed probe size, ...) is ``float('nan')``.

Keys (all ``float``):

``n_valid``            rows used (finite rows).
``nonfinite_frac``     fraction of non-finite values in the whole array.
``norm_mean``          mean row L2 norm.
``norm_max``           max row L2 norm.
``dead_frac``          fraction of units never positive over the probe (max <= 0; all-zero ReLU).
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

from .arrays import as_rows, is_tensor, to_numpy

__all__ = [
    "DORMANT_TAU",
    "KNN_K",
    "KNN_MAX_QUERIES",
    "METRIC_KEYS",
    "SKETCH_COLS",
    "LayerState",
    "layer_metrics",
]

METRIC_KEYS: tuple[str, ...] = (
    "n_valid",
    "nonfinite_frac",
    "norm_mean",
    "norm_max",
    "dead_frac",
    "dormant_frac",
    "eff_rank",
    "n_classes",
    "intra_var",
    "inter_dist",
    "fisher",
    "nc1",
    "cka_prev",
    "cka_ref",
    "knn_jaccard_prev",
    "change_prev",
)
DORMANT_TAU = 0.025
#: Columns of the Gaussian sketch behind ``change_prev`` (its relative error is ~1/sqrt of this;
#: it tells "moved" from "did not move", it is not a precise distance).
SKETCH_COLS = 32
_SKETCH_SEED = 0x5E7C
KNN_K = 10
KNN_MAX_QUERIES = 256
_NAN = float("nan")
_EIG_RTOL = 1e-6  # singular values below 1e-3 x the largest are float32 noise
_COLLAPSE_RTOL = 1e-10  # tr(S_W) below this x tr(S_B) is round-off: perfectly collapsed


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


class _Ops:
    """The few array operations the metrics need, for NumPy or torch."""

    def __init__(self, x: Any) -> None:
        self.torch = None
        if is_tensor(x):
            import torch

            self.torch = torch

    def prepare(self, x: Any) -> Any:
        return as_rows(x, "activations", allow_empty=True)

    def cpu(self, a: Any) -> np.ndarray:
        if self.torch is not None:
            return a.detach().cpu().numpy()
        return np.asarray(a)

    def finite_rows(self, x: Any) -> tuple[np.ndarray, int]:
        if self.torch is not None:
            fin = self.torch.isfinite(x)
            return self.cpu(fin.all(dim=1)), int((~fin).sum().item())
        fin = np.isfinite(x)
        return fin.all(axis=1), int(fin.size - np.count_nonzero(fin))

    def take(self, x: Any, mask: np.ndarray) -> Any:
        if mask.all():
            return x
        if self.torch is not None:
            return x[self.torch.as_tensor(mask, device=x.device)]
        return x[mask]

    def colmean(self, x: Any) -> Any:
        return x.mean(0) if self.torch is not None else x.mean(axis=0)

    def colmax(self, x: Any) -> np.ndarray:
        if self.torch is not None:
            return self.cpu(x.amax(dim=0))
        return x.max(axis=0)

    def colabsmean(self, x: Any) -> np.ndarray:
        if self.torch is not None:
            return self.cpu(x.abs().mean(dim=0)).astype(np.float64)
        return np.abs(x).mean(axis=0, dtype=np.float64)

    def rownorm(self, x: Any) -> np.ndarray:
        if self.torch is not None:
            return self.cpu(self.torch.linalg.vector_norm(x, dim=1)).astype(np.float64)
        return np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))

    def eigvalsh(self, g: Any) -> np.ndarray:
        if self.torch is not None:
            return self.cpu(self.torch.linalg.eigvalsh(g.to(self.torch.float64)))
        return np.linalg.eigvalsh(g.astype(np.float64))

    def onehot(self, codes: np.ndarray, c: int, like: Any) -> Any:
        oh = np.zeros((codes.shape[0], c), dtype=np.float32)
        oh[np.arange(codes.shape[0]), codes] = 1.0
        if self.torch is not None:
            return self.torch.as_tensor(oh, device=like.device)
        return oh

    def asarr(self, a: np.ndarray, like: Any) -> Any:
        if self.torch is not None:
            return self.torch.as_tensor(a, device=like.device)
        return a

    def inner(self, a: Any, b: Any) -> float:
        if self.torch is not None:
            return float((a.double() * b.double()).sum().item())
        return float(np.einsum("ij,ij->", a, b, dtype=np.float64))

    def fro2(self, a: Any) -> float:
        if self.torch is not None:
            return float((a.double() ** 2).sum().item())
        return float(np.einsum("ij,ij->", a, a, dtype=np.float64))

    def knn(self, x: Any, q: int, k: int) -> np.ndarray:
        sq = (x * x).sum(1)
        d = sq[:q, None] + sq[None, :] - 2.0 * (x[:q] @ x.T)
        if self.torch is not None:
            idx = self.torch.arange(q, device=x.device)
            d[idx, idx] = float("inf")
            if d.device.type != "cpu":
                return self.cpu(self.torch.topk(d, k, dim=1, largest=False).indices)
            d = d.numpy()  # on the CPU NumPy's partition is about twice as fast as torch.topk
        else:
            d[np.arange(q), np.arange(q)] = np.inf
        return np.argpartition(d, k - 1, axis=1)[:, :k]


def _entropy_rank(eig: np.ndarray) -> float:
    eig = np.clip(eig, 0.0, None)
    eig[eig < eig.max(initial=0.0) * _EIG_RTOL] = 0.0  # float32 round-off, not a direction
    sv = np.sqrt(eig)
    total = sv.sum()
    if not np.isfinite(total) or total <= 0:
        return _NAN
    p = sv / total + 1e-12
    return float(math.exp(-(p * np.log(p)).sum()))


def _class_metrics(ops: _Ops, xv: Any, labels: np.ndarray | None) -> dict[str, float]:
    out = dict.fromkeys(("n_classes", "intra_var", "inter_dist", "fisher", "nc1"), _NAN)
    if labels is None:
        return out
    classes, codes = np.unique(labels, return_inverse=True)
    c = len(classes)
    out["n_classes"] = float(c)
    n = codes.shape[0]
    if n < 1:
        return out
    oh = ops.onehot(codes, c, xv)
    counts = np.bincount(codes, minlength=c).astype(np.float64)
    means = (oh.T @ xv) / ops.asarr(counts.astype(np.float32)[:, None], xv)  # (C, D)
    resid = xv - oh @ means  # (N, D) row minus its class mean
    intra = ops.fro2(resid) / n
    out["intra_var"] = intra
    if c < 2:
        return out
    mc = means - ops.colmean(means)  # centred class means, equal weights
    gram = ops.cpu(mc @ mc.T).astype(np.float64)  # (C, C)
    sq = np.diag(gram)
    d2 = sq[:, None] + sq[None, :] - 2.0 * gram
    iu = np.triu_indices(c, 1)
    out["inter_dist"] = float(np.sqrt(np.clip(d2[iu], 0.0, None)).mean())
    tr_sb = float(sq.sum()) / c
    if intra > _COLLAPSE_RTOL * tr_sb:
        out["fisher"] = tr_sb / intra
    else:
        out["fisher"] = math.inf if tr_sb > 0 else _NAN
    # NC1 = tr(S_W S_B^+)/C with S_B = Mc^T Mc / C, so S_B^+ = C Mc^T G^+2 Mc (G = Mc Mc^T) and
    # NC1 = tr(G^+2 Z^T Z) / N where Z = resid Mc^T (N x C).
    z = ops.cpu(resid @ mc.T).astype(np.float64)
    w, v = np.linalg.eigh(gram)
    keep = w > max(w.max(), 0.0) * 1e-6 * c
    if not keep.any():
        return out
    ginv2 = (v[:, keep] / w[keep] ** 2) @ v[:, keep].T
    out["nc1"] = float(np.einsum("ij,ji->", ginv2, z.T @ z)) / n
    return out


def _gram(ops: _Ops, snap: _Snapshot, keep: np.ndarray | None) -> Any:
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


def _cka(ops: _Ops, cur: _Snapshot, old: _Snapshot | None) -> float:
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


def _sketch(ops: _Ops, xv: Any) -> np.ndarray:
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
    (``nonfinite_frac``, norms, ``dead_frac``, ``dormant_frac``) are still computed on ``x``,
    which costs one pass over it; the rest (class geometry, rank, CKA, neighbours) on
    ``projection``.
    """
    out = dict.fromkeys(METRIC_KEYS, _NAN)
    ops = _Ops(x)
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
    norms = ops.rownorm(xv)
    out["norm_mean"] = float(norms.mean())
    out["norm_max"] = float(norms.max())
    out["dead_frac"] = float((ops.colmax(xv) <= 0).mean())
    unit = ops.colabsmean(xv)
    out["dormant_frac"] = float((unit <= tau * unit.mean()).mean())
    if projection is not None:
        xv = ops.take(ops.prepare(projection), rows)

    if labels is not None:
        lab = to_numpy(labels, "labels").reshape(-1)
        lab = None if lab.shape[0] != n_all else lab[rows]
        xl = xv
        if lab is not None and lab.dtype.kind in "fiu":
            known = np.isfinite(lab) & (lab >= 0)  # NaN or negative: unlabelled row
            if not known.all():
                xl, lab = ops.take(xv, known), lab[known]
            lab = lab.astype(np.int64)
        out.update(_class_metrics(ops, xl, lab))

    if n < 2:
        if state is not None:
            state.prev = None
        return out
    xc = xv - ops.colmean(xv)
    d = int(xc.shape[1])
    gram = xc.T @ xc if d <= n else xc @ xc.T
    eig = ops.eigvalsh(gram)
    out["eff_rank"] = _entropy_rank(eig)
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
        snap.sketch = _sketch(ops, xv)
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
