import type { Frame } from "./transport/frame.ts";
import { DEFAULT_MAX_FRAMES, VIEW_MAX_BYTES } from "./contract.ts";

/** What the store tells its listeners: a new frame, a replaced history, or a decode problem. */
export type StoreEvent = { kind: "frame"; frame: Frame } | { kind: "error"; message: string };

/**
 * Frame history per layer, bounded by count and bytes; the single source of what views show.
 * Frames are de-duplicated by their kernel sequence number, so replays to a late view are harmless.
 */
export class FrameStore {
  private readonly byLayer = new Map<string, Frame[]>();
  private readonly seen = new Set<number>();
  private bytes = 0;
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  /** Frames received (unique), including ones since trimmed from memory. */
  received = 0;
  errors: string[] = [];

  constructor(
    readonly maxPerLayer = DEFAULT_MAX_FRAMES,
    readonly maxBytes = VIEW_MAX_BYTES,
  ) {}

  /** Add a frame; returns false for a duplicate (already received). */
  add(frame: Frame): boolean {
    if (this.seen.has(frame.seq)) return false;
    this.seen.add(frame.seq);
    this.received++;
    const list = this.byLayer.get(frame.layer) ?? [];
    if (!this.byLayer.has(frame.layer)) this.byLayer.set(frame.layer, list);
    // Replays can interleave with live frames: keep each layer ordered by seq.
    let i = list.length;
    while (i > 0 && list[i - 1].seq > frame.seq) i--;
    list.splice(i, 0, frame);
    this.bytes += frame.x.byteLength;
    this.trim();
    this.emit({ kind: "frame", frame });
    return true;
  }

  reportError(message: string): void {
    this.errors.push(message);
    this.emit({ kind: "error", message });
  }

  /** Inclusive [first, last] runs of the seqs received: what a late view tells the kernel it has. */
  haveRanges(): [number, number][] {
    const seqs = [...this.seen].sort((a, b) => a - b);
    const out: [number, number][] = [];
    for (const s of seqs) {
      const last = out[out.length - 1];
      if (last !== undefined && s === last[1] + 1) last[1] = s;
      else out.push([s, s]);
    }
    return out;
  }

  layers(): string[] {
    return [...this.byLayer.keys()];
  }

  frames(layer: string): readonly Frame[] {
    return this.byLayer.get(layer) ?? [];
  }

  latest(layer: string): Frame | undefined {
    const list = this.byLayer.get(layer);
    return list === undefined ? undefined : list[list.length - 1];
  }

  subscribe(fn: (event: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(event: StoreEvent): void {
    for (const fn of this.listeners) fn(event);
  }

  private trim(): void {
    for (const list of this.byLayer.values()) {
      while (list.length > this.maxPerLayer) this.drop(list);
    }
    while (this.bytes > this.maxBytes) {
      // Drop the oldest frame across layers, but keep each layer's latest.
      let oldest: Frame[] | undefined;
      for (const list of this.byLayer.values()) {
        if (list.length > 1 && (oldest === undefined || list[0].seq < oldest[0].seq)) oldest = list;
      }
      if (oldest === undefined) break;
      this.drop(oldest);
    }
  }

  private drop(list: Frame[]): void {
    const frame = list.shift();
    if (frame !== undefined) this.bytes -= frame.x.byteLength;
  }
}
