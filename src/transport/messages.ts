/** Custom comm messages between the kernel and the views (the JSON part; frames ride as buffers). */

export interface Alert {
  step: number;
  layer: string | null;
  metric: string;
  message: string;
  severity: "info" | "warning" | "critical" | string;
  rule?: string;
  value?: number | null;
}

/** Kernel → browser. */
export type KernelMessage =
  | { type: "frames"; seqs: number[]; replay: boolean }
  | { type: "alerts"; alerts: Alert[] }
  | { type: "notice"; level: string; text: string }
  | { type: "snapshot"; id: number; format: "png" | "svg" };

/** Browser → kernel. */
export type ViewMessage =
  | { type: "hello"; view: string; have: [number, number][] }
  | { type: "bye"; view: string }
  | { type: "snapshot"; id: number; ok: boolean; format?: string; error?: string };
