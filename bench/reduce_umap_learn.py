"""umap-learn baseline for bench/reduce.ts.

Usage: reduce_umap_learn.py N D FILE.f32 [FILE.f32 ...]
Each FILE is N*D raw little-endian float32 values (row-major). Prints one JSON object:
{"version": ..., "warmup_s": ..., "fits": [{"seconds": s, "xy": [x0, y0, x1, y1, ...]}, ...]}
Fits use the defaults (n_neighbors=15, min_dist=0.1, spectral init); numba's JIT compilation is
paid once on a small warm-up fit that is not timed.
"""

import json
import sys
import time

import numpy as np


def main() -> None:
    n, d = int(sys.argv[1]), int(sys.argv[2])
    files = sys.argv[3:]
    import umap

    t = time.perf_counter()
    umap.UMAP(n_neighbors=15).fit_transform(
        np.random.default_rng(0).random((400, 16), dtype=np.float32)
    )
    warmup = time.perf_counter() - t
    fits = []
    for path in files:
        x = np.fromfile(path, dtype="<f4").reshape(n, d)
        t = time.perf_counter()
        y = umap.UMAP(n_neighbors=15, min_dist=0.1).fit_transform(x)
        fits.append({"seconds": time.perf_counter() - t, "xy": [float(v) for v in y.reshape(-1)]})
        print(
            f"umap-learn fit {len(fits)}/{len(files)}: {fits[-1]['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    print(json.dumps({"version": umap.__version__, "warmup_s": warmup, "fits": fits}))


if __name__ == "__main__":
    main()
