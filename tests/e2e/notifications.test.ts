// End to end in a real JupyterLab with sentrycam's extension (installed by the wheel; linked into
// .venv by scripts/setup.sh): a monitor in a notebook that is NOT the active tab raises alerts
// while its training cell runs; a JupyterLab notification appears for each with the alert's layer,
// metric and step, and its action brings the notebook and the monitor back into view. Measures the
// time from an alert being raised in the kernel to its notification being on screen.
import test from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ROOT, cellOutput, labSession, openNotebook, runCell, waitKernelIdle, writeNotebook } from "./jupyter.ts";

const session = labSession();

const SETUP = `
import json, time, numpy as np, sentrycam
cam = sentrycam.Monitor(sync=True, reducer="pca")  # sync: an alert is sent inside the step that raised it
raised = []
cam.on_alert(lambda a: raised.append({"t": time.time() * 1000, "step": a.step, "layer": a.layer, "metric": a.metric, "severity": a.severity}))
cam`;

// Starts after a pause (the test opens another notebook meanwhile); four layers, each turning
// non-finite at its own step (400, 800, 1200, 1600: captures 20 steps apart, failures 400 apart,
// more than the 300 quiet steps that end an incident, so each is one): four critical alerts.
const TRAIN = `
time.sleep(8)
rng = np.random.default_rng(0)
BREAK = {"h1": 20, "h2": 40, "h3": 60, "h4": 80}
for step in range(100):
    acts = {name: rng.normal(size=(200, 8)).astype("float32") for name in BREAK}
    for name, at in BREAK.items():
        if step == at:
            acts[name][:4] = np.nan
    cam.log(step * 20, acts, labels=rng.integers(0, 4, 200))
    time.sleep(0.1)
print(json.dumps(raised))`;

test("the labextension is listed by jupyter labextension list", () => {
  const run = spawnSync(path.join(ROOT, ".venv", "bin", "jupyter"), ["labextension", "list"], { encoding: "utf8" });
  const out = `${run.stdout}${run.stderr}`.replace(/\u001b\[[0-9;]*m/g, ""); // it lists on stderr, coloured
  assert.match(out, /sentrycam-alerts v\d+\.\d+\.\d+ enabled OK \(python, sentrycam\)/);
});

test("alerts from a notebook in a background tab reach a notification; its action shows the monitor", { timeout: 300_000 }, async () => {
  writeNotebook(session.lab(), "train.ipynb", [SETUP, TRAIN, "print(json.dumps(raised))"]);
  writeNotebook(session.lab(), "other.ipynb", ["1 + 1"]);
  const { page, problems } = await openNotebook(session.browser(), session.lab(), "train.ipynb");
  await runCell(page, 0);
  await waitKernelIdle(page);
  await page.waitForSelector(".sentrycam-root", { timeout: 60_000 }).catch(async (err: unknown) => {
    assert.fail(`no view: ${(err as Error).message}; cell output: ${await cellOutput(page, 0)}; page errors: ${problems.errors.join(" | ")}`);
  });
  // Record when each toast's text first names an alert (page clock = kernel clock: one machine).
  await page.evaluate(() => {
    const seen: Record<string, number> = {};
    (window as unknown as { toastSeen: Record<string, number> }).toastSeen = seen;
    new MutationObserver(() => {
      for (const toast of document.querySelectorAll(".Toastify__toast")) {
        const text = toast.textContent ?? "";
        for (const m of text.matchAll(/step (\d+) · ([^·]+?) · /g)) {
          const key = `${m[1]}|${m[2].trim()}`;
          seen[key] ??= Date.now();
        }
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await runCell(page, 1); // sleeps 8 s, then trains
  // Meanwhile open another notebook: it becomes the active tab; the monitor's notebook is hidden.
  await page.locator(".jp-DirListing-item", { hasText: "other.ipynb" }).first().dblclick();
  await page.waitForFunction(() => document.querySelector(".jp-mod-current .lm-TabBar-tabLabel, .lm-TabBar-tab.jp-mod-current")?.textContent?.includes("other.ipynb"), undefined, { timeout: 30_000 });
  const monitorHidden = await page.evaluate(() => (document.querySelector(".sentrycam-root") as HTMLElement).getBoundingClientRect().width === 0);
  assert.ok(monitorHidden, "the monitor's notebook is in a background tab");

  // A notification with the alert's layer, metric and step appears.
  const toast = page.locator(".Toastify__toast", { hasText: "sentrycam critical" }).first();
  await toast.waitFor({ timeout: 120_000 });
  assert.match(await toast.innerText(), /step 400 · h1 · \w+/);
  await page.waitForFunction(() => Object.keys((window as unknown as { toastSeen: Record<string, number> }).toastSeen).some((k) => k.startsWith("1600|h4")), undefined, { timeout: 120_000 });
  const seen = await page.evaluate(() => (window as unknown as { toastSeen: Record<string, number> }).toastSeen);
  // One monitor's alerts close together update one notification instead of flooding the area.
  assert.equal(await page.locator(".Toastify__toast", { hasText: "sentrycam" }).count(), 1);
  assert.match(await toast.innerText(), /\(\+3 more\)/);

  // Its action brings the monitor's notebook back and scrolls to the monitor.
  await toast.getByRole("button", { name: "Show monitor" }).click();
  await page.waitForFunction(() => document.querySelector(".lm-TabBar-tab.jp-mod-current")?.textContent?.includes("train.ipynb"), undefined, { timeout: 30_000 });
  await page.waitForFunction(() => {
    const r = (document.querySelector(".sentrycam-root") as HTMLElement).getBoundingClientRect();
    return r.width > 0 && r.top >= 0 && r.top < window.innerHeight;
  }, undefined, { timeout: 30_000 });

  // Latency: alert raised in the kernel → its notification on screen.
  await waitKernelIdle(page, 180_000);
  await runCell(page, 2);
  await waitKernelIdle(page);
  const raised = JSON.parse((await cellOutput(page, 2)).split("\n").reverse().find((l) => l.startsWith("[")) ?? "[]") as { t: number; step: number; layer: string | null; severity: string }[];
  const notified = raised.filter((a) => a.severity !== "info");
  assert.ok(notified.length >= 4, `alerts raised: ${JSON.stringify(raised)}`);
  const lags = notified.map((a) => seen[`${a.step}|${a.layer ?? "model"}`]).map((t, i) => t - notified[i].t).filter((x) => Number.isFinite(x));
  assert.ok(lags.length >= 4, `notifications seen: ${JSON.stringify(seen)}`);
  lags.sort((a, b) => a - b);
  console.log(`notification lag (ms), alert raised → notification shown: median ${lags[Math.floor(lags.length / 2)].toFixed(0)}, all ${lags.map((l) => l.toFixed(0)).join(", ")}`);
  assert.deepEqual(problems.errors, []);
  await page.close();
});
