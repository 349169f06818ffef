/**
 * Minimal reader of sentrycam recordings for the reduction benchmark: a recording is a sequence of
 * complete Arrow IPC streams (one per layer per capture). Returns each layer's frames in order.
 */
import { RecordBatchReader, Type } from "apache-arrow";

export interface BenchFrame {
  seq: number;
  step: number;
  layer: string;
  n: number;
  d: number;
  x: Float32Array;
  labels: Int32Array | null;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function readRecording(bytes: Uint8Array): Map<string, BenchFrame[]> {
  const layers = new Map<string, BenchFrame[]>();
  for (const reader of RecordBatchReader.readAll(bytes)) {
    const batches = reader.readAll();
    const raw = reader.schema.metadata.get("sentrycam");
    const meta = raw ? (JSON.parse(raw) as { seq?: number; step?: number; layer?: string }) : {};
    const layer = meta.layer ?? "layer";
    for (const batch of batches) {
      const n = batch.numRows;
      const xData = batch.getChild("x")?.data[0];
      if (!xData || xData.type.typeId !== Type.FixedSizeList) throw new Error("column 'x' missing or not a FixedSizeList");
      const d = (xData.type as unknown as { listSize: number }).listSize;
      const child = xData.children[0];
      const off = (xData.offset + child.offset) * d;
      const vals = child.values as Float32Array | Uint16Array;
      const x = new Float32Array(n * d);
      if (vals instanceof Float32Array) x.set(vals.subarray(off, off + n * d));
      else for (let i = 0; i < n * d; i++) x[i] = halfToFloat(vals[off + i]);
      const lab = batch.getChild("label");
      let labels: Int32Array | null = null;
      if (lab) {
        labels = new Int32Array(n);
        for (let i = 0; i < n; i++) labels[i] = (lab.get(i) as number | null) ?? -1;
      }
      const list = layers.get(layer) ?? [];
      list.push({ seq: meta.seq ?? list.length, step: meta.step ?? list.length, layer, n, d, x, labels });
      layers.set(layer, list);
    }
  }
  return layers;
}
