"""Training runs for the diagnostic benchmark: three architectures, two optimisers, CPU.

Each run trains one :class:`Scenario` (an MLP or a CNN on scikit-learn digits, or a small
transformer encoder on generated token sequences; see ``diag_models``) and, every ``every``
steps, runs a fixed probe set through the model (forward hooks on two watched hidden layers) and
evaluates a fixed validation set. A failure scenario changes the training from a known ``onset``
step on; before it, the run is step for step the healthy base run of the same arch, optimiser and
seed (except ``forgetting``, whose first task starts at step 0). Healthy runs change nothing.

Failures (each realistic in kind and size; the magnitudes are the constants below):

- ``lr_spike``: the learning rate jumps x LR_SPIKE and stays there.
- ``lr_ramp``: the learning rate grows x LR_RAMP per step.
- ``dead_relu``: an L1 activity penalty on the ReLU outputs (a sparsity regulariser with far
  too large a weight), its weight warming up from 0 to DEAD_PENALTY over DEAD_RAMP steps: units
  are pushed negative and die one after another (a dead unit gets no gradient back). For the
  transformer these are the ReLUs of both feed-forward blocks (the watched layers are the encoder
  layers' outputs after their LayerNorm, not ReLUs); most of these units die, but the model
  routes around its feed-forward blocks, so validation and the watched layers barely change. In
  the CNN, BatchNorm keeps channels from dying outright: the penalty silences them instead.
- ``dim_collapse``: a rank-reducing regulariser (nuclear over Frobenius norm of the centred,
  pooled batch features of both watched layers, weight COLLAPSE_WEIGHT) is switched on: the
  representation loses dimensions.
- ``label_noise``: a share of the training labels, growing 0 → NOISE_RATE over NOISE_RAMP
  steps, is resampled at random (fixed per example, so the model can memorise them).
- ``forgetting``: classes 0-4 until onset, then only classes 5-9.
- ``shift_sudden``: from onset every training input is shifted (digits: moved
  ``diag_models.SHIFT_PX`` pixels right; tokens: ten ids remapped, as by a tokenizer update);
  validation keeps the original inputs.
- ``shift_gradual``: the same shift on a share of the training inputs growing 0 → 1 over
  SHIFT_RAMP steps.
- ``label_shuffle``: from onset labels are permuted within each batch (a pipeline bug).
- ``frozen``: from onset the first watched layer and everything before it stop learning
  (``requires_grad=False``: no gradient, no momentum, no weight decay); BatchNorm running
  statistics keep updating as they would, so the CNN's first watched layer still moves a little.

Usage: ``.venv/bin/python bench/diag_runs.py [ARCH ...]`` trains one seed of every (arch, kind,
optimiser) with two worker processes and prints a verification table.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diag_models import ARCHS, CLASSES, N_PROBE, build, dataset, pool_rows

OPTS = ("sgd_step", "adamw_cosine")
KINDS = (
    "lr_spike",
    "lr_ramp",
    "dead_relu",
    "dim_collapse",
    "label_noise",
    "forgetting",
    "shift_sudden",
    "shift_gradual",
    "label_shuffle",
    "frozen",
)
VARIANTS = ("wide", "batch128", "reg")  # healthy variants next to "base"
QUICK_KINDS = {  # scenarios(quick=True): two kinds per optimiser, loud and quiet ones
    "sgd_step": ("lr_spike", "label_noise"),
    "adamw_cosine": ("dim_collapse", "shift_sudden"),
}
SPLIT_SEEDS = {"dev": (0, 1, 2), "test": (3, 4, 5)}  # disjoint: rules are tuned on dev only

STEPS = 700
QUICK_STEPS = 400
ONSET_FRAC = (0.4, 0.6)  # onsets fall in this share of the run (280-420 of 700 steps)
BATCH = 32
BIG_BATCH = 128
WIDE = 2.0  # width multiplier of the "wide" variant
REG_DROPOUT = 0.1
REG_WD = {"sgd_step": 5e-4, "adamw_cosine": 0.05}  # the "reg" variant's weight decay
BASE_WD = {"sgd_step": 0.0, "adamw_cosine": 0.01}  # 0.01: AdamW's default
PEAK_LR = {  # per arch and optimiser: each trains well in STEPS steps with batch 32
    ("mlp", "sgd_step"): 0.05,
    ("mlp", "adamw_cosine"): 2e-3,
    ("cnn", "sgd_step"): 0.05,
    ("cnn", "adamw_cosine"): 3e-3,
    ("transformer", "sgd_step"): 0.05,
    ("transformer", "adamw_cosine"): 3e-3,
}
MOMENTUM = 0.9
STEP_DECAY_AT = 0.6  # sgd_step: lr x STEP_DECAY from this share of the steps
STEP_DECAY = 0.1
WARMUP = 0.1  # adamw_cosine: linear warm-up over this share of the steps,
COSINE_FLOOR = 0.01  # then cosine decay to this share of the peak

LR_SPIKE = 30.0  # lr_spike: lr multiplier, held
LR_RAMP = 1.03  # lr_ramp: lr multiplier per step
DEAD_PENALTY = 0.5  # dead_relu: final weight of the L1 penalty (summed over units)
DEAD_RAMP = 200  # dead_relu: the weight grows from 0 to DEAD_PENALTY over these steps
COLLAPSE_WEIGHT = 0.5  # dim_collapse: weight of nuclear/Frobenius norm per watched layer
NOISE_RATE = 0.4  # label_noise: up to this share of training labels is resampled at random
NOISE_RAMP = 300  # label_noise: steps over which the share grows from 0 to NOISE_RATE
SHIFT_RAMP = 200  # shift_gradual: steps over which the shifted share grows from 0 to 1

CHECK_BEFORE = 10  # verification table: "at onset" is the last frame this many steps before it
CHECK_SETTLE = 50  # verification table: layer-1 drift is measured from onset + this on


@dataclass
class Scenario:
    """One run: architecture, optimiser/schedule, failure ``kind`` (``"healthy"`` for none) with
    its ``onset`` step, seed (initialisation and data order) and the healthy-variant knobs."""

    name: str
    arch: str  # "mlp" | "cnn" | "transformer"
    opt: str  # "sgd_step" | "adamw_cosine"
    kind: str  # "healthy" or one of KINDS
    onset: int | None
    seed: int
    steps: int = STEPS
    width: float = 1.0  # multiplier of the hidden widths (MLP 128, CNN 16/32, d_model 32)
    batch: int = BATCH
    dropout: float = 0.0
    weight_decay: float | None = None  # None: the optimiser's base value (BASE_WD)
    variant: str = "base"  # "base" or one of VARIANTS (healthy runs)
    split: str = "dev"  # "dev" | "test"


@dataclass
class RunRecord:
    """What a run leaves behind: per frame step, val loss/acc and each layer's activations."""

    scenario: Scenario
    layers: tuple[str, ...] = ()
    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # per step: batch CE, labels as fed
    acts: dict[str, list[np.ndarray]] = field(default_factory=dict)  # (N_probe, D) float32
    probe_y: np.ndarray | None = None


def lr_factor(opt: str, step: int, steps: int) -> float:
    """The schedule's multiplier of the peak learning rate at ``step``."""
    if opt == "sgd_step":
        return STEP_DECAY if step >= STEP_DECAY_AT * steps else 1.0
    warm = max(1, round(WARMUP * steps))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(sc: Scenario, model: nn.Module) -> torch.optim.Optimizer:
    lr = PEAK_LR[sc.arch, sc.opt]
    wd = BASE_WD[sc.opt] if sc.weight_decay is None else sc.weight_decay
    if sc.opt == "sgd_step":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=wd, fused=True
        )
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd, fused=True)


def _activity(pre: torch.Tensor) -> torch.Tensor:
    """L1 activity of a ReLU given its pre-activation: the per-unit mean output, summed over
    units (features (N, D), channels (N, C, H, W) or feed-forward units (N, T, F))."""
    out = pre.relu()
    if out.ndim == 4:
        return out.mean(dim=(0, 2, 3)).sum()
    return out.reshape(-1, out.shape[-1]).mean(0).sum()


def _rank_surrogate(out: torch.Tensor) -> torch.Tensor:
    """Nuclear over Frobenius norm of the centred, pooled batch features (1 at rank one)."""
    rows = out.mean(dim=(2, 3)) if out.ndim == 4 else out.mean(1) if out.ndim == 3 else out
    rows = rows - rows.mean(0, keepdim=True)
    return torch.linalg.matrix_norm(rows, "nuc") / (torch.linalg.matrix_norm(rows) + 1e-8)


def run(sc: Scenario, every: int = 10) -> RunRecord:
    """Train one scenario and record its frames (step 0, every ``every`` steps, and the last)."""
    torch.set_num_threads(1)
    data = dataset(sc.arch)
    torch.manual_seed(sc.seed)
    model = build(sc.arch, sc.width, sc.dropout)
    modules = dict(model.named_modules())
    layers = tuple(model.watched)
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        modules[k].register_forward_hook(lambda _m, _i, o, k=k: seen.__setitem__(k, o))
        for k in layers
    ]
    pre: list[torch.Tensor] = []
    if sc.kind == "dead_relu":
        hooks += [
            m.register_forward_hook(lambda _m, _i, o: pre.append(o)) for m in model.relu_inputs()
        ]
    opt = _optimizer(sc, model)
    peak = PEAK_LR[sc.arch, sc.opt]
    order = np.random.default_rng([sc.seed, 1])  # data order: the same in every kind
    fail = np.random.default_rng([sc.seed, 2])  # the failure's own draws
    n_train = len(data.y_train)
    y_np = data.y_train.numpy()
    noisy = torch.from_numpy(fail.integers(0, CLASSES, n_train))
    noise_u = torch.from_numpy(fail.random(n_train))
    eval_x = torch.cat([data.x_probe, data.x_val])
    lossf = nn.CrossEntropyLoss()
    rec = RunRecord(sc, layers, acts={k: [] for k in layers}, probe_y=data.y_probe.numpy())
    everyone = np.arange(n_train)
    first_half, second_half = (
        np.flatnonzero(y_np < CLASSES // 2),
        np.flatnonzero(y_np >= CLASSES // 2),
    )
    for step in range(sc.steps + 1):
        if step % every == 0 or step == sc.steps:
            model.eval()
            with torch.no_grad():
                out = model(eval_x)[N_PROBE:]
                for k in layers:
                    rec.acts[k].append(pool_rows(seen[k][:N_PROBE]))
                rec.val_loss.append(float(lossf(out, data.y_val)))
                rec.val_acc.append(float((out.argmax(1) == data.y_val).float().mean()))
            rec.steps.append(step)
            model.train()
        if step == sc.steps:
            break
        failing = sc.onset is not None and step >= sc.onset
        since = step - sc.onset if failing else -1
        kind = sc.kind if failing else "healthy"
        if kind == "frozen" and since == 0:
            for p in model.frozen_part():
                p.requires_grad_(False)
        pool = everyone
        if sc.kind == "forgetting":
            pool = second_half if failing else first_half
        idx = torch.from_numpy(order.choice(pool, sc.batch, replace=False))
        xb, yb = data.x_train[idx], data.y_train[idx]
        if kind == "label_noise":
            rate = NOISE_RATE * min(1.0, (since + 1) / NOISE_RAMP)
            yb = torch.where(noise_u[idx] < rate, noisy[idx], yb)
        elif kind == "shift_sudden":
            xb = data.x_shifted[idx]
        elif kind == "shift_gradual":
            share = min(1.0, (since + 1) / SHIFT_RAMP)
            moved = torch.from_numpy(fail.random(sc.batch) < share)
            moved = moved.reshape(-1, *([1] * (xb.ndim - 1)))
            xb = torch.where(moved, data.x_shifted[idx], xb)
        elif kind == "label_shuffle":
            yb = yb[torch.from_numpy(fail.permutation(sc.batch))]
        lr = peak * lr_factor(sc.opt, step, sc.steps)
        if kind == "lr_spike":
            lr *= LR_SPIKE
        elif kind == "lr_ramp":
            lr *= LR_RAMP**since
        for g in opt.param_groups:
            g["lr"] = lr
        pre.clear()
        loss = lossf(model(xb), yb)
        rec.train_loss.append(float(loss.detach()))
        if kind == "dead_relu":
            weight = DEAD_PENALTY * min(1.0, (since + 1) / DEAD_RAMP)
            loss = loss + weight * sum(_activity(p) for p in pre)
        elif kind == "dim_collapse":
            loss = loss + COLLAPSE_WEIGHT * sum(_rank_surrogate(seen[k]) for k in layers)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for h in hooks:
        h.remove()
    return rec


def onset_of(sc_seed: int, arch: str, opt: str, kind: str, steps: int) -> int:
    """The onset step of one failure run: drawn from its seed, arch, optimiser and kind."""
    key = zlib.crc32(f"{arch}/{opt}/{kind}".encode())
    lo, hi = (round(f * steps) for f in ONSET_FRAC)
    return int(np.random.default_rng([sc_seed, key]).integers(lo, hi + 1))


def _variant(name: str, opt: str) -> dict:
    return {
        "base": {},
        "wide": {"width": WIDE},
        "batch128": {"batch": BIG_BATCH},
        "reg": {"dropout": REG_DROPOUT, "weight_decay": REG_WD[opt]},
    }[name]


def scenarios(split: str, quick: bool = False) -> list[Scenario]:
    """All runs of one seed split (``"dev"`` or ``"test"``).

    Per arch x optimiser and seed: every failure kind, the healthy base run and one healthy
    variant (the seeds take the variants in turn, so every variant appears in every split).
    ``quick``: one seed, shorter runs, the healthy base runs and QUICK_KINDS, for a smoke run.
    """
    seeds = SPLIT_SEEDS[split]
    steps = QUICK_STEPS if quick else STEPS
    if quick:
        seeds = seeds[:1]
    runs: list[Scenario] = []
    for arch in ARCHS:
        for opt in OPTS:
            for i, seed in enumerate(seeds):
                variants = ["base"] if quick else ["base", VARIANTS[i % len(VARIANTS)]]
                for v in variants:
                    runs.append(
                        Scenario(
                            f"{arch}/{opt}/healthy-{v}/s{seed}", arch, opt, "healthy", None,
                            seed, steps, variant=v, split=split, **_variant(v, opt),
                        )
                    )  # fmt: skip
                kinds = QUICK_KINDS[opt] if quick else KINDS
                for kind in kinds:
                    runs.append(
                        Scenario(
                            f"{arch}/{opt}/{kind}/s{seed}", arch, opt, kind,
                            onset_of(seed, arch, opt, kind, steps), seed, steps, split=split,
                        )
                    )  # fmt: skip
    return runs


def load_sentrycam() -> None:
    """Make ``sentrycam.metrics/alerts/audit`` importable even before the widget is built.

    The package ``__init__`` imports the widget, which needs ``static/widget.js``; the kernel-side
    audit modules do not, so fall back to a bare package object when that import fails.
    """
    import types

    src = Path(__file__).resolve().parents[1] / "python"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    try:
        import sentrycam  # noqa: F401
    except Exception:
        for name in [m for m in sys.modules if m == "sentrycam" or m.startswith("sentrycam.")]:
            del sys.modules[name]
        pkg = types.ModuleType("sentrycam")
        pkg.__path__ = [str(src / "sentrycam")]
        sys.modules["sentrycam"] = pkg


def effective_rank(acts: np.ndarray) -> float:
    """exp(entropy) of the normalised covariance spectrum: 1 for rank one, D for isotropic."""
    x = acts.astype(np.float64) - acts.mean(0)
    if not np.isfinite(x).all():
        return float("nan")
    ev = np.linalg.svd(x, compute_uv=False) ** 2
    if ev.sum() <= 0:
        return float("nan")
    p = ev / ev.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def dead_share(acts: np.ndarray) -> float:
    """Share of units that output zero on every probe sample."""
    return float((np.abs(acts) <= 0).all(0).mean())


def _timed(sc: Scenario) -> tuple[RunRecord, float]:
    t0 = time.perf_counter()
    rec = run(sc)
    return rec, time.perf_counter() - t0


def _check_row(rec: RunRecord, base: RunRecord | None, seconds: float) -> str:
    """One line of the verification table (see ``main``)."""
    sc = rec.scenario
    ref = sc.onset if sc.onset is not None else round(np.mean(ONSET_FRAC) * sc.steps)
    steps = np.array(rec.steps)
    i_on = int(np.flatnonzero(steps <= ref - CHECK_BEFORE)[-1])
    after = slice(i_on + 1, None)
    acc, loss = np.array(rec.val_acc), np.array(rec.val_loss)
    l1, l2 = rec.layers
    er = [effective_rank(rec.acts[k][j]) for k in (l1, l2) for j in (i_on, -1)]
    dead = [dead_share(rec.acts[k][-1]) for k in (l1, l2)]
    settled = int(np.searchsorted(steps, ref + CHECK_SETTLE))
    a1 = rec.acts[l1]
    drift = max(
        float(np.linalg.norm(a1[j] - a1[settled]) / (np.linalg.norm(a1[settled]) + 1e-12))
        for j in range(settled, len(a1))
    )
    same = "-"
    if base is not None and sc.kind not in ("healthy", "forgetting"):
        pre = steps <= ref
        same = f"{np.nanmax(np.abs(loss[pre] - np.array(base.val_loss)[pre])):.0e}"
    return (
        f"| {sc.name} | {sc.onset if sc.onset is not None else '-'} | {acc[i_on]:.3f} | "
        f"{acc[-1]:.3f} | {np.nanmin(acc[after]):.3f} | {loss[i_on]:.3f} | {loss[-1]:.3f} | "
        f"{np.nanmax(loss[after]):.3f} | {er[0]:.1f}→{er[1]:.1f} | {er[2]:.1f}→{er[3]:.1f} | "
        f"{dead[0]:.2f}/{dead[1]:.2f} | {drift:.1e} | {same} | {seconds:.1f} |"
    )


def main() -> None:
    """Train one seed of every (arch, kind, optimiser) and print a verification table.

    Arguments: architectures to check (default: all).
    """
    seed = SPLIT_SEEDS["dev"][0]
    runs = []
    for arch in sys.argv[1:] or ARCHS:
        for opt in OPTS:
            runs.append(Scenario(f"{arch}/{opt}/healthy", arch, opt, "healthy", None, seed))
            for kind in KINDS:
                on = onset_of(seed, arch, opt, kind, STEPS)
                runs.append(Scenario(f"{arch}/{opt}/{kind}", arch, opt, kind, on, seed))
    print(
        f"acc/loss @on: last frame >= {CHECK_BEFORE} steps before onset (healthy: before step "
        f"{round(np.mean(ONSET_FRAC) * STEPS)}); min/max: after it; erank: effective rank of "
        "layer 1/2 @on→end; dead: share of units zero on all probes at the end, layer 1/2; "
        f"drift: max relative change of layer-1 frames from onset+{CHECK_SETTLE}; pre: max "
        "|val-loss difference| to the healthy run up to onset; s: seconds (2 workers)\n"
    )
    print(
        "| run | onset | acc@on | acc end | min acc | loss@on | loss end | max loss | erank1 | "
        "erank2 | dead end | drift1 | pre | s |"
    )
    print("|" + "---|" * 14)
    t0 = time.perf_counter()
    base: RunRecord | None = None
    with mp.get_context("spawn").Pool(2) as pool:
        for rec, sec in pool.imap(_timed, runs):
            if rec.scenario.kind == "healthy":
                base = rec
            print(_check_row(rec, base, sec), flush=True)
    print(f"\n{len(runs)} runs in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
