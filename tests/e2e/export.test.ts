// The standalone HTML export opens in a browser with no server and no network and shows the frames.
import test from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, launchBrowser } from "./jupyter.ts";

test("cam.save_html writes a page that renders every frame offline", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "sentrycam-html-"));
  const out = path.join(dir, "run.html");
  test.after(() => rmSync(dir, { recursive: true, force: true }));
  const code = `
import numpy as np, sentrycam
cam = sentrycam.Monitor(reducer="pca")
rng = np.random.default_rng(0)
for s in range(8):
    cam.log(s * 10, {"h": rng.normal(size=(300, 20)) + s * 0.1, "g": rng.normal(size=(300, 4))},
            labels=rng.integers(0, 5, 300), loss=1 / (s + 1))
cam.save_html(${JSON.stringify(out)}, title="export test")`;
  execFileSync(path.join(ROOT, ".venv", "bin", "python"), ["-c", code], { cwd: ROOT });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    // Any request leaving the page would break offline use: fail it loudly.
    await page.route(/^https?:/, (route) => { errors.push(`network request: ${route.request().url()}`); void route.abort(); });
    await page.goto(`file://${out}`);
    await page.waitForFunction(() => {
      const r = document.querySelector(".sentrycam-root") as HTMLElement | null;
      return r?.dataset.frames === "16" && r.dataset.points === "300" && r.dataset.step === "70";
    }, undefined, { timeout: 60_000 });
    const layers = await page.locator(".sentrycam-select-layer option").allInnerTexts();
    assert.deepEqual(layers, ["h", "g"]);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
