"""The array operations the metrics need, for NumPy or torch, and the class-geometry metrics
(``n_classes``, ``intra_var``, ``inter_dist``, ``fisher``, ``nc1``) shared by the per-layer and the
per-group metrics."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..base import as_rows, is_tensor

__all__ = ["NAN", "Ops", "class_metrics", "entropy_rank", "quietly"]

NAN = float("nan")
_EIG_RTOL = 1e-6  # singular values below 1e-3 x the largest are float32 noise
_COLLAPSE_RTOL = 1e-10  # tr(S_W) below this x tr(S_B) is round-off: perfectly collapsed


F = TypeVar("F", bound=Callable[..., Any])


def quietly(fn: F) -> F:
    """``fn`` with NumPy's floating-point warnings off: every undefined value is NaN already, so
    a warning would only tell the user what the metric says (and must not reach them)."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


class Ops:
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

    def absolute(self, x: Any) -> Any:
        return x.abs() if self.torch is not None else np.abs(x)

    def min(self, x: Any) -> float:
        return float(x.min().item() if self.torch is not None else x.min())

    def pow2_scale(self, x: Any) -> float:
        """A power of two at or above the largest magnitude in ``x`` (1.0 for zeros): dividing
        by it is exact and leaves every entry within [-1, 1], so nothing overflows after."""
        peak = float(self.absolute(x).max().item() if self.torch is not None else np.abs(x).max())
        if not (peak > 0 and math.isfinite(peak)):
            return 1.0
        return math.ldexp(1.0, math.frexp(peak)[1])

    def colstd(self, x: Any) -> np.ndarray:
        """Each column's standard deviation, in float64."""
        if self.torch is not None:
            return self.cpu(x.double().std(dim=0, correction=0))
        return x.std(axis=0, dtype=np.float64)

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


def entropy_rank(eig: np.ndarray) -> float:
    eig = np.clip(eig, 0.0, None)
    eig[eig < eig.max(initial=0.0) * _EIG_RTOL] = 0.0  # float32 round-off, not a direction
    sv = np.sqrt(eig)
    total = sv.sum()
    if not np.isfinite(total) or total <= 0:
        return NAN
    p = sv / total + 1e-12
    return float(math.exp(-(p * np.log(p)).sum()))


def class_metrics(ops: Ops, xv: Any, labels: np.ndarray | None) -> dict[str, float]:
    out = dict.fromkeys(("n_classes", "intra_var", "inter_dist", "fisher", "nc1"), NAN)
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
        out["fisher"] = math.inf if tr_sb > 0 else NAN
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
