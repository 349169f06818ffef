/**
 * Draws one thing at a time, latest wins: while a draw runs, a newer request replaces the one
 * waiting (and may interrupt the running one, e.g. a glide, which then continues from where it is).
 * DOM-free, so its ordering is tested in Node.
 */
export class DrawQueue<T> {
  private waiting: T | null = null;
  private running = false;

  constructor(
    private readonly draw: (item: T) => Promise<void>,
    private readonly interrupt: () => void = () => {},
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /** True while a draw runs. */
  get busy(): boolean {
    return this.running;
  }

  /** Draw `item` next; replaces an item still waiting and interrupts the running draw. */
  push(item: T): void {
    this.waiting = item;
    if (this.running) this.interrupt();
    else void this.pump();
  }

  /** Forget what waits (the view is going away). */
  clear(): void {
    this.waiting = null;
  }

  private async pump(): Promise<void> {
    this.running = true;
    while (this.waiting !== null) {
      const item = this.waiting;
      this.waiting = null;
      try {
        await this.draw(item);
      } catch (err) {
        this.onError(err as Error);
      }
    }
    this.running = false;
  }
}
