/**
 * Generated frame sequences for the reduction benchmark: Gaussian clusters on a 20-D latent space,
 * mapped linearly to D dims plus noise. Every frame has the same samples (fixed per-point latent
 * offsets, like a probe set); cluster centres drift slightly between frames and each frame adds
 * fresh small noise, like a layer's activations between two captures.
 */
import { Rng } from "../src/reduce/rng.ts";

export interface DriftingClusters {
  n: number;
  d: number;
  labels: Int32Array;
  /** The next frame (n×d row-major float32). */
  next(): Float32Array;
}

export function driftingClusters(n: number, d: number, opts: { clusters?: number; latent?: number; seed?: number; drift?: number } = {}): DriftingClusters {
  const rng = new Rng(opts.seed ?? 1);
  const C = opts.clusters ?? 10, L = opts.latent ?? 20, drift = opts.drift ?? 0.08;
  const w = new Float32Array(d * L).map(() => rng.normal() / Math.sqrt(L));
  const centers = new Float64Array(C * L).map(() => rng.normal() * 2.5);
  const labels = new Int32Array(n).map(() => rng.int(C));
  const z = new Float32Array(n * L).map(() => rng.normal());
  const lat = new Float64Array(L);
  return {
    n, d, labels,
    next(): Float32Array {
      const x = new Float32Array(n * d);
      for (let i = 0; i < n; i++) {
        const c = labels[i];
        for (let l = 0; l < L; l++) lat[l] = centers[c * L + l] + z[i * L + l] + 0.05 * rng.normal();
        const o = i * d;
        for (let p = 0; p < d; p++) {
          let s = 0;
          const wo = p * L;
          for (let l = 0; l < L; l++) s += w[wo + l] * lat[l];
          x[o + p] = s + 0.3 * rng.normal();
        }
      }
      for (let i = 0; i < centers.length; i++) centers[i] += drift * rng.normal();
      return x;
    },
  };
}
