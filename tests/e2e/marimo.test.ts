// End to end in marimo (`marimo run` on examples/marimo_demo.py, headless Chromium): the monitor,
// wrapped in mo.ui.anywidget, renders, and its frames grow while the training cell runs.
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { ROOT, launchBrowser } from "./jupyter.ts";

const FRAMES = 40; // the demo's training cell logs 40 steps of one layer

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

test("marimo: the view renders and frames grow while the training cell runs", { timeout: 240_000 }, async () => {
  const port = await freePort();
  const marimo = spawn(path.join(ROOT, ".venv", "bin", "marimo"), ["run", path.join(ROOT, "examples", "marimo_demo.py"), "--headless", "--no-token", "--host", "127.0.0.1", "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  const log: string[] = [];
  marimo.stdout.on("data", (d: Buffer) => log.push(d.toString()));
  marimo.stderr.on("data", (d: Buffer) => log.push(d.toString()));
  const browser = await launchBrowser();
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const up = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false);
      if (up) break;
      assert.ok(Date.now() < deadline && marimo.exitCode === null, `marimo did not start:\n${log.join("")}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    // marimo renders a widget in a shadow root: Playwright's locators pierce it.
    const root = page.locator(".sentrycam-root").first();
    await root.waitFor({ timeout: 90_000 });
    const seen: number[] = [];
    const until = Date.now() + 90_000;
    while (Date.now() < until) {
      const frames = Number((await root.getAttribute("data-frames")) ?? 0);
      if (seen[seen.length - 1] !== frames) seen.push(frames);
      if (frames >= FRAMES) break;
      await page.waitForTimeout(200);
    }
    console.log(`marimo: data-frames seen ${seen.join(",")}`);
    assert.equal(seen[seen.length - 1], FRAMES, `frames seen: ${seen.join(",")}`);
    assert.ok(seen.filter((f) => f > 0 && f < FRAMES).length >= 3, `frames did not grow while the cell ran: ${seen.join(",")}`);
    // The last frame is reduced and drawn: every probe point is on the plot.
    const drawnBy = Date.now() + 30_000;
    while ((await root.getAttribute("data-points")) !== "300" || (await root.getAttribute("data-step")) !== String(FRAMES - 1)) {
      assert.ok(Date.now() < drawnBy, `not drawn: points ${await root.getAttribute("data-points")}, step ${await root.getAttribute("data-step")}`);
      await page.waitForTimeout(200);
    }
    assert.equal(await root.getAttribute("data-errors"), "0");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    marimo.kill("SIGTERM");
  }
});
