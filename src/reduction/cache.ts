import type { Reduced } from "./client.ts";

/** Reduced frames by (layer, method, seq), least recently used evicted first. */
export class ResultCache {
  private readonly map = new Map<string, Reduced>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  put(r: Reduced): void {
    const key = cacheKey(r.layer, r.method, r.seq);
    this.map.delete(key);
    this.map.set(key, r);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
    }
  }

  /** The result, marked as recently used; undefined when not cached. */
  get(layer: string, method: string, seq: number): Reduced | undefined {
    const key = cacheKey(layer, method, seq);
    const r = this.map.get(key);
    if (r !== undefined) {
      this.map.delete(key);
      this.map.set(key, r);
    }
    return r;
  }

  /** The result without touching its recency (for trails over many frames). */
  peek(layer: string, method: string, seq: number): Reduced | undefined {
    return this.map.get(cacheKey(layer, method, seq));
  }
}

const cacheKey = (layer: string, method: string, seq: number): string => `${layer}\u0000${method}\u0000${seq}`;
