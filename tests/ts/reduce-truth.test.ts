// A frame's layout does not depend on the frame viewed before it: a jump back to an untrained frame,
// a frame that collapses and a cold fit after any history look as a fresh view of that frame alone,
// while gradual change still glides.
import test from "node:test";
import assert from "node:assert/strict";
import { LayerReducer } from "../../src/reduce/pipeline.ts";
import { faithfulness, spearman } from "../../src/reduce/faithfulness.ts";
import { warmSources, MAX_WARM_GAP } from "../../src/reduction/warm-source.ts";
import { quality, displacement } from "../../bench/lib/quality.ts";
import { silhouette } from "../../bench/lib/silhouette.ts";
import { clusters, jitter } from "../../bench/lib/synthetic.ts";
import type { Frame } from "../../src/transport/frame.ts";

const n = 600, d = 24;
/** A layer as training shapes it: the same samples, classes drawn apart as `sep` grows. */
const stage = (sep: number) => clusters(n, d, { clusters: 8, sep, seed: 21 });
const trained = stage(4);
const untrained = stage(0.35);

function sameAsFresh(got: Float32Array, x: Float32Array, labels: Int32Array, what: string, method: "umap" | "tsne" | "pca" = "umap"): void {
  const fresh = new LayerReducer({ method }).reduce(x, n, d, { labels });
  const [s, sf] = [silhouette(got, labels, n), silhouette(fresh.xy, labels, n)];
  const [t, tf] = [quality(x, n, d, got).trustworthiness, quality(x, n, d, fresh.xy).trustworthiness];
  assert.ok(Math.abs(s - sf) <= 0.05, `${what}: silhouette ${s.toFixed(3)} vs a fresh view's ${sf.toFixed(3)}`);
  assert.ok(Math.abs(t - tf) <= 0.02, `${what}: trustworthiness ${t.toFixed(3)} vs a fresh view's ${tf.toFixed(3)}`);
}

test("the untrained frame started from the trained layout is refitted: it looks as a fresh view of it", () => {
  const r = new LayerReducer({ method: "umap" });
  const end = r.reduce(trained.x, n, d, { seq: 9, labels: trained.labels, warmFrom: [] });
  assert.equal(end.cold, true);
  // Forced to start from the trained frame (the view would not offer it): the worker must not lie.
  const start = r.reduce(untrained.x, n, d, { seq: 0, labels: untrained.labels, warmFrom: [9] });
  assert.equal(start.cold, true, `kept a warm layout: ${start.notes.join("; ")}`);
  assert.ok(start.notes.some((s) => /cold fit|refitted cold/.test(s)), start.notes.join("; "));
  sameAsFresh(start.xy, untrained.x, untrained.labels, "step 0 after the trained frame");
  // Untrained classes overlap: far less separated than the trained picture.
  assert.ok(silhouette(start.xy, untrained.labels, n) < silhouette(end.xy, trained.labels, n) - 0.2);
});

test("a cold fit depends on the frame alone, whatever was reduced before", () => {
  const r = new LayerReducer({ method: "umap" });
  for (let f = 0; f < 4; f++) r.reduce(stage(0.5 + f).x, n, d, { seq: f + 1 });
  const cold = r.reduce(untrained.x, n, d, { seq: 0, warmFrom: [] });
  assert.equal(cold.cold, true);
  assert.ok(cold.notes.includes("cold fit: no frame just before it in training order is reduced"), cold.notes.join("; "));
  const fresh = new LayerReducer({ method: "umap" }).reduce(untrained.x, n, d);
  // The same fit, only turned to match the last output: aligned onto the fresh one it is the same.
  const moved = displacement(fresh.xy, cold.xy, n);
  assert.ok(moved < 1e-3, `differs from a fresh view by ${moved}`);
});

test("a frame that suddenly collapses is fitted as a fresh view of it", () => {
  const r = new LayerReducer({ method: "umap" });
  let seq = 0;
  for (const sep of [2, 2.5, 3, 3.5]) r.reduce(stage(sep).x, n, d, { seq: seq++, labels: trained.labels, warmFrom: seq > 1 ? [seq - 2] : [] });
  // Collapse: every row near one point; what is left is noise along a few directions.
  const collapsed = stage(3.5).x.map((v, i) => 0.02 * v + (i % d === 0 ? 5 : 0));
  const res = r.reduce(collapsed, n, d, { seq, labels: trained.labels, warmFrom: [seq - 1] });
  sameAsFresh(res.xy, collapsed, trained.labels, "collapsed frame");
});

test("gradual change still glides: a warm frame moves far less than a cold refit", () => {
  const r = new LayerReducer({ method: "umap" });
  const frames = [3, 3.05, 3.1, 3.15].map((sep, i) => jitter(stage(sep).x, 0.01, i + 1));
  const out = frames.map((x, i) => r.reduce(x, n, d, { seq: i, labels: trained.labels, warmFrom: i > 0 ? [i - 1] : [] }));
  assert.ok(out.slice(1).every((o) => !o.cold), out.map((o) => o.notes.join("; ")).join(" | "));
  const coldRefit = new LayerReducer({ method: "umap", seed: 7 }).reduce(frames[3], n, d);
  const warmMove = displacement(out[2].xy, out[3].xy, n);
  const coldMove = displacement(out[2].xy, coldRefit.xy, n);
  assert.ok(warmMove <= 0.1 * coldMove, `warm moved ${warmMove.toFixed(3)}, a cold refit ${coldMove.toFixed(3)}`);
  assert.equal(out[3].warmFrom, 2);
});

test("faithfulness: trustworthiness and the global rank correlation see a scrambled arrangement", () => {
  const fit = new LayerReducer({ method: "umap" }).reduce(trained.x, n, d, { labels: trained.labels });
  const good = faithfulness(trained.x, d, trained.x, d, fit.xy, n, trained.labels);
  assert.ok(good.trust > 0.9 && good.global > 0.3, JSON.stringify(good));
  assert.equal(good.globalOf, "classes");
  // Swap whole classes' places: every local neighbourhood survives, the arrangement does not.
  const swapped = fit.xy.slice();
  const centre = (c: number) => {
    let sx = 0, sy = 0, k = 0;
    for (let i = c; i < n; i += 8) { sx += fit.xy[2 * i]; sy += fit.xy[2 * i + 1]; k++; }
    return [sx / k, sy / k];
  };
  const perm = [5, 2, 7, 0, 6, 1, 3, 4];
  for (let i = 0; i < n; i++) {
    const [ax, ay] = centre(i % 8), [bx, by] = centre(perm[i % 8]);
    swapped[2 * i] += bx - ax;
    swapped[2 * i + 1] += by - ay;
  }
  const bad = faithfulness(trained.x, d, trained.x, d, swapped, n, trained.labels);
  assert.ok(bad.global < good.global - 0.15, `global ${bad.global} vs ${good.global}`);
  const unlabelled = faithfulness(trained.x, d, trained.x, d, fit.xy, n, null);
  assert.equal(unlabelled.globalOf, "landmarks");
  assert.ok(Number.isFinite(unlabelled.global));
  assert.ok(Math.abs(spearman(Float64Array.of(1, 2, 3, 4), Float64Array.of(10, 20, 30, 45)) - 1) < 1e-12);
});

test("warm sources: reduced frames just before it, never after it, never far back unless it is the newest", () => {
  const frame = (seq: number, nn = 10): Frame => ({ seq, n: nn, d: 4 }) as Frame;
  const history = Array.from({ length: 60 }, (_, i) => frame(i));
  const reduced = new Set([2, 30, 40, 45, 59]);
  const isReduced = (f: Frame) => reduced.has(f.seq);
  assert.deepEqual(warmSources(history[46], history, isReduced), [45, 40, 30]);
  assert.deepEqual(warmSources(history[0], history, isReduced), []); // nothing before step 0
  assert.deepEqual(warmSources(history[29], history, isReduced), []); // 2 is 27 frames back
  assert.ok(29 - 2 > MAX_WARM_GAP);
  // The newest frame of a live run starts from its last reduced frame, however far back.
  const live = [...history.slice(0, 3), frame(99)];
  assert.deepEqual(warmSources(live[3], live, isReduced), [2]);
  // Another shape is no start.
  const reshaped = [frame(45), frame(46, 11)];
  assert.deepEqual(warmSources(reshaped[1], reshaped, isReduced), []);
});

test("t-SNE: a jump back is a cold fit equal to a fresh view; the next frame starts warm from it", () => {
  const r = new LayerReducer({ method: "tsne" });
  r.reduce(trained.x, n, d, { seq: 9, labels: trained.labels, warmFrom: [] });
  const start = r.reduce(untrained.x, n, d, { seq: 0, labels: untrained.labels, warmFrom: [] });
  assert.equal(start.cold, true);
  const fresh = new LayerReducer({ method: "tsne" }).reduce(untrained.x, n, d);
  assert.ok(displacement(fresh.xy, start.xy, n) < 1e-3);
  const next = r.reduce(jitter(untrained.x, 0.01), n, d, { seq: 1, labels: untrained.labels, warmFrom: [0] });
  assert.equal(next.cold, false);
  assert.equal(next.warmFrom, 0);
  assert.ok(displacement(start.xy, next.xy, n) < 0.1, `moved ${displacement(start.xy, next.xy, n)}`);
  assert.ok(next.faithfulness !== null && next.faithfulness.trust > 0.8, JSON.stringify(next.faithfulness));
});
