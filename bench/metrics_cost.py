"""Cost of the geometry metrics: one layer, 2,000 x 512 float32, NumPy path and torch path.

Usage: ``.venv/bin/python bench/metrics_cost.py [--n 2000] [--d 512] [--reps 20]``. Prints a
table (median ms per frame, total and per metric group) and writes bench/results/metrics_cost.json.
The target is all metrics within 50 ms per layer and frame on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_runs import load_sentrycam

load_sentrycam()

import sentrycam.metrics._layer as M  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_MS = 50.0


def _time(fn: Callable[[], object], reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def _parts(x, labels: np.ndarray, x_prev) -> dict[str, Callable[[], object]]:
    """Each metric group on its own, as layer_metrics runs it."""
    ops = M.Ops(x)
    xa = ops.prepare(x)
    st = M.LayerState()
    M.layer_metrics(x_prev, labels, st)
    M.layer_metrics(x_prev, labels, st)  # prev and ref both set
    n = xa.shape[0]
    rows = np.ones(n, bool)

    def base():
        ops.finite_rows(xa)
        ops.rownorm(xa)
        (ops.colmax(xa) <= 0).mean()
        ops.colabsmean(xa)

    def spectrum():
        xc = xa - ops.colmean(xa)
        return M.entropy_rank(ops.eigvalsh(xc.T @ xc))

    xc = xa - ops.colmean(xa)
    eig = ops.eigvalsh(xc.T @ xc)
    snap = M._Snapshot(rows, xc, None, float(np.sqrt((np.clip(eig, 0, None) ** 2).sum())), None)

    def cka():
        M._cka(ops, snap, st.prev)
        M._cka(ops, snap, st.ref)

    prev_knn = ops.knn(xa, min(n, M.KNN_MAX_QUERIES), M.KNN_K)

    def knn():
        M._jaccard(ops.knn(xa, min(n, M.KNN_MAX_QUERIES), M.KNN_K), prev_knn)

    return {
        "finite+norms+dead+dormant": base,
        "class (intra/inter/fisher/nc1)": lambda: M.class_metrics(ops, xa, labels),
        "eff_rank (centre+gram+eigvalsh)": spectrum,
        "cka_prev+cka_ref": cka,
        "knn_jaccard_prev": knn,
    }


def measure(backend: str, n: int, d: int, reps: int) -> dict:
    """Median ms of the full call (with state) and of each metric group."""
    rng = np.random.default_rng(0)
    base = np.maximum(rng.standard_normal((n, d)), 0).astype(np.float32)
    drift = (0.05 * rng.standard_normal((n, d))).astype(np.float32)
    labels = rng.integers(0, 10, n)
    x, xp = base + drift, base
    if backend == "torch":
        import torch

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        x, xp = torch.from_numpy(x), torch.from_numpy(xp)
    st = M.LayerState()
    M.layer_metrics(xp, labels, st)

    def full():
        M.layer_metrics(x, labels, st)

    res = {"total_ms": _time(full, reps)}
    res["parts_ms"] = {k: _time(f, reps) for k, f in _parts(x, labels, xp).items()}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    backends = ["numpy"]
    try:
        import torch  # noqa: F401

        backends.append("torch")
    except ImportError:
        pass
    out = {
        "n": args.n,
        "d": args.d,
        "budget_ms": BUDGET_MS,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "load_average_before": os.getloadavg()[0],
        "results": {b: measure(b, args.n, args.d, args.reps) for b in backends},
    }
    parts = list(next(iter(out["results"].values()))["parts_ms"])
    print(f"metrics cost, one layer {args.n} x {args.d} float32 (median of {args.reps}, ms)\n")
    print("| part | " + " | ".join(backends) + " |")
    print("|---|" + "---:|" * len(backends))
    for p in parts:
        cells = [f"{out['results'][b]['parts_ms'][p]:.1f}" for b in backends]
        print(f"| {p} | " + " | ".join(cells) + " |")
    tot = [f"**{out['results'][b]['total_ms']:.1f}**" for b in backends]
    print("| **all metrics (layer_metrics)** | " + " | ".join(tot) + " |")
    ok = all(out["results"][b]["total_ms"] <= BUDGET_MS for b in backends)
    out["within_budget"] = ok
    print(f"\nbudget {BUDGET_MS:.0f} ms: {'PASS' if ok else 'FAIL'}", end=" ")
    print(f"(1-min load average before the run: {out['load_average_before']:.2f})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metrics_cost.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
