// End to end: a 2-process DDP job launched with torchrun records a run; a notebook in a real
// JupyterLab follows it with sentrycam.watch. data-frames grows while the job runs, the kernel
// stays free for other cells, the end of the run is told, and the lag between a frame being
// written and being shown is measured.
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { ROOT, cellOutput, labSession, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook } from "./jupyter.ts";

const session = labSession();
const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const JOB = path.join(ROOT, "tests", "e2e", "jobs", "ddp_digits.py");
const STEPS = 150; // every=5: 30 captures x 2 layers = 60 frames
const PAUSE_S = 0.12;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 29500));
    });
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

test("watch: a notebook follows a torchrun job's recording live; the kernel stays free", { timeout: 300_000 }, async (t) => {
  const lab = session.lab();
  const recording = path.join(lab.dir, "ddp.arrows");
  const log = path.join(lab.dir, "ddp.log");
  writeNotebook(lab, "watch.ipynb", [
    `import sentrycam\ncam = sentrycam.watch(${JSON.stringify(recording)}, poll=0.25)\ncam`,
    `print("kernel free", 6 * 7)`,
    `import json\nprint(json.dumps({"frames": len(cam.frames), "layers": cam.layers, "state": cam.stats["watch"]["state"]}))`,
  ]);
  const { page, problems } = await openNotebook(session.browser(), lab, "watch.ipynb");
  await runCell(page, 0);
  await waitKernelIdle(page);
  await page.waitForSelector(".sentrycam-root", { timeout: 60_000 });
  // Time stamps of every change of data-frames, taken in the page as they happen.
  await page.evaluate(() => {
    const root = document.querySelector(".sentrycam-root") as HTMLElement;
    const seen: [number, number][] = [];
    (window as unknown as { frameTimes: [number, number][] }).frameTimes = seen;
    new MutationObserver(() => seen.push([Number(root.dataset.frames ?? 0), Date.now()])).observe(root, {
      attributes: true,
      attributeFilter: ["data-frames"],
    });
  });

  const started = Date.now();
  const job = spawn(
    PYTHON,
    ["-m", "torch.distributed.run", "--nproc_per_node=2", `--master_port=${await freePort()}`, JOB, recording, log, String(STEPS), String(PAUSE_S)],
    { cwd: lab.dir, env: { ...process.env, OMP_NUM_THREADS: "1" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  job.stdout.on("data", (d: Buffer) => output.push(d.toString()));
  job.stderr.on("data", (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => job.on("exit", (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));

  // While the job runs: the view's frame count grows, and another cell runs at once.
  const whileRunning: number[] = [];
  let freeChecked = false;
  while (running) {
    const frames = Number((await rootAttrs(page)).frames ?? 0);
    if (whileRunning.at(-1) !== frames) whileRunning.push(frames);
    if (!freeChecked && frames > 0) {
      await runCell(page, 1);
      await waitKernelIdle(page, 10_000); // the watching never blocks the kernel
      assert.match(await cellOutput(page, 1), /kernel free 42/);
      freeChecked = true;
    }
    await page.waitForTimeout(200);
  }
  const code = await exited;
  const jobSeconds = (Date.now() - started) / 1000;
  assert.equal(code, 0, `torchrun failed:\n${output.join("")}`);
  assert.ok(freeChecked, "no frame reached the view while the job ran");
  const growing = whileRunning.filter((n) => n > 0 && n < 60);
  assert.ok(new Set(growing).size >= 3, `data-frames did not grow while the job ran: ${whileRunning.join(",")}`);

  await page.waitForFunction(() => (document.querySelector(".sentrycam-root") as HTMLElement | null)?.dataset.frames === "60", undefined, { timeout: 30_000 });
  await page.waitForFunction(() => /the run ended: 60 frames/.test(document.querySelector(".sentrycam-root")?.textContent ?? ""), undefined, { timeout: 30_000 });
  await runCell(page, 2);
  await waitKernelIdle(page);
  const facts = JSON.parse(await cellOutput(page, 2)) as { frames: number; layers: string[]; state: string };
  assert.deepEqual(facts, { frames: 60, layers: ["1", "3"], state: "ended" });
  const attrs = await rootAttrs(page);
  assert.equal(attrs.errors, "0");
  assert.ok(Number(attrs.points) === 300, `points: ${attrs.points}`);

  // Lag: when rank 0 had recorded k frames (its log) against when the view first showed >= k.
  assert.ok(existsSync(log));
  const written = readFileSync(log, "utf8").trim().split("\n").filter((l) => !l.startsWith("done")).map((l) => l.split(" ").map(Number));
  const shown = await page.evaluate(() => (window as unknown as { frameTimes: [number, number][] }).frameTimes);
  const lags = written.map(([k, at]) => {
    const first = shown.find(([n]) => n >= k);
    assert.ok(first, `frame ${k} was never shown`);
    return first[1] / 1000 - at;
  });
  const lag = median(lags);
  t.diagnostic(`torchrun job: ${jobSeconds.toFixed(1)} s; watch lag written -> shown: median ${lag.toFixed(2)} s, max ${Math.max(...lags).toFixed(2)} s over ${lags.length} captures`);
  assert.ok(lag < 2, `median lag ${lag.toFixed(2)} s is over 2 s`);
  assert.deepEqual(problems.errors, []);
  await page.close();
});
