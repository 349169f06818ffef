/**
 * Reduction benchmark: our warm frame, our cold frame, umap-js's cold fit and umap-learn's fit on
 * the same frames. Reports median seconds per frame, trustworthiness@10, kNN recall@10 (exact, 500
 * seeded queries, against full-D neighbours) and frame-to-frame displacement after Procrustes.
 *
 *   npx tsx bench/reduce.ts [--input FILE.arrows] [--quick] [--no-umap-learn] [--out DIR]
 *
 * Without --input: (a) drifting Gaussian clusters N=5,000 D=512, (b) a real training sequence
 * (MLP on scikit-learn digits, written by bench/reduce_make_digits_sequence.py), (c) N=50,000
 * D=256 clusters. With --input: every layer of the recording.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { UMAP } from "umap-js";
import { LayerReducer } from "../src/reduce/pipeline.ts";
import { displacement, embeddingQuality, qualityReference, type EmbeddingQuality } from "./lib/quality.ts";
import { driftingClusters } from "./reduce_data.ts";
import { readRecording } from "./reduce_frames.ts";

interface Dataset {
  name: string;
  n: number;
  d: number;
  frames: Float32Array[];
  /** How many frames each baseline fits (consecutive, from the first). */
  coldFrames: number;
  umapJsFrames: number;
  umapLearnFrames: number;
  umapLearnTimeoutS: number;
  umapJsSkipReason?: string;
}

interface Row {
  method: string;
  frames: number;
  medianSeconds: number | null;
  trustworthiness: number | null;
  knnRecall: number | null;
  displacement: number | null;
  note: string;
}

const args = process.argv.slice(2);
const flag = (f: string): boolean => args.includes(f);
const opt = (f: string): string | undefined => { const i = args.indexOf(f); return i >= 0 ? args[i + 1] : undefined; };
const quick = flag("--quick");
const noUmapLearn = flag("--no-umap-learn");
const outDir = opt("--out") ?? join("bench", "results");
const python = join(".venv", "bin", "python");
const log = (s: string): void => { process.stderr.write(s + "\n"); };

const median = (v: number[]): number | null => {
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

function generated(name: string, n: number, d: number, count: number, seed: number): Float32Array[] {
  const g = driftingClusters(n, d, { seed });
  return Array.from({ length: count }, () => g.next());
}

function datasets(): Dataset[] {
  const input = opt("--input");
  const fromRecording = (path: string, prefix: string): Dataset[] => {
    const out: Dataset[] = [];
    for (const [layer, frames] of readRecording(new Uint8Array(readFileSync(path)))) {
      const { n, d } = frames[0];
      const same = frames.filter((f) => f.n === n && f.d === d).map((f) => f.x);
      const big = n * d > 2_000_000;
      out.push({
        name: `${prefix}${layer} (N=${n}, D=${d})`, n, d, frames: quick ? same.slice(0, 12) : same,
        coldFrames: quick ? 4 : big ? 3 : same.length, umapJsFrames: quick ? 1 : 3, umapLearnFrames: 3, umapLearnTimeoutS: 600,
      });
    }
    return out;
  };
  if (input) return fromRecording(input, "");
  const list: Dataset[] = [];
  log("generating clusters N=5000 D=512 …");
  list.push({ name: "clusters (N=5,000, D=512)", n: 5000, d: 512, frames: generated("a", 5000, 512, quick ? 4 : 6, 1),
    coldFrames: quick ? 2 : 3, umapJsFrames: quick ? 1 : 3, umapLearnFrames: 3, umapLearnTimeoutS: 600 });
  const digits = join(outDir, "digits_sequence.arrows");
  if (!existsSync(digits)) {
    log("training the digits MLP to record a sequence …");
    execFileSync(python, ["bench/reduce_make_digits_sequence.py", digits, "--captures", "40"], { stdio: ["ignore", "inherit", "inherit"] });
  }
  list.push(...fromRecording(digits, "digits MLP "));
  if (!quick) {
    log("generating clusters N=50000 D=256 …");
    list.push({ name: "clusters (N=50,000, D=256)", n: 50000, d: 256, frames: generated("c", 50000, 256, 4, 3),
      coldFrames: 1, umapJsFrames: 0, umapLearnFrames: 1, umapLearnTimeoutS: 300 });
  }
  return list;
}

function runUmapJs(x: Float32Array, n: number, d: number): { xy: Float32Array; seconds: number } {
  const X: number[][] = new Array(n);
  for (let i = 0; i < n; i++) X[i] = Array.from(x.subarray(i * d, i * d + d));
  const t = performance.now();
  const y = new UMAP({ nNeighbors: 15 }).fit(X);
  const seconds = (performance.now() - t) / 1000;
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) { xy[2 * i] = y[i][0]; xy[2 * i + 1] = y[i][1]; }
  return { xy, seconds };
}

function runUmapLearn(ds: Dataset, count: number): { xy: Float32Array[]; seconds: number[]; note: string } {
  const dir = join(tmpdir(), `sentrycam-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const files = ds.frames.slice(0, count).map((x, f) => {
    const p = join(dir, `frame${f}.f32`);
    writeFileSync(p, new Uint8Array(x.buffer, x.byteOffset, ds.n * ds.d * 4));
    return p;
  });
  try {
    const r = spawnSync(python, ["bench/reduce_umap_learn.py", String(ds.n), String(ds.d), ...files], {
      encoding: "utf8", timeout: ds.umapLearnTimeoutS * 1000, maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "inherit"],
    });
    if (r.error || r.status !== 0) {
      const why = r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT" ? `did not finish within ${ds.umapLearnTimeoutS} s` : `failed (${r.error?.message ?? `exit ${r.status}`})`;
      return { xy: [], seconds: [], note: `not run: ${why}` };
    }
    const out = JSON.parse(r.stdout) as { version: string; warmup_s: number; fits: { seconds: number; xy: number[] }[] };
    return {
      xy: out.fits.map((f) => Float32Array.from(f.xy)), seconds: out.fits.map((f) => f.seconds),
      note: `umap-learn ${out.version}, defaults (spectral init, parallel); JIT warm-up excluded`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface MethodRun { method: string; xy: Map<number, Float32Array>; seconds: number[]; pairs: [number, number][]; note: string }

function benchDataset(ds: Dataset, umapJsPerPointS: number | null): { rows: Row[]; runs: MethodRun[] } {
  const { n, d, frames } = ds;
  log(`\n== ${ds.name}: ${frames.length} frames`);
  const runs: MethodRun[] = [];
  // ours, warm: one reducer through the whole sequence (frame 0 is its cold start)
  const warm: MethodRun = { method: "ours, warm frame", xy: new Map(), seconds: [], pairs: [], note: "" };
  const r = new LayerReducer({ method: "umap", seed: 42 });
  const notes = new Set<string>();
  for (let f = 0; f < frames.length; f++) {
    const t = performance.now();
    const res = r.reduce(frames[f], n, d);
    const s = (performance.now() - t) / 1000;
    res.notes.forEach((x) => notes.add(x));
    warm.xy.set(f, res.xy);
    if (!res.cold) warm.seconds.push(s);
    if (f > 0) warm.pairs.push([f - 1, f]);
    log(`  ours ${res.cold ? "cold" : "warm"} frame ${f}: ${s.toFixed(2)} s`);
  }
  warm.note = `frames 1…${frames.length - 1} warm-started (PCA basis, kNN graph, positions), 40 epochs` + (notes.size ? `; ${[...notes].join("; ")}` : "");
  runs.push(warm);
  // ours, cold: an independent fit (own seed) per frame
  const cold: MethodRun = { method: "ours, cold frame", xy: new Map(), seconds: [], pairs: [], note: "independent cold fit per frame (seed = frame)" };
  for (let f = 0; f < Math.min(ds.coldFrames, frames.length); f++) {
    const t = performance.now();
    const res = new LayerReducer({ method: "umap", seed: 1000 + f }).reduce(frames[f], n, d);
    cold.seconds.push((performance.now() - t) / 1000);
    cold.xy.set(f, res.xy);
    if (f > 0) cold.pairs.push([f - 1, f]);
    log(`  ours cold fit ${f}: ${cold.seconds[cold.seconds.length - 1].toFixed(2)} s`);
  }
  runs.push(cold);
  // umap-js cold fits
  const ujs: MethodRun = { method: "umap-js cold fit", xy: new Map(), seconds: [], pairs: [], note: "umap-js 1.4, nNeighbors 15, default epochs" };
  if (ds.umapJsFrames > 0) {
    for (let f = 0; f < Math.min(ds.umapJsFrames, frames.length); f++) {
      const res = runUmapJs(frames[f], n, d);
      ujs.seconds.push(res.seconds);
      ujs.xy.set(f, res.xy);
      if (f > 0) ujs.pairs.push([f - 1, f]);
      log(`  umap-js fit ${f}: ${res.seconds.toFixed(1)} s`);
    }
  } else {
    const est = umapJsPerPointS !== null ? ` (est. > ${Math.round(umapJsPerPointS * n * 0.5)} s)` : "";
    ujs.note = `not run${est}`;
  }
  runs.push(ujs);
  // umap-learn
  const ul: MethodRun = { method: "umap-learn fit", xy: new Map(), seconds: [], pairs: [], note: "" };
  if (noUmapLearn || (quick && ds.n > 10000)) ul.note = "not run (--no-umap-learn / --quick)";
  else {
    log(`  umap-learn: ${Math.min(ds.umapLearnFrames, frames.length)} fits (subprocess) …`);
    const res = runUmapLearn(ds, Math.min(ds.umapLearnFrames, frames.length));
    ul.note = res.note;
    res.xy.forEach((xy, f) => { ul.xy.set(f, xy); if (f > 0) ul.pairs.push([f - 1, f]); });
    ul.seconds = res.seconds;
  }
  runs.push(ul);

  // quality: one exact reference per frame, shared by all methods
  const q = new Map<string, EmbeddingQuality[]>();
  for (let f = 0; f < frames.length; f++) {
    const users = runs.filter((m) => m.xy.has(f) && (m !== warm || f > 0)); // warm: frame 0 is its cold start
    if (users.length === 0) continue;
    const ref = qualityReference(frames[f], n, d, { k: 10, queries: 500, seed: 7 });
    for (const m of users) {
      const list = q.get(m.method) ?? [];
      list.push(embeddingQuality(ref, m.xy.get(f)!));
      q.set(m.method, list);
    }
  }
  const rows = runs.map((m): Row => {
    const ql = q.get(m.method) ?? [];
    const disp = m.pairs.map(([a, b]) => displacement(m.xy.get(a)!, m.xy.get(b)!, n));
    return {
      method: m.method, frames: m.seconds.length,
      medianSeconds: median(m.seconds),
      trustworthiness: median(ql.map((e) => e.trustworthiness)),
      knnRecall: median(ql.map((e) => e.knnRecall)),
      displacement: median(disp),
      note: m.note,
    };
  });
  return { rows, runs };
}

const fmt = (v: number | null, digits: number): string => (v === null ? "—" : v.toFixed(digits));

function main(): void {
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  const results: { name: string; n: number; d: number; frames: number; rows: Row[] }[] = [];
  let umapJsPerPointS: number | null = null;
  for (const ds of datasets()) {
    const { rows } = benchDataset(ds, umapJsPerPointS);
    const u = rows.find((r) => r.method === "umap-js cold fit");
    if (u?.medianSeconds) umapJsPerPointS = Math.max(umapJsPerPointS ?? 0, u.medianSeconds / ds.n);
    results.push({ name: ds.name, n: ds.n, d: ds.d, frames: ds.frames.length, rows });
    ds.frames.length = 0; // free memory before the next dataset
  }
  const lines: string[] = [];
  lines.push("| dataset | method | frames | median s/frame | trust@10 | recall@10 | displacement | notes |");
  lines.push("|---|---|---:|---:|---:|---:|---:|---|");
  for (const r of results) {
    for (const row of r.rows) {
      lines.push(`| ${r.name} | ${row.method} | ${row.frames} | ${fmt(row.medianSeconds, 2)} | ${fmt(row.trustworthiness, 4)} | ${fmt(row.knnRecall, 3)} | ${fmt(row.displacement, 3)} | ${row.note} |`);
    }
  }
  const bars = evaluateBars(results);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  const md = [
    `# Reduction benchmark`, "",
    `${new Date().toISOString()} · ${machine}${quick ? " · --quick (not for the bars)" : ""} · total ${((performance.now() - t0) / 1000).toFixed(0)} s`, "",
    "Median over frames. Quality: exact trustworthiness@10 / kNN recall@10 over 500 seeded queries against full-D neighbours. " +
      "Displacement: RMS move between consecutive frames after Procrustes alignment, relative to the RMS radius of the earlier frame " +
      "(for cold fits: between consecutive independent fits).", "",
    ...lines, "", "## Bars", "", ...bars.map((b) => `- ${b.pass === null ? "n/a" : b.pass ? "PASS" : "FAIL"}: ${b.text}`), "",
  ].join("\n");
  process.stdout.write(md);
  writeFileSync(join(outDir, "reduce.md"), md);
  writeFileSync(join(outDir, "reduce.json"), JSON.stringify({ date: new Date().toISOString(), machine, quick, datasets: results, bars }, null, 2) + "\n");
  log(`\nwrote ${join(outDir, "reduce.md")} and reduce.json`);
}

function evaluateBars(results: { name: string; n: number; d: number; rows: Row[] }[]): { text: string; pass: boolean | null }[] {
  const bars: { text: string; pass: boolean | null }[] = [];
  const get = (r: { rows: Row[] }, m: string): Row | undefined => r.rows.find((x) => x.method === m);
  for (const r of results) {
    const warm = get(r, "ours, warm frame"), cold = get(r, "ours, cold frame"), ujs = get(r, "umap-js cold fit");
    if (r.n === 5000 && r.d === 512 && warm?.medianSeconds && cold?.medianSeconds) {
      bars.push({ text: `${r.name}: warm frame ${warm.medianSeconds.toFixed(2)} s ≤ 1.0 s`, pass: warm.medianSeconds <= 1.0 });
      if (ujs?.medianSeconds) {
        const sw = ujs.medianSeconds / warm.medianSeconds, sc = ujs.medianSeconds / cold.medianSeconds;
        bars.push({ text: `${r.name}: warm ${sw.toFixed(1)}× faster than umap-js (≥ 25×)`, pass: sw >= 25 });
        bars.push({ text: `${r.name}: cold ${sc.toFixed(1)}× faster than umap-js (≥ 5×)`, pass: sc >= 5 });
      }
    }
    if (r.n === 50000 && warm?.medianSeconds) bars.push({ text: `${r.name}: warm frame ${warm.medianSeconds.toFixed(2)} s ≤ 10 s`, pass: warm.medianSeconds <= 10 });
    // quality bar against umap-js; where umap-js was not run, against umap-learn (marked as such)
    const ul = get(r, "umap-learn fit");
    const base = ujs?.trustworthiness != null ? { name: "umap-js", t: ujs.trustworthiness }
      : ul?.trustworthiness != null ? { name: "umap-learn (umap-js not run)", t: ul.trustworthiness } : null;
    if (base) {
      for (const m of [warm, cold]) {
        if (m?.trustworthiness == null) continue;
        bars.push({ text: `${r.name}: ${m.method} trust@10 ${m.trustworthiness.toFixed(4)} ≥ ${base.name} ${base.t.toFixed(4)} − 0.01`, pass: m.trustworthiness >= base.t - 0.01 });
      }
    }
    if (r.name.includes("digits") || r.name.includes("(N=1797")) {
      if (warm?.displacement != null && cold?.displacement != null) {
        const ratio = warm.displacement / cold.displacement;
        bars.push({ text: `${r.name}: warm displacement ${warm.displacement.toFixed(3)} = ${(100 * ratio).toFixed(1)}% of a cold refit's ${cold.displacement.toFixed(3)} (≤ 10%)`, pass: ratio <= 0.1 });
      }
    }
  }
  return bars;
}

main();
