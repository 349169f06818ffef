// Decode timings for bench/transport.py: the widget's Arrow decoder vs JSON.parse into typed arrays.
import { readFileSync } from "node:fs";
import { decodeFrame } from "../src/transport/decode.ts";
import { medianMs } from "./lib/timing.ts";

const [f32Path, f16Path, jsonPath, repsArg] = process.argv.slice(2);
const reps = Number(repsArg ?? 15);

function aligned(path: string): Uint8Array {
  const buf = readFileSync(path);
  const out = new Uint8Array(new ArrayBuffer(buf.byteLength));
  out.set(buf);
  return out;
}

const f32 = aligned(f32Path);
const f16 = aligned(f16Path);
const jsonBytes = aligned(jsonPath);
let sink = 0;
const arrowF32 = medianMs(reps, () => { sink += decodeFrame(f32).x[0]; });
const arrowF16 = medianMs(reps, () => { sink += decodeFrame(f16).x[0]; });
// The naive path: text → objects → a Float32Array the reducer can use (as the widget would need).
const json = medianMs(reps, () => {
  const obj = JSON.parse(new TextDecoder().decode(jsonBytes)) as { x: number[][] };
  const n = obj.x.length, d = obj.x[0].length;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) x.set(obj.x[i], i * d);
  sink += x[0];
});
console.log(JSON.stringify({ arrow_f32: arrowF32, arrow_f16: arrowF16, json, sink: Number.isFinite(sink) }));
