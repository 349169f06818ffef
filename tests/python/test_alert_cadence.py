"""Windows count steps: one real training run, captured at three cadences, alerts alike.

An MLP trains on scikit-learn digits; its hidden layers are captured on a fixed probe every 5
steps. Feeding every frame, every second and every tenth (cadences 5, 10 and 50) to a stock
:class:`Auditor` must give the same verdicts: nothing while training is healthy (warm-up
included), and an alert within one coarse capture of the learning rate blowing up; the same run
without the blow-up (a control) stays quiet to its end at all three.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from sentrycam.alerts import Auditor  # noqa: E402

ONSET = 500
STEPS = 800
FINE = 5


def _train(blowup: bool = True) -> tuple[list[int], dict[str, list[np.ndarray]], np.ndarray]:
    torch.manual_seed(0)
    d = datasets.load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    probe_x, probe_y = x[:300], y[:300]
    train_x, train_y = x[300:], y[300:]
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    steps, acts = [], {"h1": [], "h2": []}
    for step in range(STEPS + 1):
        if step % FINE == 0:
            with torch.no_grad():
                h1 = model[1](model[0](probe_x))
                h2 = model[3](model[2](h1))
            steps.append(step)
            acts["h1"].append(h1.numpy().copy())
            acts["h2"].append(h2.numpy().copy())
        idx = torch.randint(0, len(train_y), (32,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(train_x[idx]), train_y[idx])
        opt.zero_grad()
        loss.backward()
        if blowup and step >= ONSET:  # the learning rate blows up: x1.1 per step
            for g in opt.param_groups:
                g["lr"] = min(g["lr"] * 1.1, 50.0)
        opt.step()
    return steps, acts, probe_y.numpy()


@pytest.fixture(scope="module")
def run():
    return _train()


@pytest.fixture(scope="module")
def healthy():
    return _train(blowup=False)


def _alerts(run, every: int) -> list:
    steps, acts, labels = run
    aud = Auditor()
    for i, step in enumerate(steps):
        if step % every:
            continue
        for layer in acts:
            aud.observe(step, layer, acts[layer][i], labels=labels)
    return aud.alerts


def test_one_run_at_three_cadences(run):
    got = {every: _alerts(run, every) for every in (5, 10, 50)}
    for every, alerts in got.items():
        before = [f"{a.step} {a.layer} {a.metric} {a.rule}" for a in alerts if a.step < ONSET]
        assert before == [], (every, before)
        after = [a.step for a in alerts if a.step >= ONSET]
        assert after, every
        assert after[0] <= ONSET + 50 + every, (every, after[0])
    firsts = [min(a.step for a in alerts) for alerts in got.values()]
    assert max(firsts) - min(firsts) <= 50, firsts


def test_the_same_healthy_run_at_three_cadences_is_quiet(healthy):
    for every in (5, 10, 50):
        told = [f"{a.step} {a.layer} {a.metric} {a.rule}" for a in _alerts(healthy, every)]
        assert told == [], (every, told)
