"""Training runs of the library diagnostic benchmark (``lib_models`` families, CPU).

A run is ``(family, kind, onset, seed)``: the failure kinds, their magnitudes and schedules are
those of ``diag_runs`` (see its docstring), applied to library models; healthy variants are
``base`` and ``slow`` (a slow starter: the family's schedule times (step / SLOW_STEPS) **
SLOW_POWER over the first SLOW_STEPS steps, a long polynomial warm-up; near chance for 200-250
steps, it learns quickly after. Its learning rate is not fed to the product, whose warm-up hold
would otherwise cover the take-off: the run must be told healthy from what it shows. An earlier
slow starter, the rate x 1/333-1/5000 then full at once, threw the BatchNorm CNNs' eval-mode
validation loss up to 36-450 for several captures, a loss spike the val-loss rule itself
flagged; this one, in MobileNetV3, still lifts it from 2.0 to ~8 for three captures while its
accuracy rises). MobileNetV3's
BatchNorm keeps the library's momentum 0.01 in every run. Each failure is injected at an early
onset (EARLY) and a late one (LATE).

Every EVERY steps the fixed evaluation set goes through the model in eval mode: validation loss
and accuracy over all of it, and for each watched layer the rows of the first N_PROBE samples,
pooled by sentrycam's own ``pool_output(..., "auto")`` (what ``Monitor`` sends on), plus, for maps
``(N, C, H, W)``, each channel's maximum over positions. Per-step data order and failure draws
come from generators seeded by ``(seed, step)``, so a failure run is the healthy run of its seed
up to its onset: the healthy run is trained once, snapshots are taken at the onsets, and each
failure continues from its snapshot (``forgetting`` from a trunk of its own on classes 0-4). The
``bert`` family trains inside ``transformers.Trainer`` (see ``lib_trainer``).

Each run is cached as ``<cache>/<VERSION>/<family>/<name>.npz`` (see :func:`save`).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import diag_runs as dr
import numpy as np
import torch
from diag_runs import KINDS, load_sentrycam, lr_factor
from lib_models import FAMILIES, N_PROBE, Family
from torch import nn

load_sentrycam()
from sentrycam.capture import pool_output  # noqa: E402
from sentrycam.capture._pool import first_tensor  # noqa: E402

VERSION = "v2"  # bump when the training changes: cached runs of another version are not read
STEPS = 1000
EVERY = 10
BATCH = 32
EARLY = (250, 300)  # onset ranges: >= 5 captures before at every=50 ...
LATE = (450, 500)  # ... and >= 10 after (steps 550-1000)
SLOW_STEPS = 300
SLOW_VERSION = "cubic"  # in a slow starter's file name: cached slow starters of before are not read
SLOW_POWER = 3  # a slow starter's warm-up: lr x (step / SLOW_STEPS) ** SLOW_POWER
SPLIT_SEEDS = {"dev": (0,), "test": (1,)}
VARIANTS = ("base", "slow")


@dataclass(frozen=True)
class Run:
    family: str
    kind: str  # "healthy" or one of diag_runs.KINDS
    onset: int | None
    seed: int
    split: str = "dev"
    variant: str = "base"
    steps: int = STEPS

    @property
    def tag(self) -> str:
        return f"healthy-{self.variant}" if self.onset is None else f"{self.kind}@{self.onset}"

    @property
    def name(self) -> str:
        return f"{self.family}/{self.tag}/s{self.seed}"

    def path(self, cache: Path) -> Path:
        own = f"-{SLOW_VERSION}" if self.variant == "slow" else ""  # a slow starter's own file
        return cache / VERSION / self.family / f"{self.tag}{own}-s{self.seed}.npz"


def onset_of(seed: int, family: str, kind: str, late: bool) -> int:
    lo, hi = LATE if late else EARLY
    key = [seed, sum(map(ord, f"{family}/{kind}")), int(late)]
    return int(np.random.default_rng(key).integers(lo, hi + 1))


def plan(split: str, families: list[str], kinds: tuple[str, ...] = KINDS) -> list[Run]:
    runs = []
    for fam in families:
        for seed in SPLIT_SEEDS[split]:
            runs += [Run(fam, "healthy", None, seed, split, v) for v in VARIANTS]
            for kind in kinds:
                for late in (False, True):
                    runs.append(Run(fam, kind, onset_of(seed, fam, kind, late), seed, split))
    return runs


@dataclass
class Record:
    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)  # the last learning rate applied
    loss: list[float] = field(default_factory=list)  # the last training batch's loss
    train_loss: list[float] = field(default_factory=list)  # per step
    preds: list[np.ndarray] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)  # (N, classes) model output
    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)
    chmax: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def copy(self) -> Record:
        return Record(
            *(list(getattr(self, k)) for k in ("steps", "val_loss", "val_acc", "lr", "loss")),
            list(self.train_loss), list(self.preds), list(self.logits),
            {k: list(v) for k, v in self.rows.items()}, {k: list(v) for k, v in self.chmax.items()},
        )  # fmt: skip


def _activity(out: torch.Tensor) -> torch.Tensor:
    """L1 activity of an activation's positive part: per-unit mean, summed over units."""
    out = out.relu()
    if out.ndim == 4:
        return out.mean(dim=(0, 2, 3)).sum()
    return out.reshape(-1, out.shape[-1]).mean(0).sum()


def _rank_surrogate(out: torch.Tensor) -> torch.Tensor:
    rows = out.mean(dim=(2, 3)) if out.ndim == 4 else out.mean(1) if out.ndim == 3 else out
    rows = rows - rows.mean(0, keepdim=True)
    if not bool(torch.isfinite(rows).all()):
        return rows.sum() * 0.0  # a diverged run: the SVD would raise
    return torch.linalg.matrix_norm(rows, "nuc") / (torch.linalg.matrix_norm(rows) + 1e-8)


class Sim:
    """One run's model, optimiser and record; trains a segment of steps, with snapshots."""

    def __init__(self, fam: Family, run: Run, snap: dict | None = None) -> None:
        self.fam, self.run, self.data = fam, run, fam.dataset()
        torch.manual_seed(run.seed)
        self.model = fam.build()
        self.modules = dict(self.model.named_modules())
        self.seen: dict[str, object] = {}
        self.acts: list[torch.Tensor] = []
        for k in fam.layers:
            self.modules[k].register_forward_hook(
                lambda _m, _i, o, k=k: self.seen.__setitem__(k, o)
            )
        if run.kind == "dead_relu":
            for m in fam.act_modules(self.model):
                m.register_forward_hook(lambda _m, _i, o: self.acts.append(o))
        fail = np.random.default_rng([run.seed, 2])
        n = len(self.data.y_train)
        self.noisy = torch.from_numpy(fail.integers(0, 10, n))
        self.noise_u = torch.from_numpy(fail.random(n))
        y = self.data.y_train.numpy()
        self.halves = (np.flatnonzero(y < 5), np.flatnonzero(y >= 5))
        self.rec = Record(rows={k: [] for k in fam.layers}, chmax={k: [] for k in fam.layers})
        self.opt: torch.optim.Optimizer | None = None
        self.snap_in = snap
        self.snap_start = snap["step"] if snap is not None else None
        if snap is not None:
            self.model.load_state_dict(snap["model"])
            self.rec = snap["record"].copy()
        self.snaps: dict[int, dict] = {}
        self.train_s = 0.0  # seconds in training steps (captures excluded)

    def active(self, step: int) -> tuple[str, int]:
        o = self.run.onset
        if o is None or step < o:
            return "healthy", -1
        return self.run.kind, step - o

    def lr(self, step: int) -> float:
        fam, steps = self.fam, self.run.steps
        f = lr_factor(fam.opt, step, steps)
        if self.run.variant == "slow" and step < SLOW_STEPS:
            f *= ((step + 1) / SLOW_STEPS) ** SLOW_POWER
        kind, since = self.active(step)
        if kind == "lr_spike":
            f *= dr.LR_SPIKE
        elif kind == "lr_ramp":
            f *= dr.LR_RAMP**since
        return fam.lr * f

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        kind, since = self.active(step)
        d, seed = self.data, self.run.seed
        if self.run.kind == "forgetting":
            pool = self.halves[kind == "forgetting"]
        else:
            pool = np.arange(len(d.y_train))
        idx = torch.from_numpy(np.random.default_rng([seed, 1, step]).choice(pool, BATCH, False))
        xb, yb = d.x_train[idx], d.y_train[idx]
        draw = np.random.default_rng([seed, 3, step])
        if kind == "label_noise":
            rate = dr.NOISE_RATE * min(1.0, (since + 1) / dr.NOISE_RAMP)
            yb = torch.where(self.noise_u[idx] < rate, self.noisy[idx], yb)
        elif kind == "shift_sudden":
            xb = d.x_shifted[idx]
        elif kind == "shift_gradual":
            moved = torch.from_numpy(draw.random(BATCH) < min(1.0, (since + 1) / dr.SHIFT_RAMP))
            xb = torch.where(moved.reshape(-1, *([1] * (xb.ndim - 1))), d.x_shifted[idx], xb)
        elif kind == "label_shuffle":
            yb = yb[torch.from_numpy(draw.permutation(BATCH))]
        return xb, yb

    def before_step(self, step: int) -> None:
        kind, since = self.active(step)
        if kind == "frozen" and since == 0:
            for p in self.fam.frozen_params(self.model):
                p.requires_grad_(False)

    def loss(self, step: int, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        self.acts.clear()
        loss = nn.functional.cross_entropy(self.fam.logits(self.model, xb), yb)
        self.rec.train_loss.append(float(loss.detach()))
        kind, since = self.active(step)
        if kind == "dead_relu":
            w = dr.DEAD_PENALTY * min(1.0, (since + 1) / dr.DEAD_RAMP)
            loss = loss + w * sum(_activity(a) for a in self.acts)
        elif kind == "dim_collapse":
            outs = [first_tensor(self.seen[k]) for k in self.fam.layers]
            loss = loss + dr.COLLAPSE_WEIGHT * sum(_rank_surrogate(o) for o in outs)
        return loss

    @torch.no_grad()
    def at(self, step: int, stops: set[int]) -> None:
        """The top of ``step``: capture (on the cadence and at the run's end; not again at the step
        a snapshot resumes from), then snapshot."""
        due = step % EVERY == 0 or step == self.run.steps
        if due and not (self.snap_in is not None and step == self.snap_start):
            self.capture(step)
        if step in stops:
            self.snaps[step] = {
                "step": step,
                "model": copy.deepcopy(self.model.state_dict()),
                "opt": copy.deepcopy(self.opt.state_dict()),
                "torch_rng": torch.get_rng_state(),
                "record": self.rec.copy(),
            }

    def capture(self, step: int) -> None:
        fam, d, rec = self.fam, self.data, self.rec
        was = self.model.training
        self.model.eval()
        out = fam.logits(self.model, d.x_eval).float()
        for k in fam.layers:
            rows = pool_output(self.seen[k], "auto", self.modules[k]).rows[:N_PROBE]
            rec.rows[k].append(np.array(rows, dtype=np.float32))
            t = first_tensor(self.seen[k])
            if t.ndim == 4:
                rec.chmax[k].append(t[:N_PROBE].amax(dim=(2, 3)).float().numpy().copy())
        rec.steps.append(step)
        rec.val_loss.append(float(nn.functional.cross_entropy(out, d.y_eval)))
        rec.val_acc.append(float((out.argmax(1) == d.y_eval).float().mean()))
        rec.preds.append(out[:N_PROBE].argmax(1).numpy().astype(np.int8))
        rec.logits.append(out[:N_PROBE].numpy().copy())
        rec.lr.append(self.lr(max(step - 1, 0)))
        rec.loss.append(rec.train_loss[step - 1] if step > 0 else math.nan)
        self.model.train(was)
        self.acts.clear()

    def optimizer(self) -> torch.optim.Optimizer:
        ps, fam = self.model.parameters(), self.fam
        if fam.opt == "sgd_step":
            return torch.optim.SGD(ps, lr=fam.lr, momentum=dr.MOMENTUM, weight_decay=fam.wd)
        return torch.optim.AdamW(ps, lr=fam.lr, weight_decay=fam.wd)

    def train(self, start: int, end: int, stops: set[int]) -> None:
        """Steps ``start`` .. ``end`` - 1, capturing at the top of each step and at ``end``."""
        if self.fam.trainer:
            from lib_trainer import trainer_segment

            trainer_segment(self, start, end, stops)
            return
        self.opt = self.optimizer()
        if self.snap_in is not None:
            self.opt.load_state_dict(self.snap_in["opt"])
            torch.set_rng_state(self.snap_in["torch_rng"])
        self.model.train()
        params = list(self.model.parameters())
        for step in range(start, end + 1):
            self.at(step, stops)
            if step == end:
                break
            t0 = time.perf_counter()
            self.before_step(step)
            for g in self.opt.param_groups:
                g["lr"] = self.lr(step)
            loss = self.loss(step, *self.batch(step))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.fam.clip is not None:
                nn.utils.clip_grad_norm_(params, self.fam.clip)
            self.opt.step()
            self.train_s += time.perf_counter() - t0


def save(path: Path, run: Run, fam: Family, rec: Record, meta: dict) -> None:
    """One run as a compressed .npz: curves per capture (``steps``, ``val_loss``, ``val_acc``,
    ``lr``, ``loss``), ``train_loss`` per step, ``preds`` (K, N), ``logits`` (K, N, classes),
    ``probe_y`` (N,), per watched
    layer i ``rows{i}`` (K, N, D) float32 and, for maps, ``chmax{i}`` (K, N, C); ``meta`` JSON."""
    arrays = {k: np.asarray(getattr(rec, k)) for k in ("steps", "val_loss", "val_acc", "lr")}
    arrays |= {"loss": np.asarray(rec.loss), "train_loss": np.asarray(rec.train_loss)}
    arrays["preds"], arrays["logits"] = np.stack(rec.preds), np.stack(rec.logits)
    arrays["probe_y"] = fam.dataset().y_eval[:N_PROBE].numpy()
    for i, k in enumerate(fam.layers):
        arrays[f"rows{i}"] = np.stack(rec.rows[k])
        if rec.chmax[k]:
            arrays[f"chmax{i}"] = np.stack(rec.chmax[k])
    info = {**run.__dict__, "name": run.name, "layers": list(fam.layers), **meta}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(info)), **arrays)
    os.replace(tmp, path)


def load(path: Path) -> dict:
    with np.load(path) as z:
        out = {k: z[k] for k in z.files if k != "meta"}
        out["meta"] = json.loads(str(z["meta"]))
    return out


def _segment(fam: Family, run: Run, snap: dict | None, start: int, end: int, stops: set[int]):
    sim = Sim(fam, run, snap)
    t0 = time.perf_counter()
    sim.train(start, end, stops)
    sec = time.perf_counter() - t0
    meta = {"seconds": round(sec, 2), "train_ms_per_step": 1000 * sim.train_s / max(end - start, 1)}
    return sim, meta


def train_job(job: tuple[list[Run], Path]) -> list[dict]:
    """Train what of one (family, seed) group of runs is not cached; returns what was saved (a
    run that raised is reported with its error and left out)."""
    try:
        return _train_job(job)
    except Exception:  # one family's bug must not cost the others' runs
        import traceback

        return [{"name": f"{job[0][0].family}/s{job[0][0].seed}", "error": traceback.format_exc()}]


def _train_job(job: tuple[list[Run], Path]) -> list[dict]:
    runs, cache = job
    torch.set_num_threads(1)
    todo = [r for r in runs if not r.path(cache).exists()]
    done: list[dict] = []
    if not todo:
        return done
    fam = FAMILIES[runs[0].family]
    seed, split = runs[0].seed, runs[0].split
    base = Run(fam.name, "healthy", None, seed, split)
    trunks = {  # trunk run -> its failure branches to train
        base: [r for r in todo if r.onset is not None and r.kind != "forgetting"],
        replace(base, kind="forgetting"): [r for r in todo if r.kind == "forgetting"],
    }
    for trunk, branches in trunks.items():
        own = trunk.kind == "healthy" and base in todo
        if not branches and not own:
            continue
        end = trunk.steps if own else max(r.onset for r in branches)
        sim, meta = _segment(fam, trunk, None, 0, end, {r.onset for r in branches})
        if own:
            save(base.path(cache), base, fam, sim.rec, meta)
            done.append({"name": base.name, **meta})
        for r in branches:
            b, meta = _segment(fam, r, sim.snaps[r.onset], r.onset, r.steps, set())
            save(r.path(cache), r, fam, b.rec, meta)
            done.append({"name": r.name, **meta})
    for r in todo:
        if r.onset is None and r != base:
            sim, meta = _segment(fam, r, None, 0, r.steps, set())
            save(r.path(cache), r, fam, sim.rec, meta)
            done.append({"name": r.name, **meta})
    return done
