// Arrow frames written by the current Python encoder (tests/fixtures/make_fixtures.py), made at test
// time into a temporary directory so that the frames the decoder is tested on cannot go stale.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** What make_fixtures.py says the decoder should find in one frame (NaN is written as null). */
export interface ExpectedFrame {
  seq: number;
  step: number;
  layer: string;
  n: number;
  d: number;
  dtype: "float32" | "float16";
  ids: number[];
  labels: number[] | null;
  preds: number[] | null;
  groups: number[] | null;
  group_names: string[];
  tasks: { step: number; name: string }[];
  scalars: Record<string, number | null>;
  metrics: Record<string, number | null>;
  nonfinite: number;
  pool: string;
  shape: number[];
  projected_from: number | null;
  every: number | null;
  x: (number | null)[];
}

export interface Expected {
  x_formula: string;
  frames: Record<string, ExpectedFrame>;
}

export interface Fixtures {
  dir: string;
  expected: Expected;
  /** The bytes of one frame, in an aligned private copy (as a comm buffer would be). */
  read(name: string): Uint8Array;
  /** Delete the temporary directory. */
  remove(): void;
}

const ROOT = path.resolve(import.meta.dirname, "..", "..", "..");
const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const SCRIPT = path.join(ROOT, "tests", "fixtures", "make_fixtures.py");

/** Run make_fixtures.py into a fresh temporary directory; throws (never skips) when it cannot. */
export function makeFixtures(): Fixtures {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} is missing: the decoder's test frames are written by the Python encoder. ` +
        "Run `bash scripts/setup.sh` to create the virtual environment.",
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "sentrycam-fixtures-"));
  const run = spawnSync(PYTHON, [SCRIPT, dir], { cwd: ROOT, encoding: "utf8" });
  if (run.error !== undefined || run.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = run.error?.message ?? `exit status ${run.status ?? run.signal}`;
    throw new Error(`${path.relative(ROOT, SCRIPT)} failed (${why}):\n${run.stderr ?? ""}`);
  }
  const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8")) as Expected;
  return {
    dir,
    expected,
    read(name: string): Uint8Array {
      const buf = readFileSync(path.join(dir, name));
      const bytes = new Uint8Array(new ArrayBuffer(buf.byteLength));
      bytes.set(buf);
      return bytes;
    },
    remove(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
