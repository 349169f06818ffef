"""Error of the geometry metrics computed on a layer's random projection instead of its full width.

A layer wider than ``max_dim`` travels as a fixed seeded Gaussian projection to ``k`` dimensions
(:mod:`sentrycam.pipeline`); when ``n x d`` exceeds ``EXACT_METRICS_MAX_VALUES`` its metrics are
computed on that projection too, except the per-value, per-row and per-unit ones (non-finite
fraction, norms, dead and dormant units), which stay exact. This measures, for realistic wide
activations (conv maps and transformer tokens flattened, a wide ReLU MLP layer, clustered
Gaussian data), how far each metric on the projection is from the exact one. Each case has three
successive frames (the same probe after more training steps, or drifted data), run through
``layer_metrics`` with one ``LayerState`` for the exact sequence and one per projected sequence.
The projection seed is fixed per layer name in the product; several names give several matrices.

Usage: ``.venv/bin/python bench/projection_error.py [--seeds 3] [--ks 256,512,1024] [--no-big]``
(``--no-big`` skips the 256 x 200,000 case: ~1 of ~2 minutes, 1.7 GB). Prints markdown tables
and writes bench/results/projection_error.json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_runs import load_sentrycam

load_sentrycam()

from sentrycam.metrics import METRIC_KEYS, LayerState, layer_metrics  # noqa: E402
from sentrycam.pipeline._builder import EXACT_METRICS_MAX_VALUES  # noqa: E402
from sentrycam.pipeline._project import Projector  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
N_PROBE = 512
FRAME_STEPS = (150, 175, 200)  # training steps at which the probe is captured
# Fractions in [0, 1] (and CKA / Jaccard): absolute error. Everything else: relative error.
ABSOLUTE = ("nonfinite_frac", "dead_frac", "dormant_frac")
ABSOLUTE += ("cka_prev", "cka_ref", "knn_jaccard_prev")
NOTES = {  # verdict for a projected layer, then how to read the number
    "n_valid": "keep: identical (a row with a non-finite value is left out on both sides).",
    "nonfinite_frac": "exact: computed on the full width (on a projection one non-finite value "
    "would poison its whole row).",
    "norm_mean": "exact: computed on the full width (one pass over it).",
    "norm_max": "exact: computed on the full width.",
    "dead_frac": "exact: computed on the full width (on a projection it would be meaningless: "
    "it is about units, which a projection mixes).",
    "dormant_frac": "exact: computed on the full width (it would read 0 on a projection).",
    "eff_rank": "approximate, biased low (never above k): the random mixing distorts the "
    "spectrum; the bias about halves each time k doubles. Compare frames of one projected layer "
    "with each other, not with exact values.",
    "n_classes": "keep: identical by construction (labels are not projected).",
    "intra_var": "keep: squared distances are preserved in expectation.",
    "inter_dist": "keep: distances between class means are preserved.",
    "fisher": "keep: ratio of two preserved quantities.",
    "nc1": "approximate: S_B^+ weights the within-class scatter along the C-1 class-mean "
    "directions, and the projection leaks scatter from other directions into them; the error "
    "grows when the scatter spans many directions (as in the synthetic cases, n = k / 2).",
    "cka_prev": "keep: both frames go through the same matrix; CKA is nearly unchanged.",
    "cka_ref": "keep: as cka_prev.",
    "knn_jaccard_prev": "approximate: near-ties between neighbours flip; small on trained "
    "layers, larger where noise dominates the distances (synthetic cases).",
}


def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    probe, train = perm[:N_PROBE], perm[N_PROBE:]
    return x[train], y[train], x[probe], y[probe]


def _train_frames(model: nn.Module, hooks: dict[str, nn.Module], prep: Callable, lr: float) -> dict:
    """Train on digits with Adam; each hooked module's output for the probe at FRAME_STEPS."""
    xtr, ytr, xpr, ypr = _digits()
    xtr, xpr = prep(xtr), prep(xpr)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(1)
    frames: dict[str, list[np.ndarray]] = {name: [] for name in hooks}
    grab: dict[str, torch.Tensor] = {}
    handles = [
        mod.register_forward_hook(lambda m, i, o, name=name: grab.__setitem__(name, o.detach()))
        for name, mod in hooks.items()
    ]
    for step in range(1, max(FRAME_STEPS) + 1):
        idx = torch.randint(len(xtr), (64,), generator=gen)
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in FRAME_STEPS:
            with torch.no_grad():
                model.eval()(xpr)
            model.train()
            for name in hooks:
                frames[name].append(grab[name].reshape(N_PROBE, -1).numpy().astype(np.float32))
    for h in handles:
        h.remove()
    return {name: (f, ypr.numpy()) for name, f in frames.items()}


def _up32(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x.view(-1, 1, 8, 8), size=32, mode="bilinear", align_corners=False)


def cases_cnn() -> dict:
    """Digits upsampled to 32 x 32, a two-conv CNN; the post-ReLU maps of both convs."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip
    return _train_frames(model, {"cnn_conv1": model[1], "cnn_conv2": model[4]}, _up32, 3e-3)


class _Tokens(nn.Module):
    """Digits upsampled to 32 x 32 as 64 patches of 4 x 4, one encoder layer, mean-pooled head."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.embed = nn.Linear(16, dim)
        self.pos = nn.Parameter(torch.randn(64, dim) * 0.1)
        self.block = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.unfold(2, 4, 4).unfold(3, 4, 4).reshape(len(x), 64, 16)
        return self.head(self.block(self.embed(patches) + self.pos).mean(1))


def cases_transformer() -> dict:
    torch.manual_seed(0)
    model = _Tokens()
    return _train_frames(model, {"transformer": model.block}, _up32, 1e-3)


def cases_mlp() -> dict:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4096), nn.ReLU(), nn.Linear(4096, 10))
    return _train_frames(model, {"mlp4096": model[2]}, lambda x: x, 1e-3)


def case_synthetic(d: int, n: int = 256, classes: int = 10, rank: int = 32) -> tuple:
    """Clustered Gaussian rows: class means + rank-32 factors + noise; the factors drift."""
    rng = np.random.default_rng(7)
    y = np.arange(n) % classes
    means = rng.standard_normal((classes, d), dtype=np.float32)
    z = rng.standard_normal((n, rank), dtype=np.float32)
    w = rng.standard_normal((rank, d), dtype=np.float32) * np.float32(0.6)
    frames = []
    for _ in range(3):
        noise = rng.standard_normal((n, d), dtype=np.float32)
        frames.append(means[y] + z @ w + noise)
        w += rng.standard_normal((rank, d), dtype=np.float32) * np.float32(0.15)
        z += rng.standard_normal((n, rank), dtype=np.float32) * np.float32(0.15)
    return frames, y


def _sequence(
    frames: list[np.ndarray], labels: np.ndarray, projections: list | None = None
) -> list[dict[str, float]]:
    """Metrics of successive frames; with ``projections`` as the product computes them on a
    projected layer (per-value, per-row and per-unit metrics still on the full width)."""
    state = LayerState()
    projections = projections or [None] * len(frames)
    pairs = zip(frames, projections, strict=True)
    return [layer_metrics(f, labels, state, projection=p) for f, p in pairs]


def _error(metric: str, exact: float, proj: float) -> float:
    if not (math.isfinite(exact) and math.isfinite(proj)):
        return math.nan
    if metric in ABSOLUTE:
        return abs(proj - exact)
    return abs(proj - exact) / abs(exact) if exact != 0 else math.nan


def measure(name: str, frames: list, labels: np.ndarray, ks: list[int], seeds: int) -> dict:
    n, d = frames[0].shape
    exact = _sequence(frames, labels)
    stacked = np.concatenate(frames)  # projection is row-wise: one product for all frames
    proj = {  # a fresh Projector per matrix: the 200,000-wide ones are not cached anyway
        str(k): [Projector().project(f"{name}/seed{s}", stacked, k) for s in range(seeds)]
        for k in ks
    }
    proj = {
        k: [_sequence(frames, labels, np.split(p, len(frames))) for p in ps]
        for k, ps in proj.items()
    }
    errors = {
        str(k): {
            m: [_error(m, e[m], r[i][m]) for r in proj[str(k)] for i, e in enumerate(exact)]
            for m in METRIC_KEYS
        }
        for k in ks
    }
    regime = "exact" if n * d <= EXACT_METRICS_MAX_VALUES else "projected"
    return dict(n=n, d=d, product_metrics=regime, exact=exact, projected=proj, errors=errors)


def _clean(v: object) -> object:
    """JSON without NaN: undefined values become null, infinities the strings "inf"/"-inf"."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _agg(vals: list[float]) -> tuple[float, float]:
    v = [x for x in vals if math.isfinite(x)]
    return (float(np.median(v)), float(max(v))) if v else (math.nan, math.nan)


def _fmt(metric: str, med: float, mx: float) -> str:
    if not math.isfinite(med):
        return "–"
    if metric in ABSOLUTE:
        return f"{med:.3f} ({mx:.3f})"
    return f"{100 * med:.2g}% ({100 * mx:.2g}%)"


def _table(cols: list[str], cell: Callable[[str, str], str]) -> list[str]:
    """Markdown rows: one per metric (with its error kind), one column per entry of ``cols``."""
    out = ["| metric | error | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for m in METRIC_KEYS:
        kind = "abs" if m in ABSOLUTE else "rel"
        out.append(f"| {m} | {kind} | " + " | ".join(cell(m, c) for c in cols) + " |")
    return [*out, ""]


def report(res: dict, ks: list[int], k0: int) -> str:
    cases, seeds = res["cases"], res["seeds"]
    names, kcols = list(cases), [f"k = {k}" for k in ks]

    def err(m: str, c: str) -> str:
        return _fmt(m, *_agg(cases[c]["errors"][str(k0)][m]))

    def val(m: str, c: str) -> str:
        pair = cases[c]["exact"][-1][m], cases[c]["projected"][str(k0)][0][-1][m]
        return " / ".join("–" if math.isnan(v) else f"{v:.4g}" for v in pair)

    def by_k(m: str, col: str) -> str:
        k = col.removeprefix("k = ")
        return _fmt(m, *_agg([e for c in cases.values() for e in c["errors"][k][m]]))

    sizes = "; ".join(
        f"{c} {v['n']} x {v['d']:,} ({v['product_metrics']})" for c, v in cases.items()
    )
    out = [f"### Error at k = {k0}: median (max) over frames and {seeds} projection seeds", ""]
    out += _table(names, err)
    out += [f"Case sizes, n x d (what the product computes metrics on at that size): {sizes}.", ""]
    out += [f"### Values, last frame: exact / projected at k = {k0} (seed 0)", ""]
    out += _table(names, val)
    out += ["### Error by k: median (max) over all cases, frames and seeds", ""]
    out += _table(kcols, by_k)
    out += [
        "### How to read it (rel: |proj - exact| / |exact|; abs: |proj - exact|)",
        "",
    ]
    out += [f"- **{m}**: {NOTES[m]}" for m in METRIC_KEYS]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--ks", default="256,512,1024")
    ap.add_argument("--no-big", action="store_true", help="skip the 256 x 200,000 case")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    k0 = 512 if 512 in ks else ks[0]
    torch.set_num_threads(1)  # a shared 2-core machine: one thread is faster and fair
    threadpool_limits(1)
    groups: list[Callable[[], dict]] = [cases_cnn, cases_transformer, cases_mlp]
    groups.append(lambda: {"synth20k": case_synthetic(20_000)})
    if not args.no_big:
        groups.append(lambda: {"synth200k": case_synthetic(200_000)})
    t_start = time.perf_counter()
    res: dict = {"seeds": args.seeds, "ks": ks, "absolute": list(ABSOLUTE), "cases": {}}
    for group in groups:
        for name, (frames, labels) in group().items():
            t = time.perf_counter()
            res["cases"][name] = measure(name, frames, labels, ks, args.seeds)
            print(f"{name} {frames[0].shape}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        print(f"  (total so far {time.perf_counter() - t_start:.1f} s)", file=sys.stderr)
    res["runtime_s"] = round(time.perf_counter() - t_start, 1)
    res["env"] = dict(
        python=platform.python_version(), numpy=np.__version__, torch=torch.__version__
    )
    md = report(res, ks, k0)
    print(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "projection_error.json").write_text(json.dumps(_clean(res), indent=1))
    cmd = " ".join([".venv/bin/python", *sys.argv])
    head = (
        f"# Metrics on a random projection vs exact\n\n`{cmd}`: {res['runtime_s']} s, 1 thread.\n"
    )
    (RESULTS / "projection_error.md").write_text(head + "\n" + md)


if __name__ == "__main__":
    main()
