// plotly.js ships no types for its partial-bundle entry points.
declare module "plotly.js/lib/core" {
  const core: unknown;
  export default core;
}
declare module "plotly.js/lib/scattergl" {
  const trace: unknown;
  export default trace;
}
declare module "plotly.js/lib/heatmap" {
  const trace: unknown;
  export default trace;
}
