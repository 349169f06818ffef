"""Training-step overhead of monitoring the quick-start model (every=10, probe of 500 digits).

Runs inside a real IPython kernel (started with jupyter_client), so frames really leave through the
comm/IOPub path, and interleaves unmonitored and monitored rounds of the same training loop on the
same data. Prints a markdown table and writes bench/results/overhead.json.
Usage: .venv/bin/python bench/overhead.py [--steps 300 --rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
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

H1, H2, BATCH = {h1}, {h2}, {batch}

def make_model():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(fc1=nn.Linear(64, H1), act1=nn.ReLU(),
                                     fc2=nn.Linear(H1, H2), act2=nn.ReLU(), out=nn.Linear(H2, 10)))

def train(model, steps, cam=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    t = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(X), (BATCH,), generator=g)
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
        if cam is None:
            loss.item()
        elif cam.layers and cam._model is None:  # log(): NumPy arrays captured by hand
            if step % 10 == 0:
                with torch.no_grad():
                    h = torch.relu(model.fc1(X[:500]))
                    h2 = torch.relu(model.fc2(h))
                cam.log(step, {{"act1": h.numpy(), "act2": h2.numpy()}}, labels=y[:500].numpy(),
                        loss=loss.item())
        else:
            cam.step(step, loss=loss.item())
    return (time.perf_counter() - t) / steps * 1e3

STEPS, ROUNDS = {steps}, {rounds}
base, monitored, bare, logged, frames = [], [], [], [], 0
train(make_model(), 50)  # warm-up
for _ in range(ROUNDS):
    base.append(train(make_model(), STEPS))
    m = make_model()
    cam = sentrycam.Monitor(m, layers=["act1", "act2"], probe=(X[:500], y[:500]), every=10)
    cam._displayed = True
    monitored.append(train(m, STEPS, cam))
    cam.flush(); frames += len(cam.frames); cam.close()
    m = make_model()
    cam = sentrycam.Monitor(m, layers=["act1", "act2"], probe=(X[:500], y[:500]), every=10,
                            metrics=False)
    cam._displayed = True
    bare.append(train(m, STEPS, cam))
    cam.close()
    m = make_model()
    cam = sentrycam.Monitor(layers=["act1", "act2"])
    cam._displayed = True
    logged.append(train(m, STEPS, cam))
    cam.close()
print("RESULT " + json.dumps({{"base_ms": base, "monitored_ms": monitored, "bare_ms": bare,
                               "logged_ms": logged,
                               "frames": frames,
                               "torch_threads": torch.get_num_threads()}}))
"""


CONFIGS = [
    ("quick-start MLP 64-128-64-10, batch 64", 128, 64, 64),
    ("wider MLP 64-1024-1024-10, batch 256", 1024, 1024, 256),
]


def run(steps: int, rounds: int, h1: int, h2: int, batch: int) -> dict:
    """Interleaved unmonitored/monitored rounds in a fresh kernel; per-step times in ms."""
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = KERNEL_CODE.format(steps=steps, rounds=rounds, h1=h1, h2=h2, batch=batch)
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
    res["median_base_ms"] = statistics.median(res["base_ms"])
    res["median_monitored_ms"] = statistics.median(res["monitored_ms"])
    res["median_bare_ms"] = statistics.median(res["bare_ms"])
    res["median_logged_ms"] = statistics.median(res["logged_ms"])
    res["ratio"] = res["median_monitored_ms"] / res["median_base_ms"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    lines = [
        f"{args.steps} steps x {args.rounds} interleaved rounds per model, in a real IPython "
        "kernel; monitor: layers act1+act2, probe 500 digits, every=10, metrics and alerts on.",
        "",
        "| model | ms/step, no monitoring | ms/step, monitored | ratio | overhead "
        "| ms per capture (2 layers) | overhead with metrics=False | overhead, log() of NumPy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    results = {}
    for name, h1, h2, batch in CONFIGS:
        r = results[name] = run(args.steps, args.rounds, h1, h2, batch)
        base, mon = r["median_base_ms"], r["median_monitored_ms"]
        lines.append(
            f"| {name} | {base:.3f} | {mon:.3f} | {mon / base:.2f} | "
            f"{100 * (mon / base - 1):+.1f}% | {(mon - base) * 10:.2f} | "
            f"{100 * (r['median_bare_ms'] / base - 1):+.1f}% | "
            f"{100 * (r['median_logged_ms'] / base - 1):+.1f}% |"
        )
    table = "\n".join(lines)
    print(table)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "overhead.json").write_text(
        json.dumps({"steps": args.steps, "rounds": args.rounds, "configs": results}, indent=2)
    )
    (out_dir / "overhead.md").write_text(table + "\n")


def _raise(msg: dict) -> None:
    raise RuntimeError("\n".join(msg["content"].get("traceback", [])))


if __name__ == "__main__":
    main()
