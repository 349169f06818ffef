"""A small torch.distributed training job for the distributed tests; run it with torchrun.

    python -m torch.distributed.run --nproc_per_node=2 dist_job.py SCENARIO OUT_DIR [--device cuda]

Scenarios (each rank writes what it saw to ``OUT_DIR/SCENARIO-rank{r}.json``):

- ``ddp``: a DDP model with BatchNorm trained on scikit-learn's digits; the default
  ``distributed="rank0"``; both ranks pass the same ``record=`` path.
- ``fsdp2``: a model sharded with ``fully_shard``, ``distributed="shard"``; rank 0 then checks the
  last frames against a single-process pass over the whole probe with the same (gathered) weights.
- ``fsdp1``: the same with ``FullyShardedDataParallel`` (needs an accelerator: ``--device cuda``
  on a machine with two GPUs; FSDP1 refuses to run on the CPU).
- ``misconfig``: setups that must fail fast on every rank with a clear message, never hang.

Runs with gloo on the CPU by default (``OMP_NUM_THREADS=1`` keeps two ranks off each other's cores);
``--device cuda`` uses NCCL and one GPU per rank.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch import nn

import sentrycam
import sentrycam.capture._distributed as distributed_module

EVERY = 5
STEPS = 23  # captures at 0, 5, 10, 15, 20
LAYERS = ["act1", "act2"]


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    return torch.tensor(data.data / 16.0, dtype=torch.float32), torch.tensor(data.target)


def mlp(batchnorm: bool) -> nn.Module:
    torch.manual_seed(0)  # the same initial weights on every rank
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(64, 32),
            norm=nn.BatchNorm1d(32) if batchnorm else nn.Identity(),
            act1=nn.ReLU(),
            fc2=nn.Linear(32, 16),
            act2=nn.ReLU(),
            out=nn.Linear(16, 10),
        )
    )


def train(model: nn.Module, cam: Any, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    """SGD on this rank's half of the data; ``cam.step`` once per step."""
    rank, world = dist.get_rank(), dist.get_world_size()
    device = next(model.parameters()).device
    mine = torch.arange(rank, len(x), world)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(rank)
    model.train()
    for step in range(steps):
        batch = mine[torch.randint(0, len(mine), (64,), generator=g)]
        loss = nn.functional.cross_entropy(model(x[batch].to(device)), y[batch].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        cam.step(step, loss=loss)


def report(out: Path, scenario: str, **facts: Any) -> None:
    path = out / f"{scenario}-rank{dist.get_rank()}.json"
    path.write_text(json.dumps(facts, default=str))


def ddp(out: Path, device: str) -> None:
    from torch.nn.parallel import DistributedDataParallel

    x, y = digits()
    model = mlp(batchnorm=True).to(device)
    ddp_model = DistributedDataParallel(model)  # broadcast_buffers: BatchNorm's stats are synced
    t0 = time.perf_counter()
    cam = sentrycam.Monitor(
        ddp_model, layers=LAYERS, probe=(x[:200], y[:200]), every=EVERY, record=out / "run.arrows"
    )
    train(ddp_model, cam, x, y, STEPS)
    cam.close()
    # DDP keeps the parameters equal (BatchNorm's running statistics differ after each rank's
    # last forward pass, so they are left out).
    flat = torch.cat([p.detach().flatten().cpu() for p in model.parameters()])
    report(
        out,
        "ddp",
        stats=cam.stats,
        frames=[[f.step, f.layer] for f in cam.frames],
        recorder=cam._parts.recorder is not None,
        worker=cam._pipeline.worker is not None,
        runner=cam._session.ready,
        hooks=sum(len(m._forward_hooks) for m in model.modules()),
        weights=[float(flat.sum()), float(flat.abs().sum())],
        seconds=time.perf_counter() - t0,
    )


def sharded_model(kind: str, device: str) -> nn.Module:
    model = mlp(batchnorm=False).to(device)
    if kind == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        for name in ("fc1", "fc2", "out"):
            fully_shard(getattr(model, name))
        return fully_shard(model)
    from torch.distributed.fsdp import FullyShardedDataParallel

    return FullyShardedDataParallel(model, device_id=torch.device(device))


def full_state(model: nn.Module, kind: str) -> dict[str, torch.Tensor]:
    """Every parameter in full (a collective on every rank)."""
    if kind == "fsdp2":
        return {
            k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().cpu()
            for k, v in model.state_dict().items()
        }
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    config = FullStateDictConfig(offload_to_cpu=True, rank0_only=False)
    with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, config):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def sharded(out: Path, kind: str, device: str) -> None:
    x, y = digits()
    probe = (x[:101], y[:101])  # odd: the ranks' parts differ by one row
    model = sharded_model(kind, device)
    t0 = time.perf_counter()
    cam = sentrycam.Monitor(
        model,
        layers=LAYERS,
        probe=probe,
        every=4,
        probe_batch=25,  # 50 rows: 2 chunks, 51 rows: 3, unless every part has as many rows
        distributed="shard",
        record=out / f"{kind}.arrows",
    )
    train(model, cam, x, y, 9)  # captures at 0, 4, 8; no training after the last one
    cam.close()
    seconds = time.perf_counter() - t0
    state = full_state(model, kind)
    facts: dict[str, Any] = {"stats": cam.stats, "seconds": seconds, "problems": cam.problems}
    gloo = cam._dist.group._get_backend(torch.device("cpu"))
    facts["gather_timeout_s"] = gloo.options._timeout.total_seconds()
    if dist.get_rank() == 0:
        reference = mlp(batchnorm=False)
        reference.load_state_dict(state)
        reference.eval()
        seen: dict[str, torch.Tensor] = {}
        for name in LAYERS:
            getattr(reference, name).register_forward_hook(
                lambda _m, _i, o, name=name: seen.__setitem__(name, o)
            )
        with torch.no_grad():
            preds = reference(probe[0]).argmax(dim=1).numpy()
        last = [f for f in cam.frames if f.step == 8]
        facts["frames"] = [[f.step, f.layer] for f in cam.frames]
        facts["max_error"] = {
            f.layer: float(np.abs(f.x - seen[f.layer].numpy()).max()) for f in last
        }
        facts["shapes"] = {f.layer: list(f.x.shape) for f in last}
        facts["preds_equal"] = all(np.array_equal(f.preds, preds) for f in last)
        facts["labels_equal"] = all(np.array_equal(f.labels, probe[1].numpy()) for f in last)
        facts["ids"] = [f.ids.tolist() == list(range(101)) for f in last]
    report(out, kind, **facts)


class FailsOnRank1(nn.Module):
    """A model whose probe pass (eval mode) fails on rank 1 only."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and dist.get_rank() == 1:
            raise RuntimeError("this rank's data loader is broken")
        return self.fc(x)


def misconfig(out: Path, device: str) -> None:
    from torch.distributed.fsdp import fully_shard

    x, y = digits()
    rank = dist.get_rank()
    errors: dict[str, Any] = {}

    def attempt(name: str, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        try:
            sentrycam.Monitor(**kwargs)
            errors[name] = {"error": None}
        except Exception as exc:
            errors[name] = {"error": f"{type(exc).__name__}: {exc}"}
        errors[name]["seconds"] = time.perf_counter() - t0

    model = mlp(batchnorm=False).to(device)
    fully_shard(model)
    attempt("fsdp_rank0", model=model, layers=LAYERS, probe=(x[:20], y[:20]))
    attempt(
        "every_differs",
        model=model,
        layers=LAYERS,
        probe=(x[:20], y[:20]),
        every=5 + rank,
        distributed="shard",
    )
    attempt("tiny_probe", model=model, layers=LAYERS, probe=x[:1], distributed="shard")
    attempt("budget", model=model, layers=LAYERS, probe=x[:20], distributed="shard", budget=0.05)
    # A probe pass that fails on one rank: rank 0 says so, nobody waits for it.
    t0 = time.perf_counter()
    cam = sentrycam.Monitor(FailsOnRank1(), layers=["fc"], probe=x[:10], distributed="shard")
    cam.step(0)
    cam.step(1)
    cam.close()
    errors["fails_on_rank1"] = {
        "problems": cam.problems,
        "frames": len(cam.frames),
        "seconds": time.perf_counter() - t0,
    }
    # Only rank 0 constructs a sharded monitor: it says so once the others have not come.
    distributed_module.JOIN_TIMEOUT_S = 2.0
    if rank == 0:
        attempt("alone", model=mlp(False), layers=LAYERS, probe=x[:20], distributed="shard")
    dist.barrier()  # on the job's own group, which the failed join left alone
    report(out, "misconfig", **errors)


def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    if device == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        device = f"cuda:{torch.cuda.current_device()}"
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    try:
        if scenario == "ddp":
            ddp(out, device)
        elif scenario in ("fsdp1", "fsdp2"):
            sharded(out, scenario, device)
        elif scenario == "misconfig":
            misconfig(out, device)
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    finally:
        dist.destroy_process_group()
    # Skip the interpreter's finalization: a gloo worker thread that frees DDP's last allreduce
    # while Python shuts down aborts the process ("terminate called without an active
    # exception"; pytorch/pytorch#190489), about one run in ten on a loaded 2-core machine.
    # Every monitor is closed and every report written by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
