/**
 * Reduction benchmark: our warm frame, our cold frame, umap-js's cold fit and umap-learn's fit on
 * the same frames; then t-SNE: our warm and cold frames (src/reduce/tsne.ts, after the same PCA-32
 * pre-reduction as the pipeline), openTSNE and scikit-learn TSNE (full-D input, subprocess). Reports median seconds per frame, trustworthiness@10, kNN recall@10 (exact, 500
 * seeded queries, against full-D neighbours) and frame-to-frame displacement after Procrustes.
 *
 *   npx tsx bench/reduce.ts [--input FILE.arrows] [--quick] [--no-umap-learn] [--only umap|tsne] [--out DIR]
 *
 * --only tsne runs the t-SNE rows alone and merges them into the existing reduce.json (the UMAP rows
 * and their date are kept); --only umap skips the t-SNE rows.
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
import { DEFAULT_WARM_EPOCHS, LayerReducer } from "../src/reduce/pipeline.ts";
import { DEFAULT_COLD_ITERATIONS, DEFAULT_PERPLEXITY, DEFAULT_WARM_ITERATIONS } from "../src/reduce/tsne.ts";
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
  /** t-SNE: cold fits of ours, openTSNE fits, scikit-learn fits, and the subprocess timeout. */
  tsneColdFrames: number;
  openTsneFrames: number;
  sklearnFrames: number;
  tsneRefTimeoutS: number;
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
const only = opt("--only");
if (only !== undefined && only !== "umap" && only !== "tsne") throw new Error(`--only ${only}: expected umap or tsne`);
const runUmap = only !== "tsne", runTsne = only !== "umap";
/** Method names of the t-SNE rows (also how --only tsne finds the rows it replaces). */
const TSNE_METHODS = ["ours t-SNE warm frame", "ours t-SNE cold frame", "openTSNE", "scikit-learn TSNE"];
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
        tsneColdFrames: quick ? 2 : big ? 3 : 10, openTsneFrames: quick ? 1 : 3, sklearnFrames: quick ? 1 : 3, tsneRefTimeoutS: 900,
      });
    }
    return out;
  };
  if (input) return fromRecording(input, "");
  const list: Dataset[] = [];
  log("generating clusters N=5000 D=512 …");
  // 9 warm frames: the first one or two run before the JIT has compiled the warm path (a live run
  // reduces hundreds of frames), so the median is taken over enough frames to be past them
  list.push({ name: "clusters (N=5,000, D=512)", n: 5000, d: 512, frames: generated("a", 5000, 512, quick ? 4 : 10, 1),
    coldFrames: quick ? 2 : 3, umapJsFrames: quick ? 1 : 3, umapLearnFrames: 3, umapLearnTimeoutS: 600,
    tsneColdFrames: quick ? 1 : 3, openTsneFrames: quick ? 1 : 3, sklearnFrames: quick ? 1 : 2, tsneRefTimeoutS: 900 });
  const digits = join(outDir, "digits_sequence.arrows");
  if (!existsSync(digits)) {
    log("training the digits MLP to record a sequence …");
    execFileSync(python, ["bench/reduce_make_digits_sequence.py", digits, "--captures", "40"], { stdio: ["ignore", "inherit", "inherit"] });
  }
  list.push(...fromRecording(digits, "digits MLP "));
  if (!quick) {
    log("generating clusters N=50000 D=256 …");
    list.push({ name: "clusters (N=50,000, D=256)", n: 50000, d: 256, frames: generated("c", 50000, 256, 4, 3),
      coldFrames: 1, umapJsFrames: 0, umapLearnFrames: 1, umapLearnTimeoutS: 300,
      tsneColdFrames: 1, openTsneFrames: 1, sklearnFrames: 0, tsneRefTimeoutS: 600 });
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
  const { files, cleanup } = frameFiles(ds, count);
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
    cleanup();
  }
}

interface MethodRun {
  method: string;
  xy: Map<number, Float32Array>;
  seconds: number[];
  pairs: [number, number][];
  note: string;
  /** Frame 0 is this run's cold start: left out of its quality (warm runs). */
  skipFirst?: boolean;
}

/** Writes the first `count` frames to raw float32 files for a Python baseline; returns paths and cleanup. */
function frameFiles(ds: Dataset, count: number): { files: string[]; cleanup: () => void } {
  const dir = join(tmpdir(), `sentrycam-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const files = ds.frames.slice(0, count).map((x, f) => {
    const p = join(dir, `frame${f}.f32`);
    writeFileSync(p, new Uint8Array(x.buffer, x.byteOffset, ds.n * ds.d * 4));
    return p;
  });
  return { files, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** openTSNE or scikit-learn TSNE fits of the first `count` frames (bench/reduce_tsne_ref.py). */
function runTsneRef(which: "opentsne" | "sklearn", ds: Dataset, count: number): { xy: Float32Array[]; seconds: number[]; note: string } {
  const { files, cleanup } = frameFiles(ds, count);
  try {
    const r = spawnSync(python, ["bench/reduce_tsne_ref.py", which, String(ds.n), String(ds.d), ...files], {
      encoding: "utf8", timeout: ds.tsneRefTimeoutS * 1000, maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "inherit"],
    });
    if (r.error || r.status !== 0) {
      const why = r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT" ? `did not finish ${count} fit(s) within ${ds.tsneRefTimeoutS} s` : `failed (${r.error?.message ?? `exit ${r.status}`})`;
      return { xy: [], seconds: [], note: `not run: ${why}` };
    }
    const out = JSON.parse(r.stdout) as { version: string; fits: { seconds: number; xy: number[] }[] };
    const how = which === "opentsne" ? "defaults (perplexity 30, PCA init, BH < 10k points else FFT, n_jobs=1)" : "defaults (perplexity 30, PCA init, BH, 1,000 iterations)";
    return { xy: out.fits.map((f) => Float32Array.from(f.xy)), seconds: out.fits.map((f) => f.seconds), note: `${out.version}, ${how}, full-D input` };
  } finally {
    cleanup();
  }
}

function umapRuns(ds: Dataset, umapJsPerPointS: number | null): MethodRun[] {
  const { n, d, frames } = ds;
  const runs: MethodRun[] = [];
  // ours, warm: one reducer through the whole sequence (frame 0 is its cold start)
  const warm: MethodRun = { method: "ours, warm frame", xy: new Map(), seconds: [], pairs: [], note: "", skipFirst: true };
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
  warm.note = `frames 1…${frames.length - 1} warm-started (PCA basis, kNN graph, positions), ${DEFAULT_WARM_EPOCHS} epochs (more when many neighbours changed)` + (notes.size ? `; ${[...notes].join("; ")}` : "");
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
  return runs;
}

function tsneRuns(ds: Dataset): MethodRun[] {
  const { n, d, frames } = ds;
  const runs: MethodRun[] = [];
  // ours, warm: frame 0 cold, then every frame starts from the previous positions and PCA basis
  const warm: MethodRun = {
    method: "ours t-SNE warm frame", xy: new Map(), seconds: [], pairs: [], skipFirst: true,
    note: `frames 1…${frames.length - 1} warm: PCA-32 on the previous basis + the previous frame's neighbour graph refined + ${DEFAULT_WARM_ITERATIONS} iterations from the previous positions (the product's LayerReducer, faithfulness check included); perplexity ${DEFAULT_PERPLEXITY}, Barnes–Hut`,
  };
  const reducer = new LayerReducer({ method: "tsne", seed: 42 });
  for (let f = 0; f < frames.length; f++) {
    const res = reducer.reduce(frames[f], n, d);
    const s = res.ms / 1000;
    if (f > 0) { warm.seconds.push(s); warm.pairs.push([f - 1, f]); }
    warm.xy.set(f, res.xy);
    log(`  ours t-SNE ${res.cold ? "cold" : "warm"} frame ${f}: ${s.toFixed(2)} s${res.notes.length ? ` (${res.notes.join("; ")})` : ""}`);
  }
  runs.push(warm);
  const cold: MethodRun = {
    method: "ours t-SNE cold frame", xy: new Map(), seconds: [], pairs: [],
    note: `independent cold fit per frame (seed = frame): PCA-32 + ${DEFAULT_COLD_ITERATIONS} iterations (250 exaggerated)`,
  };
  for (let f = 0; f < Math.min(ds.tsneColdFrames, frames.length); f++) {
    const res = new LayerReducer({ method: "tsne", seed: 1000 + f }).reduce(frames[f], n, d);
    cold.xy.set(f, res.xy);
    cold.seconds.push(res.ms / 1000);
    if (f > 0) cold.pairs.push([f - 1, f]);
    log(`  ours t-SNE cold fit ${f}: ${cold.seconds[cold.seconds.length - 1].toFixed(2)} s`);
  }
  runs.push(cold);
  for (const [which, method, count] of [["opentsne", "openTSNE", ds.openTsneFrames], ["sklearn", "scikit-learn TSNE", ds.sklearnFrames]] as const) {
    const run: MethodRun = { method, xy: new Map(), seconds: [], pairs: [], note: "" };
    const c = Math.min(count, frames.length);
    if (c === 0) run.note = "not run (too slow at this size: > 10 min a fit expected)";
    else if (noUmapLearn) run.note = "not run (--no-umap-learn: no Python baselines)";
    else {
      log(`  ${method}: ${c} fits (subprocess) …`);
      const res = runTsneRef(which, ds, c);
      run.note = res.note;
      res.xy.forEach((xy, f) => { run.xy.set(f, xy); if (f > 0) run.pairs.push([f - 1, f]); });
      run.seconds = res.seconds;
    }
    runs.push(run);
  }
  return runs;
}

function benchDataset(ds: Dataset, umapJsPerPointS: number | null): { rows: Row[]; runs: MethodRun[] } {
  const { n, d, frames } = ds;
  log(`\n== ${ds.name}: ${frames.length} frames`);
  const runs: MethodRun[] = [...(runUmap ? umapRuns(ds, umapJsPerPointS) : []), ...(runTsne ? tsneRuns(ds) : [])];

  // quality: one exact reference per frame, shared by all methods
  const q = new Map<string, EmbeddingQuality[]>();
  for (let f = 0; f < frames.length; f++) {
    const users = runs.filter((m) => m.xy.has(f) && (!m.skipFirst || f > 0));
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
  // --only tsne: keep the other rows (and their date) of the previous full run, replace the t-SNE rows
  let merged = "";
  const prevPath = join(outDir, "reduce.json");
  if (only === "tsne" && existsSync(prevPath)) {
    const prev = JSON.parse(readFileSync(prevPath, "utf8")) as { date: string; umapDate?: string; datasets: { name: string; n: number; d: number; frames: number; rows: Row[] }[] };
    const umapDate = prev.umapDate ?? prev.date;
    for (const old of prev.datasets) {
      const keep = old.rows.filter((row) => !TSNE_METHODS.includes(row.method));
      const cur = results.find((r) => r.name === old.name);
      if (cur) cur.rows = [...keep, ...cur.rows];
      else results.push({ ...old, rows: old.rows });
    }
    merged = umapDate;
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
    `${new Date().toISOString()} · ${machine}${quick ? " · --quick (not for the bars)" : ""} · total ${((performance.now() - t0) / 1000).toFixed(0)} s` +
      (merged ? ` · t-SNE rows from this run (--only tsne); UMAP rows from the run of ${merged}` : ""), "",
    "The machine has 2 cores shared with other work: timings are noisy (±20% between runs is usual). " +
    "Median over frames. Quality: exact trustworthiness@10 / kNN recall@10 over 500 seeded queries against full-D neighbours. " +
      "Displacement: RMS move between consecutive frames after Procrustes alignment, relative to the RMS radius of the earlier frame " +
      "(for cold fits: between consecutive independent fits).", "",
    ...lines, "", "## Bars", "", ...bars.map((b) => `- ${b.pass === null ? "n/a" : b.pass ? "PASS" : "FAIL"}: ${b.text}`), "",
  ].join("\n");
  process.stdout.write(md);
  writeFileSync(join(outDir, "reduce.md"), md);
  writeFileSync(join(outDir, "reduce.json"), JSON.stringify({ date: new Date().toISOString(), ...(merged ? { umapDate: merged } : {}), machine, quick, datasets: results, bars }, null, 2) + "\n");
  log(`\nwrote ${join(outDir, "reduce.md")} and reduce.json`);
}

function evaluateBars(results: { name: string; n: number; d: number; rows: Row[] }[]): { text: string; pass: boolean | null }[] {
  const bars: { text: string; pass: boolean | null }[] = [];
  const get = (r: { rows: Row[] }, m: string): Row | undefined => r.rows.find((x) => x.method === m);
  for (const r of results) {
    const warm = get(r, "ours, warm frame"), cold = get(r, "ours, cold frame"), ujs = get(r, "umap-js cold fit");
    if (r.n === 5000 && r.d === 512 && warm?.medianSeconds && cold?.medianSeconds) {
      bars.push({ text: `${r.name}: warm frame ${warm.medianSeconds.toFixed(2)} s ≤ 0.25 s (issue 20; 1.0 s before)`, pass: warm.medianSeconds <= 0.25 });
      if (ujs?.medianSeconds) {
        const sw = ujs.medianSeconds / warm.medianSeconds, sc = ujs.medianSeconds / cold.medianSeconds;
        bars.push({ text: `${r.name}: warm ${sw.toFixed(1)}× faster than umap-js (≥ 25×)`, pass: sw >= 25 });
        bars.push({ text: `${r.name}: cold ${sc.toFixed(1)}× faster than umap-js (≥ 5×)`, pass: sc >= 5 });
      }
    }
    if (r.n === 50000 && warm?.medianSeconds) bars.push({ text: `${r.name}: warm frame ${warm.medianSeconds.toFixed(2)} s ≤ 2.5 s (issue 20; 10 s before)`, pass: warm.medianSeconds <= 2.5 });
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
    tsneBars(r, bars);
    if (r.name.includes("digits") || r.name.includes("(N=1797")) {
      if (warm?.displacement != null && cold?.displacement != null) {
        const ratio = warm.displacement / cold.displacement;
        bars.push({ text: `${r.name}: warm displacement ${warm.displacement.toFixed(3)} = ${(100 * ratio).toFixed(1)}% of a cold refit's ${cold.displacement.toFixed(3)} (≤ 10%)`, pass: ratio <= 0.1 });
      }
    }
  }
  return bars;
}

/** t-SNE bars: quality within 0.01 of openTSNE, warm frame ≤ 1.5 s at 5,000 × 512, warm displacement ≤ 10% of cold. */
function tsneBars(r: { name: string; n: number; d: number; rows: Row[] }, bars: { text: string; pass: boolean | null }[]): void {
  const get = (m: string): Row | undefined => r.rows.find((x) => x.method === m);
  const warm = get("ours t-SNE warm frame"), cold = get("ours t-SNE cold frame"), ot = get("openTSNE"), sk = get("scikit-learn TSNE");
  if (!warm && !cold) return;
  if (ot?.trustworthiness != null && ot.knnRecall != null) {
    for (const m of [warm, cold]) {
      if (m?.trustworthiness == null || m.knnRecall == null) continue;
      bars.push({
        text: `${r.name}: ${m.method} trust@10 ${m.trustworthiness.toFixed(4)} ≥ openTSNE ${ot.trustworthiness.toFixed(4)} − 0.01, recall@10 ${m.knnRecall.toFixed(3)} ≥ openTSNE ${ot.knnRecall.toFixed(3)} − 0.01`,
        pass: m.trustworthiness >= ot.trustworthiness - 0.01 && m.knnRecall >= ot.knnRecall - 0.01,
      });
    }
  }
  if (r.n === 5000 && r.d === 512 && warm?.medianSeconds) {
    const ratios = [ot, sk].filter((x) => x?.medianSeconds).map((x) => `${x!.method} ${(x!.medianSeconds! / warm.medianSeconds!).toFixed(1)}× slower (cold fit)`);
    const coldRatio = cold?.medianSeconds && ot?.medianSeconds ? `; our cold fit ${cold.medianSeconds.toFixed(2)} s = ${(ot.medianSeconds / cold.medianSeconds).toFixed(1)}× faster than openTSNE` : "";
    bars.push({ text: `${r.name}: t-SNE warm frame (PCA-32 + t-SNE) ${warm.medianSeconds.toFixed(2)} s ≤ 1.5 s${ratios.length ? ` (${ratios.join(", ")})` : ""}${coldRatio}`, pass: warm.medianSeconds <= 1.5 });
  }
  if ((r.name.includes("digits") || r.name.includes("(N=1797")) && warm?.displacement != null && cold?.displacement != null) {
    const ratio = warm.displacement / cold.displacement;
    bars.push({ text: `${r.name}: t-SNE warm displacement ${warm.displacement.toFixed(3)} = ${(100 * ratio).toFixed(1)}% of a cold refit's ${cold.displacement.toFixed(3)} (≤ 10%)`, pass: ratio <= 0.1 });
  }
}

main();
