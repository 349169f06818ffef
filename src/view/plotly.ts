// One place registers the traces of the partial Plotly bundle: core (which carries `scatter`),
// `scattergl` for the point cloud and `heatmap` for the decision regions behind it. The interface below is the slice of plotly.js this widget uses.
import core from "plotly.js/lib/core";
import scattergl from "plotly.js/lib/scattergl";
import heatmap from "plotly.js/lib/heatmap";

export interface PlotlyApi {
  register(modules: unknown[]): void;
  react(el: HTMLElement, data: object[], layout?: object, config?: object): Promise<HTMLElement>;
  restyle(el: HTMLElement, update: object, traces?: number[]): Promise<HTMLElement>;
  relayout(el: HTMLElement, update: object): Promise<HTMLElement>;
  toImage(el: HTMLElement, opts: { format: "png" | "svg"; width?: number; height?: number; scale?: number }): Promise<string>;
  downloadImage(el: HTMLElement, opts: { format: "png" | "svg"; filename: string; width?: number; height?: number }): Promise<string>;
  purge(el: HTMLElement): void;
}

const Plotly = core as unknown as PlotlyApi;
Plotly.register([scattergl, heatmap]);

export default Plotly;
