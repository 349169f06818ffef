// Two builds: the reduction Web Worker first (one self-contained script), then the widget, which
// inlines the worker's source as a string and starts it from a Blob URL. anywidget loads the widget
// from a blob: URL, so nothing may be fetched relative to it: one ESM file, no chunks.
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(fileURLToPath(import.meta.url));
const tsRule = { test: /\.ts$/, loader: "esbuild-loader", options: { target: "es2022" }, exclude: /node_modules/ };
const common = (mode) => ({
  mode,
  devtool: false,
  resolve: { extensions: [".ts", ".js"], extensionAlias: { ".js": [".ts", ".js"] } },
  performance: { hints: false },
});

export default (_env, argv) => {
  const mode = argv.mode ?? "production";
  return [
    {
      ...common(mode),
      name: "worker",
      target: "webworker",
      entry: "./src/worker/entry.ts",
      output: { path: path.join(root, "build"), filename: "worker.js", iife: true },
      module: { rules: [tsRule] },
    },
    {
      ...common(mode),
      name: "widget",
      dependencies: ["worker"],
      target: "web",
      entry: "./src/widget.ts",
      experiments: { outputModule: true },
      output: {
        path: path.join(root, "python", "sentrycam", "static"),
        filename: "widget.js",
        module: true,
        library: { type: "module" },
        chunkFormat: "module",
      },
      optimization: { splitChunks: false, runtimeChunk: false },
      module: {
        rules: [
          tsRule,
          { resourceQuery: /raw/, type: "asset/source" },
        ],
        parser: { javascript: { dynamicImportMode: "eager" } },
      },
    },
  ];
};
