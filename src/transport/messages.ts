/** Custom comm messages between the kernel and the views (the JSON part; frames ride as buffers). */

/** What a rule compared, as the kernel saw it ("kind" names the rule's verdict). */
export type EvidenceKind = "jump" | "sustained" | "frozen" | "explosion" | "death" | "nonfinite" | "sentrycam";

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
}

export interface Alert {
  step: number;
  layer: string | null;
  metric: string;
  message: string;
  severity: "info" | "warning" | "critical" | string;
  rule?: string;
  value?: number | null;
  /** Absent (or `{}`) in alerts from older kernels and recordings. */
  evidence?: Evidence | Record<string, never>;
}

/** Kernel → browser. */
export type KernelMessage =
  | { type: "frames"; seqs: number[]; replay: boolean }
  | { type: "alerts"; alerts: Alert[] }
  | { type: "notice"; level: "warning" | "info"; text: string }
  | { type: "snapshot"; id: number; format: "png" | "svg" };

/** Browser → kernel. */
export type ViewMessage =
  | { type: "hello"; view: string; have: [number, number][] }
  | { type: "bye"; view: string }
  | { type: "snapshot"; id: number; ok: boolean; format?: string; error?: string };
