"""Split digits, the continual-learning case of the tests and of bench/forgetting.py: an MLP
trained on scikit-learn's digits 0-4, then on 5-9, watched on a fixed probe grouped by task."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from sklearn.datasets import load_digits
from torch import nn

import sentrycam

TASKS = ("0-4", "5-9")


def sgd(params: Any) -> torch.optim.Optimizer:
    """The tests' optimiser: SGD, lr 0.05, momentum 0.9."""
    return torch.optim.SGD(params, lr=0.05, momentum=0.9)


def split_digits_run(
    *,
    rehearsal: bool = False,
    mark_tasks: bool = True,
    seed: int = 0,
    steps: int = 250,
    optimizer: Callable[[Any], torch.optim.Optimizer] = sgd,
    **kw: Any,
) -> sentrycam.Monitor:
    """An MLP trained on digits 0-4, then 5-9 (with old samples mixed in when ``rehearsal``),
    watched on a fixed probe of 300 digits grouped "0-4"/"5-9"; returns the closed monitor.
    ``kw`` go to the Monitor."""
    torch.manual_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x))
    x, y = x[perm], y[perm]
    x_probe, y_probe = x[:300], y[:300]
    groups = [TASKS[int(c) // 5] for c in y_probe]
    x_train, y_train = x[300:], y[300:]
    model = nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(64, 64),
            act1=nn.ReLU(),
            fc2=nn.Linear(64, 32),
            act2=nn.ReLU(),
            out=nn.Linear(32, 10),
        )
    )
    cam = sentrycam.Monitor(
        model, layers=["act1", "act2"], probe=(x_probe, y_probe, groups), every=10, **kw
    )
    opt = optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    old = y_train < 5
    step = 0
    for task, part in zip(TASKS, (old, ~old), strict=True):
        if mark_tasks:
            cam.task(task)
        xs, ys = x_train[part], y_train[part]
        for _ in range(steps):
            i = torch.randint(0, len(xs), (32,))
            xb, yb = xs[i], ys[i]
            if rehearsal and task == "5-9":
                j = torch.randint(0, int(old.sum()), (32,))
                xb, yb = torch.cat([xb, x_train[old][j]]), torch.cat([yb, y_train[old][j]])
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            cam.step(step, loss=loss.item())
            step += 1
    cam.close()
    return cam
