"""Training-step overhead of monitoring the quick-start model (every=10, probe of 500 digits).

Runs inside a real IPython kernel (started with jupyter_client), so frames really leave through the
comm/IOPub path, and interleaves unmonitored and monitored rounds of the same training loop on the
same data. Prints a markdown table and writes bench/results/overhead.json.
Usage: .venv/bin/python bench/overhead.py [--steps 300 --rounds 7]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent

KERNEL_CODE = r"""
import json, statistics, time, warnings
import torch
from torch import nn
from collections import OrderedDict
from sklearn.datasets import load_digits
import sentrycam

torch.manual_seed(0)
d = load_digits()
X = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)

def make_model():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(fc1=nn.Linear(64, 128), act1=nn.ReLU(),
                                     fc2=nn.Linear(128, 64), act2=nn.ReLU(), out=nn.Linear(64, 10)))

def train(model, steps, cam=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    t = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(X), (64,), generator=g)
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
        if cam is not None:
            cam.step(step, loss=loss.item())
        else:
            loss.item()
    return (time.perf_counter() - t) / steps * 1e3

STEPS, ROUNDS = {steps}, {rounds}
base, monitored, frames = [], [], 0
train(make_model(), 50)  # warm-up
for _ in range(ROUNDS):
    base.append(train(make_model(), STEPS))
    m = make_model()
    cam = sentrycam.Monitor(m, layers=["act1", "act2"], probe=(X[:500], y[:500]), every=10)
    cam._displayed = True
    monitored.append(train(m, STEPS, cam))
    cam.flush(); frames += len(cam.frames); cam.close()
print("RESULT " + json.dumps({{"base_ms": base, "monitored_ms": monitored, "frames": frames,
                               "torch_threads": torch.get_num_threads()}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = KERNEL_CODE.format(steps=args.steps, rounds=args.rounds)
        out: list[str] = []
        kc.execute_interactive(
            code,
            timeout=900,
            output_hook=lambda msg: (
                out.append(msg["content"].get("text", ""))
                if msg["msg_type"] == "stream"
                else (_raise(msg) if msg["msg_type"] == "error" else None)
            ),
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    line = next(x for x in "".join(out).splitlines() if x.startswith("RESULT "))
    res = json.loads(line[len("RESULT ") :])
    import statistics

    base = statistics.median(res["base_ms"])
    mon = statistics.median(res["monitored_ms"])
    table = "\n".join(
        [
            f"Quick-start MLP (64-128-64-10), batch 64, {args.steps} steps x {args.rounds} "
            "interleaved rounds, in a real IPython kernel; monitor: layers act1+act2, probe 500, "
            "every=10 (metrics on).",
            "",
            "| run | median ms / training step | ratio |",
            "|---|---:|---:|",
            f"| no monitoring | {base:.3f} | 1.00 |",
            f"| sentrycam.Monitor(every=10, probe 500) | {mon:.3f} | {mon / base:.2f} |",
            "",
            f"Overhead: {100 * (mon / base - 1):+.1f}% per step; "
            f"{(mon - base) * 10:.2f} ms per capture (2 layers).",
        ]
    )
    print(table)
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "overhead.json").write_text(
        json.dumps(
            {
                **res,
                "median_base_ms": base,
                "median_monitored_ms": mon,
                "ratio": mon / base,
                "steps": args.steps,
                "rounds": args.rounds,
            },
            indent=2,
        )
    )
    (ROOT / "bench" / "results" / "overhead.md").write_text(table + "\n")


def _raise(msg: dict) -> None:
    raise RuntimeError("\n".join(msg["content"].get("traceback", [])))


if __name__ == "__main__":
    main()
