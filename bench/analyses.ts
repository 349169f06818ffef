// Cost of the view's analyses on this machine: decision regions, the movers' neighbour graphs and
// neighbourhood change, and trails, at the sizes a probe reaches. Prints a table and writes
// bench/results/analyses.json. Run: node --import tsx bench/analyses.ts
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { decisionRegions } from "../src/analysis/regions.ts";
import { neighbourhoodChange, topMovers } from "../src/analysis/movers.ts";
import { trailTrace, trails } from "../src/analysis/trails.ts";
import { frameNeighbours, MOVER_NEIGHBOURS } from "../src/reduce/neighbours.ts";
import { REGION_GRID, MOVER_COUNT, TRAIL_FRAMES } from "../src/view/analyses.ts";
import { clusters, jitter } from "./lib/synthetic.ts";
import { medianMs } from "./lib/timing.ts";

/** Median milliseconds of `reps` calls after one warm-up call. */
const time = (reps: number, fn: () => unknown): number => medianMs(reps, fn, 1);

const rows: { what: string; n: number; d: number; ms: number }[] = [];
for (const n of [500, 2000, 5000]) {
  const d = 64;
  const { x, labels } = clusters(n, d, { seed: 1 });
  const x2 = jitter(x, 0.3, 2);
  // A 2-D map: the first two coordinates stand in for a layout.
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) [xy[2 * i], xy[2 * i + 1]] = [x[i * d], x[i * d + 1]];
  const preds = Int32Array.from(labels);
  rows.push({ what: `decision regions (grid ${REGION_GRID})`, n, d: 2, ms: time(9, () => decisionRegions(xy, preds, n, { grid: REGION_GRID })) });
  rows.push({ what: `neighbour graph of one frame (k ${MOVER_NEIGHBOURS})`, n, d, ms: time(3, () => frameNeighbours(x, n, d)) });
  const g1 = frameNeighbours(x, n, d), g2 = frameNeighbours(x2, n, d);
  rows.push({ what: `movers from two graphs (top ${MOVER_COUNT})`, n, d, ms: time(9, () => topMovers(neighbourhoodChange(g1, g2, n, MOVER_NEIGHBOURS), MOVER_COUNT)) });
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  const steps = Array.from({ length: TRAIL_FRAMES }, () => ({ ids, xy }));
  const selected = Array.from({ length: Math.min(200, n) }, (_, i) => i * 2);
  rows.push({ what: `trails of 200 samples over ${TRAIL_FRAMES} frames`, n, d: 2, ms: time(9, () => trailTrace(trails(steps, selected))) });
}

const machine = `${cpus()[0]?.model ?? "?"} × ${cpus().length}, Node ${process.version}`;
console.log(`# analyses (${machine})\n`);
console.log("| what | n | d | median ms |\n|---|---|---|---|");
for (const r of rows) console.log(`| ${r.what} | ${r.n} | ${r.d} | ${r.ms.toFixed(2)} |`);
mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
writeFileSync(join(import.meta.dirname, "results", "analyses.json"), JSON.stringify({ machine, rows }, null, 1));
