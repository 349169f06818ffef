"""openTSNE and scikit-learn TSNE baselines for the t-SNE rows of bench/reduce.ts.

Usage: reduce_tsne_ref.py {opentsne|sklearn} N D FILE.f32 [FILE.f32 ...]
Each FILE is N*D raw little-endian float32 values (row-major), the full-dimensional frame (no PCA
pre-reduction: the honest reference). Prints one JSON object:
{"version": ..., "fits": [{"seconds": s, "xy": [x0, y0, x1, y1, ...]}, ...]}
Both run their defaults (perplexity 30; openTSNE: PCA init, exact or Annoy kNN, Barnes-Hut below
10,000 points and FFT above, n_jobs=1; scikit-learn: PCA init, learning rate "auto", 1,000
iterations, Barnes-Hut), with random_state=0.
"""

import json
import sys
import time

import numpy as np


def fit_opentsne(x: np.ndarray) -> np.ndarray:
    from openTSNE import TSNE

    return np.asarray(TSNE(perplexity=30, random_state=0).fit(x))


def fit_sklearn(x: np.ndarray) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(perplexity=30, random_state=0).fit_transform(x)


def main() -> None:
    which, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    files = sys.argv[4:]
    if which == "opentsne":
        import openTSNE

        fit, version = fit_opentsne, f"openTSNE {openTSNE.__version__}"
    elif which == "sklearn":
        import sklearn

        fit, version = fit_sklearn, f"scikit-learn {sklearn.__version__}"
    else:
        raise SystemExit(f"unknown method {which!r}")
    fits = []
    for path in files:
        x = np.fromfile(path, dtype="<f4").reshape(n, d).astype(np.float64)
        t = time.perf_counter()
        y = fit(x)
        fits.append({"seconds": time.perf_counter() - t, "xy": [float(v) for v in y.reshape(-1)]})
        print(
            f"{version} fit {len(fits)}/{len(files)}: {fits[-1]['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    print(json.dumps({"version": version, "fits": fits}))


if __name__ == "__main__":
    main()
