// One reduction per model, shared by all its views: one worker, one warm state per (layer,
// method), one cache of results. A second view of the same monitor draws from the cache instead
// of reducing every frame again; every view hears every result and picks what it shows.
import { ReductionClient, type PortFactory, type Reduced, type ReductionEvents } from "./client.ts";
import { ResultCache } from "./cache.ts";
import type { Frame } from "../transport/frame.ts";
import { warmSources } from "./warm-source.ts";
import type { ReduceMethod } from "../contract.ts";
import type { CallName, WorkerCalls } from "../worker/calls.ts";

/** Reduced frames kept per model: a long scrub back stays instant; ~8 KB each at 500 points. */
export const RESULT_CACHE_SIZE = 2000;

export class SharedReduction {
  readonly cache = new ResultCache(RESULT_CACHE_SIZE);
  private client: ReductionClient | null = null;
  private readonly listeners = new Set<ReductionEvents>();

  /**
   * `start` makes the port on first use (no worker for a model that is never shown); `history`
   * gives a layer's frames in training order (the store's), from which warm starts are chosen.
   */
  constructor(
    private readonly start?: PortFactory,
    private readonly history: (layer: string) => readonly Frame[] = () => [],
  ) {}

  subscribe(listener: ReductionEvents): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True when reductions run in a Web Worker (false before the first request). */
  get inWorker(): boolean {
    return this.client?.inWorker ?? false;
  }

  /** The cached result of `frame`, or undefined after asking for it (every listener hears it). */
  resultOf(frame: Frame, method: ReduceMethod): Reduced | undefined {
    const cached = this.cache.get(frame.layer, method, frame.seq);
    if (cached === undefined) this.connect().request(frame, method);
    return cached;
  }

  isBusy(layer: string): boolean {
    return this.client?.isBusy(layer) ?? false;
  }

  call<K extends CallName>(name: K, ...args: Parameters<WorkerCalls[K]>): Promise<ReturnType<WorkerCalls[K]>> {
    return this.connect().call(name, ...args);
  }

  close(): void {
    this.client?.close();
    this.client = null;
  }

  private connect(): ReductionClient {
    this.client ??= new ReductionClient(
      {
        result: (r) => {
          this.cache.put(r);
          for (const l of this.listeners) l.result(r);
        },
        progress: (layer, fraction, stage) => {
          for (const l of this.listeners) l.progress(layer, fraction, stage);
        },
        error: (layer, seq, message) => {
          for (const l of this.listeners) l.error(layer, seq, message);
        },
      },
      this.start,
      (frame, method) => warmSources(frame, this.history(frame.layer), (f) => this.cache.peek(f.layer, method, f.seq) !== undefined),
    );
    return this.client;
  }
}
