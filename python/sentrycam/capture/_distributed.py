"""Multi-process jobs (torchrun, DDP, FSDP): which process captures, and the sharded probe pass.

``Monitor(..., distributed=...)`` takes one of :data:`DISTRIBUTED_MODES`:

- ``"rank0"`` (the default): only rank 0 captures, computes metrics, records and sends. On the other
  ranks ``step()`` and ``log()`` return after one branch: no hooks, no background thread, no
  recording file (``record=`` is ignored there), nothing sent to a view. No collective is ever
  called, so it works whether or not the other ranks construct a monitor at all. The probe runs
  through the model inside its ``DistributedDataParallel`` wrapper, so DDP's collectives never run.
- ``"shard"``: for a model whose forward pass is itself collective (FSDP, DTensor parameters).
  Every rank runs its contiguous part of the probe at the same steps (rank ``r`` of ``w`` gets rows
  ``[r*n//w, (r+1)*n//w)``); rank 0 gathers the pooled rows and predictions in probe order and makes
  the frames exactly as a single process would. The capture decision must be the same on every
  rank, so the cadence is the fixed ``every`` (``budget=`` is refused). Every rank must construct
  the monitor with the same settings: binding the model checks that with one collective (at
  construction; at the first capture where a framework callback binds the model later).
- ``"all"``: every rank captures as an independent process (e.g. independent models launched
  together). Each rank needs its own recording: put ``{rank}`` in ``record=``.

The rank is ``torch.distributed``'s when its default process group is initialised, else from the
environment that launchers set before ``init_process_group`` (see :func:`process_rank`), else a
single process. ``{rank}`` in ``record=`` is replaced by the rank in every mode. A sharded model
(FSDP, DTensor parameters) with the default ``"rank0"`` would hang rank 0: it is refused with a
``ValueError`` on every rank that says to pass ``distributed="shard"``.

The collectives of ``"shard"`` run on a gloo process group of their own (CPU tensors, on any
backend) with a timeout, so a rank that never joins ends in an error that says what to do, not in
a hang: :data:`JOIN_TIMEOUT_S` at construction, :data:`GATHER_TIMEOUT_S` at each capture. (A
sharded model's own forward pass runs on the job's process group, under its timeout.)
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._pool import Pooled
from ._probe import Probe, ProbeRun

DISTRIBUTED_MODES = ("rank0", "shard", "all")
JOIN_TIMEOUT_S = 120.0  # construction: how long the ranks wait for each other's monitors (shard)
# Each capture: how long a gather waits for the slowest rank (shard). As long as NCCL's default
# timeout: a rank may be late by whatever rank 0 alone does between steps (a checkpoint, say).
GATHER_TIMEOUT_S = 600.0

SHARDED_HINT = (
    "every rank must construct the Monitor with the same layers, probe, every and probe_batch, "
    "and call cam.step() at the same steps"
)


@dataclass(frozen=True)
class ProcessRank:
    """Where this process stands in its job."""

    rank: int
    world_size: int
    initialised: bool  # torch.distributed's default process group exists


def process_rank(environ: Mapping[str, str] | None = None) -> ProcessRank:
    """This process's rank and the job's world size.

    From ``torch.distributed`` when its default process group is initialised; else from the
    ``RANK`` and ``WORLD_SIZE`` environment variables (set by ``torchrun`` before
    ``init_process_group``); else from ``LOCAL_RANK`` and ``NODE_RANK`` (Lightning's launcher
    sets no ``RANK``; exact on the first node, and non-zero wherever the real rank is); else
    rank 0 of 1. A rank without a usable ``WORLD_SIZE`` still counts: a process told it is rank 3
    must never write rank 0's recording.
    """
    dist = _torch_distributed()
    if dist is not None and dist.is_initialized():
        return ProcessRank(dist.get_rank(), dist.get_world_size(), True)
    env = os.environ if environ is None else environ
    rank = _env_int(env, "RANK")
    local = _env_int(env, "LOCAL_RANK")
    if rank is None and local is not None and local >= 0:
        node = _env_int(env, "NODE_RANK") or _env_int(env, "GROUP_RANK") or 0
        rank = max(node, 0) * (_env_int(env, "LOCAL_WORLD_SIZE") or local + 1) + local
    if rank is None or rank < 0:
        return ProcessRank(0, 1, False)
    world = _env_int(env, "WORLD_SIZE")
    if world is None or world <= rank:
        world = rank + 1
    return ProcessRank(rank, world, False)


def check_distributed(mode: Any) -> None:
    """Raise ``ValueError`` unless ``mode`` is one of :data:`DISTRIBUTED_MODES`."""
    if not isinstance(mode, str) or mode not in DISTRIBUTED_MODES:
        raise ValueError(
            f"distributed must be one of {DISTRIBUTED_MODES}, got {mode!r}: 'rank0' (only rank 0 "
            "captures), 'shard' (every rank runs its part of the probe; for FSDP) or 'all' "
            "(every rank captures on its own)"
        )


def sharded_by(model: Any) -> str | None:
    """What makes ``model``'s forward pass a collective (FSDP, DTensor parameters), or ``None``."""
    for module in model.modules():
        classes = {cls.__name__ for cls in type(module).__mro__}
        if "FullyShardedDataParallel" in classes:
            return "FSDP (FullyShardedDataParallel)"
        if "FSDPModule" in classes:
            return "FSDP (fully_shard)"
    for param in model.parameters():
        if any(cls.__name__ == "DTensor" for cls in type(param).__mro__):
            return "DTensor parameters (FSDP, tensor or sequence parallelism)"
    return None


class Distributed:
    """This process's part in monitoring a multi-process job (see the module docstring)."""

    def __init__(self, mode: str, where: ProcessRank) -> None:
        self.mode = mode
        self.rank = where.rank
        self.world_size = where.world_size
        self.shards = mode == "shard" and where.world_size > 1
        self.makes_frames = mode == "all" or where.rank == 0  # builds, records, sends frames
        self.active = self.makes_frames or self.shards  # step() does anything at all here
        self.group: Any = None  # the gloo process group of the sharded pass
        self.broken = False  # a gather failed: the sharded pass is off for the rest of the run
        self._rows = (0, 0)  # this rank's rows of the probe, [start, stop)
        self._probe_n = 0

    @classmethod
    def for_process(
        cls, mode: Any, *, model: Any, budget: Any, record: Any, environ: Any = None
    ) -> Distributed:
        """Check ``mode`` against this process and ``model``; raise ``ValueError`` for a setup
        that would hang or corrupt a file, saying what to do. No collective is called here."""
        check_distributed(mode)
        where = process_rank(environ)
        if mode == "shard" and budget is not None:
            raise ValueError(
                "budget= stretches the cadence by each process's own timing, so the ranks would "
                "disagree about which steps capture; with distributed='shard' every rank captures "
                "at the same steps: pass every= without budget="
            )
        made = cls(mode, where)
        if where.world_size == 1:
            return made
        if model is not None:
            made.check_model(model)
        if mode == "shard" and model is not None and not where.initialised:
            raise ValueError(_no_group(where.rank, where.world_size))
        if mode == "all" and record is not None and "{rank}" not in os.fspath(record):
            raise ValueError(
                f"with distributed='all' each of the {where.world_size} ranks records on its own: "
                f"put {{rank}} in the path (e.g. record='run-{{rank}}.arrows') so that the ranks "
                f"do not write the same file {os.fspath(record)!r}"
            )
        return made

    def check_model(self, model: Any) -> None:
        """Raise ``ValueError`` when only rank 0 would run ``model``'s collective forward pass."""
        if self.mode != "rank0" or self.world_size == 1:
            return
        sharded = sharded_by(model)
        if sharded:
            raise ValueError(
                f"the model is sharded ({sharded}): its forward pass is a collective that every "
                f"rank must join, so with the default distributed='rank0' rank 0 would wait "
                f"forever for the others. Pass Monitor(..., distributed='shard') on every rank "
                "so that each rank runs its part of the probe and rank 0 gathers the rows"
            )

    def record_path(self, record: Any) -> Any:
        """Where this process records: ``None`` where it makes no frames; ``{rank}`` filled in."""
        if record is None or not self.makes_frames:
            return None
        text = os.fspath(record)
        return text.replace("{rank}", str(self.rank)) if "{rank}" in text else record

    def stats(self) -> dict[str, Any]:
        """The entries this adds to ``cam.stats``."""
        return {"distributed": self.mode, "rank": self.rank, "world_size": self.world_size}

    # ---- the sharded probe pass -------------------------------------------------------------

    def bind(self, probe: Probe, model: Any, config: Mapping[str, Any]) -> Probe:
        """What this process runs of ``probe`` through ``model``: all of it, or in shard mode
        its part, after checking that every rank's ``config`` agrees.

        Called when the model is bound: at construction, or at the first capture for a model
        bound later (as framework callbacks do). In shard mode a collective.
        The part has ``ceil(n / world_size)`` rows on every rank (the last one repeated where a
        rank's share is one shorter), so every rank runs as many chunks as the others: FSDP
        needs the same number of forward passes on each rank.
        """
        self.check_model(model)
        if not self.shards:
            return probe
        n, w = probe.n, self.world_size
        dist = _torch_distributed()
        if dist is None or not dist.is_initialized():
            raise ValueError(_no_group(self.rank, w))
        if n < w:
            raise ValueError(
                f"the probe has {n} sample(s) but the job has {w} ranks: with "
                "distributed='shard' each rank runs at least one; use a probe of at least "
                f"{w} samples"
            )
        self._probe_n = n
        start, stop = self.rank * n // w, (self.rank + 1) * n // w
        self._rows = (start, stop)
        everyone = self._everyone(dist, {**config, "probe": n})
        if self.group is not None:  # from now on ranks may be apart by more than a moment
            with contextlib.suppress(Exception):  # a private API: else JOIN_TIMEOUT_S stays
                dist.distributed_c10d._set_pg_timeout(  # noqa: SLF001 (torch has no public one)
                    timedelta(seconds=GATHER_TIMEOUT_S), self.group
                )
        first = everyone[0]
        differ = sorted({key for c in everyone for key in c if c.get(key) != first.get(key)})
        if differ:
            table = "; ".join(
                f"rank {r}: " + ", ".join(f"{k}={c.get(k)!r}" for k in differ)
                for r, c in enumerate(everyone)
            )
            raise ValueError(
                f"with distributed='shard' the ranks must agree, and they differ in {differ} "
                f"({table}); {SHARDED_HINT}"
            )
        return probe.rows(start, stop, -(-n // w))

    def _everyone(self, dist: Any, config: dict[str, Any]) -> list[dict[str, Any]]:
        """Every rank's ``config``, on a new gloo group (without gloo: on the default group)."""
        try:
            if dist.is_gloo_available():
                timeout = timedelta(seconds=JOIN_TIMEOUT_S)
                self.group = dist.new_group(backend="gloo", timeout=timeout)
                # gloo's barrier names the ranks that did not come
                dist.monitored_barrier(group=self.group, timeout=timeout, wait_all_ranks=True)
            everyone: list[Any] = [None] * self.world_size
            dist.all_gather_object(everyone, config, group=self.group)
        except Exception as exc:
            raise RuntimeError(
                f"distributed='shard': rank {self.rank} waited {JOIN_TIMEOUT_S:.0f} s for the "
                f"other ranks' monitors and not all came ({type(exc).__name__}: "
                f"{str(exc).strip()[:300]}); {SHARDED_HINT}. Where only rank 0 should monitor, "
                "use the default distributed='rank0' (not for a sharded model)"
            ) from exc
        return everyone

    def run_shard(self, local: Callable[[], ProbeRun]) -> ProbeRun | None:
        """Run this rank's part of the probe (``local``) and gather every part on rank 0.

        A collective: every rank calls it at the same steps. Rank 0 gets the whole probe's
        :class:`ProbeRun` in probe order; the other ranks get ``None``. A rank whose pass failed
        still joins the gather (with its error), so the others never wait for it; rank 0 raises
        ``RuntimeError`` naming that rank. A gather that fails (a rank did not come within
        :data:`GATHER_TIMEOUT_S`) raises ``RuntimeError`` and turns the sharded pass off.
        """
        if self.broken:
            return None
        part: dict[str, Any]
        try:
            run = local()
            for event in run.ready:  # copies from the GPU must be done before pickling
                event.synchronize()
            part = _part(run, self._rows[1] - self._rows[0])
        except Exception as exc:  # reported by rank 0; the gather must happen anyway
            part = {"error": f"{type(exc).__name__}: {exc}"}
        dist = _torch_distributed()
        assert dist is not None
        parts: list[Any] | None = [None] * self.world_size if self.rank == 0 else None
        try:
            dist.gather_object(part, parts, dst=0, group=self.group)
        except Exception as exc:
            self.broken = True
            raise RuntimeError(
                f"rank {self.rank}: gathering the probe's parts failed ({type(exc).__name__}: "
                f"{str(exc).strip()[:300]}); the sharded capture is off for the rest of this "
                f"run. {SHARDED_HINT}"
            ) from exc
        if parts is None:
            return None
        return _assemble(parts, self._probe_n)


def _part(run: ProbeRun, count: int) -> dict[str, Any]:
    """What one rank sends: its ``count`` real rows per layer (padding dropped), predictions."""
    return {
        "layers": {
            name: (_first(p.rows, count), p.method, p.layout, tuple(p.shape[1:]))
            for name, p in run.layers.items()
        },
        "preds": _first(run.preds, count) if run.preds is not None else None,
        "problems": list(run.problems),
    }


def _first(rows: Any, count: int) -> Any:
    """The first ``count`` rows, copied when fewer (a pickled view would carry all of them)."""
    if len(rows) == count:
        return rows
    first = rows[:count]
    return first.clone() if hasattr(first, "clone") else first.copy()


def _assemble(parts: Sequence[dict[str, Any]], n: int) -> ProbeRun:
    """Rank 0: the whole probe's run from every rank's part, in rank (= probe) order."""
    failed = [f"rank {r}: {p['error']}" for r, p in enumerate(parts) if "error" in p]
    if failed:
        raise RuntimeError("; ".join(failed))
    result = ProbeRun(problems=list(parts[0]["problems"]))
    for r, p in enumerate(parts[1:], start=1):
        result.problems += [
            f"rank {r}: {text}" for text in p["problems"] if text not in result.problems
        ]
    for name in parts[0]["layers"]:
        pieces = [p["layers"].get(name) for p in parts]
        if any(piece is None for piece in pieces):
            missing = [r for r, piece in enumerate(pieces) if piece is None]
            result.problems.append(
                f"layer {name!r}: rank(s) {missing} returned no rows; its frame was not sent"
            )
            continue
        _, method, layout, rest = pieces[0]
        result.layers[name] = Pooled(
            _cat([piece[0] for piece in pieces]), method, layout, (n, *rest)
        )
    preds = [p["preds"] for p in parts]
    if all(pred is not None for pred in preds):
        result.preds = _cat(preds)
    return result


def _cat(pieces: list[Any]) -> Any:
    if all(hasattr(p, "dim") for p in pieces):
        import torch

        return torch.cat(pieces)
    import numpy as np

    return np.concatenate([np.asarray(p) for p in pieces])


def _no_group(rank: int, world_size: int) -> str:
    return (
        f"distributed='shard' needs torch.distributed: this is rank {rank} of {world_size} (from "
        "the environment) but no process group is initialised; call "
        "torch.distributed.init_process_group() before constructing the Monitor"
    )


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    try:
        return int(env.get(name, "").strip())
    except ValueError:
        return None


def _torch_distributed() -> Any:
    """``torch.distributed`` when torch is loaded and built with it (a job that initialised a
    process group has loaded torch), else ``None``."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() else None
