import type { Reduced } from "../reduction.ts";

/** Reduced frames by (layer, method, seq), least recently used evicted first. */
export class ResultCache {
  private readonly map = new Map<string, Reduced>();

  constructor(private readonly capacity: number) {}

  put(r: Reduced): void {
    const key = `${r.layer}\u0000${r.method}\u0000${r.seq}`;
    this.map.delete(key);
    this.map.set(key, r);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
    }
  }

  get(layer: string, method: string, seq: number): Reduced | undefined {
    const key = `${layer}\u0000${method}\u0000${seq}`;
    const r = this.map.get(key);
    if (r !== undefined) {
      this.map.delete(key);
      this.map.set(key, r);
    }
    return r;
  }
}
