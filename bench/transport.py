"""Transport benchmark: one frame of 2,000 x 512 float32, Arrow IPC vs the naive JSON list-of-lists.

Measures, in one run and on the same data: Python encode time, bytes on the wire, and TypeScript
decode time (Node, the same decoder the widget uses). Prints a markdown table and writes
bench/results/transport.json.   Usage: .venv/bin/python bench/transport.py [--n 2000 --d 512]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from sentrycam.wire import encode_frame

ROOT = Path(__file__).resolve().parent.parent


def median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, args.d)).astype(np.float32)
    ids = np.arange(args.n, dtype=np.int32)
    labels = rng.integers(0, 10, args.n).astype(np.int32)
    preds = rng.integers(0, 10, args.n).astype(np.int32)

    def arrow(dtype: str = "float32") -> bytes:
        return encode_frame(
            seq=0,
            step=100,
            layer="fc1",
            x=x,
            ids=ids,
            labels=labels,
            preds=preds,
            scalars={"loss": 0.5},
            dtype=dtype,
        )

    def naive_json() -> bytes:
        payload = {
            "step": 100,
            "layer": "fc1",
            "ids": ids.tolist(),
            "labels": labels.tolist(),
            "preds": preds.tolist(),
            "x": x.tolist(),
            "scalars": {"loss": 0.5},
        }
        return json.dumps(payload).encode()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, fn in (
            ("arrow_f32", arrow),
            ("arrow_f16", lambda: arrow("float16")),
            ("json", naive_json),
        ):
            data = fn()
            paths[name] = Path(tmp) / f"{name}.bin"
            paths[name].write_bytes(data)
            reps = args.reps if name != "json" else max(3, args.reps // 3)
            results[name] = {"encode_ms": median_ms(fn, reps), "bytes": len(data)}
        out = subprocess.run(
            [
                "npx",
                "tsx",
                str(ROOT / "bench" / "transport_decode.ts"),
                str(paths["arrow_f32"]),
                str(paths["arrow_f16"]),
                str(paths["json"]),
                str(args.reps),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        decode = json.loads(out.stdout.strip().splitlines()[-1])
    for name in results:
        results[name]["decode_ms"] = decode[name]
    base = results["json"]
    rows = [
        ("Arrow IPC, float32 (sentrycam)", "arrow_f32"),
        ("Arrow IPC, float16 (dtype='float16')", "arrow_f16"),
        ("naive JSON list-of-lists", "json"),
    ]
    lines = [
        f"Frame: {args.n:,} x {args.d} float32 + ids/labels/preds; medians of {args.reps} runs.",
        "",
        "| format | Python encode (ms) | bytes on the wire | TS decode (ms) | encode vs JSON | "
        "bytes vs JSON | decode vs JSON |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key in rows:
        r = results[key]
        lines.append(
            f"| {label} | {r['encode_ms']:.2f} | {r['bytes']:,} | {r['decode_ms']:.3f} | "
            f"{base['encode_ms'] / r['encode_ms']:.1f}x faster | "
            f"{base['bytes'] / r['bytes']:.2f}x smaller | "
            f"{base['decode_ms'] / r['decode_ms']:.0f}x faster |"
        )
    table = "\n".join(lines)
    print(table)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "transport.json").write_text(
        json.dumps(
            {"n": args.n, "d": args.d, "machine": platform.machine(), "results": results}, indent=2
        )
    )
    (out_dir / "transport.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
