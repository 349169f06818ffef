"""Write a real training sequence for bench/reduce.ts: a small MLP (64→128→64→10, torch, CPU)
trained on scikit-learn's digits, with the first hidden layer's activations on all 1,797 samples
captured every few steps, as a sentrycam recording (concatenated Arrow IPC streams, one per
capture; columns id, label, pred, x: FixedSizeList<float32>[128]; schema metadata "sentrycam").

Usage: reduce_make_digits_sequence.py OUT.arrows [--captures 40] [--every 10] [--seed 0]
"""

import argparse
import json

import numpy as np
import pyarrow as pa
import torch
from sklearn.datasets import load_digits


def frame_bytes(
    seq: int,
    step: int,
    layer: str,
    x: np.ndarray,
    labels: np.ndarray,
    preds: np.ndarray,
    scalars: dict,
) -> bytes:
    n, d = x.shape
    meta = {
        "seq": seq,
        "step": step,
        "layer": layer,
        "scalars": scalars,
        "metrics": {},
        "nonfinite": int((~np.isfinite(x)).sum()),
    }
    flat = pa.array(x.astype(np.float32).reshape(-1), type=pa.float32())
    table = pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int32)),
            "label": pa.array(labels.astype(np.int32)),
            "pred": pa.array(preds.astype(np.int32)),
            "x": pa.FixedSizeListArray.from_arrays(flat, d),
        }
    ).replace_schema_metadata({"sentrycam": json.dumps(meta)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--captures", type=int, default=40)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(args.seed)
    captured = {}
    model[1].register_forward_hook(
        lambda _m, _i, out: captured.__setitem__("hidden1", out.detach())
    )
    step, seq = 0, 0
    with open(args.out, "wb") as f:
        while seq < args.captures:
            if step % args.every == 0:
                model.eval()
                with torch.no_grad():
                    logits = model(x)
                model.train()
                loss = float(torch.nn.functional.cross_entropy(logits, y))
                acc = float((logits.argmax(1) == y).float().mean())
                f.write(
                    frame_bytes(
                        seq,
                        step,
                        "hidden1",
                        captured["hidden1"].numpy(),
                        digits.target,
                        logits.argmax(1).numpy(),
                        {"loss": loss, "accuracy": acc},
                    )
                )
                seq += 1
            idx = torch.randint(0, len(x), (64,), generator=gen)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    print(f"wrote {seq} frames of hidden1 (1797 × 128) to {args.out}; final accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
