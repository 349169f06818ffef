"""A 2-process DDP job (torchrun, gloo, CPU) that trains an MLP on digits and records a run.

torchrun --nproc_per_node=2 ddp_digits.py RECORDING LOG [STEPS] [SLEEP_S]
Every rank builds the same Monitor; only rank 0 captures and records. Rank 0 appends
``<frames recorded> <unix time>`` to LOG after each capture is written (for the watch lag).
"""

from __future__ import annotations

import os
import sys
import time

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import sentrycam


def main() -> None:
    recording, log = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 150
    pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    model = nn.Sequential(
        nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)
    )
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    cam = sentrycam.Monitor(
        ddp, layers=["1", "3"], probe=(x[:300], y[:300]), every=5, record=recording
    )
    shard = torch.arange(rank, len(x), world)
    g = torch.Generator().manual_seed(rank)
    recorded = 0
    for step in range(steps):
        idx = shard[torch.randint(0, len(shard), (64,), generator=g)]
        loss = nn.functional.cross_entropy(ddp(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        cam.step(step, loss=loss.item())
        if rank == 0 and step % 5 == 0:
            cam.flush()  # recorded: now a follower can see it
            recorded += 2  # one frame per watched layer
            with open(log, "a") as f:
                f.write(f"{recorded} {time.time():.3f}\n")
        time.sleep(pause)
    cam.close()
    if rank == 0:
        with open(log, "a") as f:
            f.write(f"done {cam.stats['captures']} {time.time():.3f}\n")
    else:
        assert cam.stats["captures"] == 0, "only rank 0 captures"
    dist.destroy_process_group()
    # Skip interpreter finalization: gloo may abort a process at exit ("terminate called without
    # an active exception", pytorch/pytorch#190489); the recording is closed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
