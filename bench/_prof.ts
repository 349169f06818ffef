import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
import { LayerReducer } from "../src/reduce/pipeline.ts";
import { driftingClusters } from "./reduce_data.ts";
const n = Number(process.argv[2] ?? 5000), d = Number(process.argv[3] ?? 512), method = (process.argv[4] ?? "umap") as "umap";
const gen = driftingClusters(n, d, { seed: 3 });
const frames = Array.from({ length: 8 }, () => gen.next());
const r = new LayerReducer({ method });
const s = new Session(); s.connect();
await s.post("Profiler.enable");
for (let i = 0; i < frames.length; i++) {
  if (i === 2) await s.post("Profiler.start");
  const t = performance.now();
  const res = r.reduce(frames[i], n, d, { seq: i, labels: gen.labels });
  console.log(i, res.cold ? "cold" : "warm", (performance.now() - t).toFixed(0), "ms", res.notes.join("; "));
}
const { profile } = await s.post("Profiler.stop");
writeFileSync("/tmp/warm.cpuprofile", JSON.stringify(profile));
