/** Seeded synthetic data for the reduce tests and benchmark (not used by the pipeline). */
import { Rng } from "../../src/reduce/rng.ts";

/** n points in d dims: `clusters` Gaussian blobs on a low-dimensional latent, plus noise. */
export function clusters(n: number, d: number, opts: { clusters?: number; latent?: number; sep?: number; noise?: number; seed?: number } = {}): { x: Float32Array; labels: Int32Array } {
  const rng = new Rng(opts.seed ?? 1);
  const C = opts.clusters ?? 5, L = Math.min(opts.latent ?? 8, d), sep = opts.sep ?? 4, noise = opts.noise ?? 0.2;
  const w = new Float64Array(d * L).map(() => rng.normal() / Math.sqrt(L));
  const centers = new Float64Array(C * L).map(() => rng.normal() * sep);
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  const lat = new Float64Array(L);
  for (let i = 0; i < n; i++) {
    const c = i % C;
    labels[i] = c;
    for (let l = 0; l < L; l++) lat[l] = centers[c * L + l] + rng.normal();
    for (let p = 0; p < d; p++) {
      let s = 0;
      for (let l = 0; l < L; l++) s += w[p * L + l] * lat[l];
      x[i * d + p] = s + noise * rng.normal();
    }
  }
  return { x, labels };
}

export function jitter(x: Float32Array, amount: number, seed = 9): Float32Array {
  const rng = new Rng(seed);
  return x.map((v) => v + amount * rng.normal());
}

/** Seeded Math.random replacement for umap-js. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}
