import { tableFromIPC, Type } from "apache-arrow";
import type { Frame } from "./frame.ts";
import type { TaskBoundary } from "./messages.ts";

/** Raised for bytes that are not a well-formed sentrycam frame; the message says what is wrong. */
export class FrameDecodeError extends Error {
  override name = "FrameDecodeError";
}

interface FrameMeta {
  seq: number;
  step: number;
  layer: string;
  scalars?: Record<string, number | null>;
  metrics?: Record<string, number | null>;
  nonfinite?: number;
  pool?: string;
  shape?: number[];
  projected_from?: number | null;
  every?: number | null;
  groups?: string[];
  tasks?: TaskBoundary[];
}

/**
 * Decode one Arrow IPC stream (one layer of one capture) into a Frame.
 * The activations are a Float32Array view on `bytes` (no copy) when they were sent as float32 and
 * the bytes are 4-byte aligned; float16 frames are widened into a new Float32Array.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.byteLength < 8) {
    throw new FrameDecodeError(`frame is too short (${bytes.byteLength} bytes)`);
  }
  // Arrow views need aligned buffers; comm buffers normally are, a copy is the rare fallback.
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  let table;
  try {
    table = tableFromIPC(aligned);
  } catch (err) {
    throw new FrameDecodeError(`corrupt or truncated Arrow data: ${(err as Error).message}`);
  }
  const raw = table.schema.metadata.get("sentrycam");
  if (raw === undefined) throw new FrameDecodeError("not a sentrycam frame: no 'sentrycam' metadata");
  const meta = parseMeta(raw);
  if (table.batches.length !== 1) {
    throw new FrameDecodeError(`expected one record batch per frame, got ${table.batches.length}`);
  }
  const batch = table.batches[0];
  const n = batch.numRows;
  const xData = batch.getChild("x")?.data[0];
  if (xData === undefined || xData.type.typeId !== Type.FixedSizeList) {
    throw new FrameDecodeError("column 'x' is missing or not a FixedSizeList");
  }
  const d = (xData.type as { listSize: number }).listSize;
  const child = xData.children[0];
  // arrow-js slices `values` by the data's offset already; only bitmaps need the offset.
  const x = floatValues(child.values as Float32Array | Uint16Array, child.type.typeId, 0, n * d);
  return {
    seq: meta.seq,
    step: meta.step,
    layer: meta.layer,
    n,
    d,
    ids: intColumn(batch.getChild("id")?.data[0], n, "id") ?? new Int32Array(n).map((_, i) => i),
    labels: intColumn(batch.getChild("label")?.data[0], n, "label"),
    preds: intColumn(batch.getChild("pred")?.data[0], n, "pred"),
    groups: intColumn(batch.getChild("group")?.data[0], n, "group"),
    groupNames: Array.isArray(meta.groups) ? meta.groups.map(String) : [],
    tasks: Array.isArray(meta.tasks) ? meta.tasks.filter((t) => typeof t?.step === "number").map((t) => ({ step: t.step, name: String(t.name) })) : [],
    x,
    scalars: numbers(meta.scalars),
    metrics: numbers(meta.metrics),
    nonFinite: meta.nonfinite ?? 0,
    pool: meta.pool ?? "none",
    shape: Array.isArray(meta.shape) ? meta.shape : [n, d],
    projectedFrom: meta.projected_from ?? null,
    every: meta.every ?? null,
  };
}

function parseMeta(raw: string): FrameMeta {
  let meta: FrameMeta;
  try {
    meta = JSON.parse(raw) as FrameMeta;
  } catch {
    throw new FrameDecodeError("frame metadata is not valid JSON");
  }
  if (typeof meta.seq !== "number" || typeof meta.step !== "number" || typeof meta.layer !== "string") {
    throw new FrameDecodeError("frame metadata lacks seq, step or layer");
  }
  return meta;
}

function floatValues(
  values: Float32Array | Uint16Array,
  typeId: Type,
  offset: number,
  length: number,
): Float32Array {
  if (values.length < offset + length) {
    throw new FrameDecodeError(`activation buffer holds ${values.length} values, need ${offset + length}`);
  }
  if (values instanceof Float32Array) return values.subarray(offset, offset + length);
  if (typeId === Type.Float && values instanceof Uint16Array) {
    const table = halfTable();
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = table[values[offset + i]];
    return out;
  }
  throw new FrameDecodeError("column 'x' must hold float32 or float16 values");
}

let HALF_TABLE: Float32Array | null = null;

/** All 65,536 half-precision values as floats (256 KB, built once): a lookup per value. */
function halfTable(): Float32Array {
  if (HALF_TABLE === null) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/** IEEE-754 half to float (Arrow float16 values arrive as raw Uint16). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

type ColumnData = { values: unknown; offset: number; nullCount: number; nullBitmap?: Uint8Array; length: number };

/** An int32 column as Int32Array with nulls as -1; null when the whole column is null. */
function intColumn(data: ColumnData | undefined, n: number, name: string): Int32Array | null {
  if (data === undefined) return null;
  if (data.nullCount === data.length) return null;
  if (!(data.values instanceof Int32Array)) throw new FrameDecodeError(`column '${name}' must be int32`);
  const values = data.values.subarray(0, n);
  if (data.nullCount === 0 || data.nullBitmap === undefined) return values;
  const out = new Int32Array(n);
  const bits = data.nullBitmap;
  for (let i = 0; i < n; i++) {
    const j = i + data.offset;
    out[i] = (bits[j >> 3] >> (j & 7)) & 1 ? values[i] : -1;
  }
  return out;
}

function numbers(values: Record<string, number | null> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(values ?? {})) out[k] = v === null ? NaN : v;
  return out;
}
