/**
 * Custom comm messages between the kernel and the views (the JSON part; frames ride as buffers).
 * Python's twin: python/sentrycam/protocol.py (tests/python/test_contract.py checks they agree).
 */
import type { ImageFormat, NoticeLevel } from "../contract.ts";

/** What a rule compared, as the kernel saw it ("kind" names the rule's verdict). */
export type EvidenceKind = "jump" | "sustained" | "frozen" | "explosion" | "death" | "rise" | "nonfinite" | "sentrycam" | "forgetting";

/**
 * Why an alert fired (`Alert.to_dict()["evidence"]`; every non-finite number arrives as null).
 * `steps`/`values`: the metric's recent history up to and including the alert's step;
 * `reference` ± `spread`: the level it was compared with and that level's usual variation;
 * `threshold`: the level whose crossing fired the rule; `window`: first and last step of the
 * reference; `direction`: +1 when going up is bad, -1 when going down is; `per_step`: the values
 * are a change per step (the "stopped learning" rule).
 */
export interface Evidence {
  steps: number[];
  values: (number | null)[];
  reference: number | null;
  spread: number | null;
  threshold: number | null;
  window: [number, number] | null;
  direction: 1 | -1;
  /** One of EvidenceKind; a newer kernel may send others. */
  kind: EvidenceKind | (string & {});
  per_step?: boolean;
  /** First step of the departure (a sustained drift began there). */
  since?: number | null;
  /** The departure in spreads, when the rule defines one. */
  z?: number | null;
  /** Forgetting: the group, its task, and the step its task ended. */
  group?: string;
  task?: string;
  task_end?: number | null;
  /** The incident this alert tells: what joined it since (alerts not raised on their own). */
  incident?: Incident;
}

/** Alerts raised close together are one incident, told by its first (or worst) alert. */
export interface Incident {
  first_step: number;
  /** Alerts that joined, in all (`also` lists the first of them). */
  joined: number;
  also: { step: number; layer: string | null; metric: string; rule: string; severity: string }[];
}

export interface Alert {
  step: number;
  layer: string | null;
  metric: string;
  message: string;
  /** One of SEVERITIES (src/registry.ts); a newer kernel may send others. */
  severity: string;
  rule?: string;
  value?: number | null;
  /** Absent (or `{}`) in alerts from older kernels and recordings. */
  evidence?: Evidence | Record<string, never>;
}

/** `cam.task(name)` at `step`: training on task `name` starts there. */
export interface TaskBoundary {
  step: number;
  name: string;
}

export interface FramesMessage {
  type: "frames";
  /** One Arrow IPC stream per seq rides as the message's buffers, in this order. */
  seqs: number[];
}
export interface AlertsMessage {
  type: "alerts";
  alerts: Alert[];
}
export interface NoticeMessage {
  type: "notice";
  level: NoticeLevel;
  text: string;
}
export interface SnapshotRequest {
  type: "snapshot";
  id: number;
  format: ImageFormat;
}
export interface TasksMessage {
  type: "tasks";
  /** Every boundary marked so far. */
  tasks: TaskBoundary[];
}
/** Kernel → browser. */
export type KernelMessage = FramesMessage | AlertsMessage | NoticeMessage | SnapshotRequest | TasksMessage;

export interface HelloMessage {
  type: "hello";
  view: string;
  /** Inclusive [first, last] seq ranges this view holds already. */
  have: [number, number][];
  protocol: number;
}
export interface ByeMessage {
  type: "bye";
  view: string;
}
export interface SnapshotReply {
  type: "snapshot";
  id: number;
  ok: boolean;
  format?: ImageFormat;
  error?: string;
}
/** Browser → kernel. */
export type ViewMessage = HelloMessage | ByeMessage | SnapshotReply;

/** The field names of message `T`, each listed once: a field missing from the list fails to compile. */
type Keys<M, T> = readonly (keyof Extract<M, { type: T }>)[];
type AllListed<M extends { type: string }, L extends { [T in M["type"]]: readonly PropertyKey[] }> = {
  [T in M["type"]]: [Exclude<keyof Extract<M, { type: T }>, L[T][number]>] extends [never] ? true : Exclude<keyof Extract<M, { type: T }>, L[T][number]>;
};
/** Each message's field names, checked against the types above (the contract test reads these). */
export const KERNEL_MESSAGE_KEYS = {
  frames: ["type", "seqs"],
  alerts: ["type", "alerts"],
  notice: ["type", "level", "text"],
  snapshot: ["type", "id", "format"],
  tasks: ["type", "tasks"],
} as const satisfies { [T in KernelMessage["type"]]: Keys<KernelMessage, T> };
export const VIEW_MESSAGE_KEYS = {
  hello: ["type", "view", "have", "protocol"],
  bye: ["type", "view"],
  snapshot: ["type", "id", "ok", "format", "error"],
} as const satisfies { [T in ViewMessage["type"]]: Keys<ViewMessage, T> };
export const KERNEL_KEYS_LISTED: AllListed<KernelMessage, typeof KERNEL_MESSAGE_KEYS> = { frames: true, alerts: true, notice: true, snapshot: true, tasks: true };
export const VIEW_KEYS_LISTED: AllListed<ViewMessage, typeof VIEW_MESSAGE_KEYS> = { hello: true, bye: true, snapshot: true };
