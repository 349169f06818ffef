// Which alerts were notified already (kept in the browser's storage across page reloads), and the
// notification's words. DOM-free: tested in Node.
import type { AlertEventDetail } from "../../src/contract.ts";

type EventAlert = AlertEventDetail["alerts"][number];

/** Alerts remembered at most (oldest forgotten first). */
export const REMEMBERED = 500;
const STORAGE_KEY = "sentrycam-alerts:told";

/** The identity of an alert of monitor `uid`: the kernel raises one per episode. */
export function alertKey(uid: string, a: EventAlert): string {
  return `${uid}|${a.step}|${a.layer ?? ""}|${a.metric}`;
}

/** "sentrycam warning · step 380 · act1 · fisher (+2 more) — run.ipynb": layer, metric and step first
 * (a notification shows 140 characters). */
export function notificationText(a: EventAlert, path: string | null, more: number): string {
  const where = path === null ? "" : ` — ${path.split("/").pop()}`;
  const extra = more > 0 ? ` (+${more} more)` : "";
  const head = `sentrycam ${a.severity} · step ${a.step} · ${a.layer ?? "model"} · ${a.metric}${extra}${where}`;
  return `${head}: ${a.message}`;
}

export class Told {
  private readonly keys: string[];
  private readonly set: Set<string>;

  constructor(private readonly storage: Pick<Storage, "getItem" | "setItem"> | undefined) {
    let saved: unknown = [];
    try {
      saved = JSON.parse(storage?.getItem(STORAGE_KEY) ?? "[]");
    } catch {
      saved = [];
    }
    this.keys = Array.isArray(saved) ? saved.filter((k): k is string => typeof k === "string") : [];
    this.set = new Set(this.keys);
  }

  /** True the first time `key` is seen (here or in an earlier page of this browser). */
  first(key: string): boolean {
    if (this.set.has(key)) return false;
    this.set.add(key);
    this.keys.push(key);
    while (this.keys.length > REMEMBERED) this.set.delete(this.keys.shift() as string);
    try {
      this.storage?.setItem(STORAGE_KEY, JSON.stringify(this.keys));
    } catch {
      // storage full or forbidden: remembered for this page only
    }
    return true;
  }
}
