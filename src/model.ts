/**
 * The widget model as the views see it: the synced traits of python/sentrycam/monitor.py, typed,
 * so every `model.get` and `model.set` is checked.
 */
import type { AnyModel } from "@anywidget/types";
import type { ReduceMethod } from "./contract.ts";

export interface Traits {
  /** Layers the monitor watches, in the order given (frames may add more). */
  layers: string[];
  /** The reducer a view starts with; a view writes back the one chosen in its toolbar. */
  reducer: ReduceMethod;
  /** Keys the per-model state shared by every view of one monitor. */
  _uid: string;
  /** Names of the classes (index = label), for hover text and the legend; [] when not given. */
  class_names: string[];
  /** Sample ids selected in a view; readable as `cam.selection` once the running cell finished. */
  selection: number[];
}

export type WidgetModel = AnyModel<Traits>;

/** Every trait name, for the contract test (the check below fails to compile if one is missing). */
export const TRAIT_NAMES = ["layers", "reducer", "_uid", "class_names", "selection"] as const satisfies readonly (keyof Traits)[];
type Unlisted = Exclude<keyof Traits, (typeof TRAIT_NAMES)[number]>;
export const TRAITS_LISTED: [Unlisted] extends [never] ? true : Unlisted = true;
