// Browser page for the reduction scale test: the widget's ReductionClient (Web Worker from inlined
// source) on generated clusters, with a longtask observer on the main thread. Bundled by the test.
import { ReductionClient, type Reduced } from "../../src/reduction/client.ts";
import { startWorkerPort } from "../../src/reduction/worker-port.ts";
import type { Frame } from "../../src/transport/frame.ts";

interface Report {
  results: { seq: number; cold: boolean; ms: number; wallMs: number; finite: number; notes: string[] }[];
  longTasks: number[];
  inWorker: boolean;
  error: string | null;
  /** Main-thread time of each request (copy + postMessage). */
  requestMs: number[];
}

declare global {
  interface Window {
    runReduction(n: number, d: number, frames: number): Promise<Report>;
  }
}

function clusters(n: number, d: number, seed: number, drift: number): Float32Array {
  let s = seed >>> 0;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const k = 12;
  const centres = new Float32Array(k * d);
  let c = 12345;
  const crand = () => ((c = (c * 1664525 + 1013904223) >>> 0) / 4294967296);
  for (let i = 0; i < centres.length; i++) centres[i] = (crand() - 0.5) * 8 + drift * Math.sin(i);
  const x = new Float32Array(n * d);
  let pt = 777;
  const prand = () => ((pt = (pt * 1664525 + 1013904223) >>> 0) / 4294967296);
  for (let i = 0; i < n; i++) {
    const cl = i % k;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[cl * d + j] + (prand() - 0.5) * 2 + (rand() - 0.5) * 0.05;
  }
  return x;
}

window.runReduction = (n, d, count) =>
  new Promise<Report>((resolve) => {
    const longTasks: number[] = [];
    const report: Report = { results: [], longTasks, inWorker: false, error: null, requestMs: [] };
    const frames: Frame[] = [];
    for (let f = 0; f < count; f++) {
      frames.push({ seq: f, step: f * 10, layer: "big", n, d, ids: new Int32Array(n), labels: null, preds: null, groups: null, groupNames: [], tasks: [], x: clusters(n, d, f + 1, f * 0.05), scalars: {}, metrics: {}, nonFinite: 0, pool: "none", shape: [n, d], projectedFrom: null, every: null });
    }
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longTasks.push(e.duration);
    }).observe({ type: "longtask", buffered: false });
    let sent = 0;
    let t0 = 0;
    const next = () => {
      if (sent >= count) {
        client.close();
        setTimeout(() => resolve(report), 200);
        return;
      }
      t0 = performance.now();
      client.request(frames[sent++], "umap");
      report.requestMs.push(performance.now() - t0);
    };
    const client = new ReductionClient({
      result(r: Reduced) {
        let finite = 0;
        for (let i = 0; i < r.xy.length; i++) if (Number.isFinite(r.xy[i])) finite++;
        report.results.push({ seq: r.seq, cold: r.cold, ms: r.ms, wallMs: performance.now() - t0, finite: finite / 2, notes: r.notes });
        next();
      },
      progress() {},
      error(_layer: string, _seq: number, message: string) {
        report.error = message;
        resolve(report);
      },
    }, startWorkerPort);
    report.inWorker = client.inWorker;
    setTimeout(next, 100);
  });
