// End to end, in a real JupyterLab: an alert appears in the widget while training runs, and the
// default UMAP view updates during training with reduction off the main thread; clicking an alert
// opens a chart of its evidence, which stays open while new alerts arrive.
import test from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { cellOutput, kernelBusy, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook , labSession } from "./jupyter.ts";

const SETUP = `
import time, torch
from torch import nn
from collections import OrderedDict
from sklearn.datasets import load_digits
import sentrycam
torch.manual_seed(0)
d = load_digits()
X = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)
model = nn.Sequential(OrderedDict(fc1=nn.Linear(64, 64), act1=nn.ReLU(), out=nn.Linear(64, 10)))
# rearm_steps=50: 50 quiet steps end an incident (300 by default), so the val_loss jump 88 steps
# after the non-finite capture is an alert of its own in this short run.
cam = sentrycam.Monitor(model, layers=["act1"], probe=(X[:400], y[:400]), every=4,
                        alerts=sentrycam.AlertEngine(rearm_steps=50))
hits = []
cam.on_alert(hits.append)
cam`;

// Training goes well, then a weight is poisoned for the capture at step 80: a critical non-finite alert. A
// made-up val_loss (flat, with a little deterministic noise) jumps at step 168, after the rules'
// 150-step warm-up: a trend alert (robust rule, "jump"), confirmed at the next capture (172).
const TRAIN = `
import math
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(184):
    idx = torch.randint(0, len(X), (64,))
    loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
    opt.zero_grad(); loss.backward(); opt.step()
    if step == 80:
        saved = model.fc1.weight[0, :].clone()
        with torch.no_grad():
            model.fc1.weight[0, :] = float("nan")
    cam.step(step, loss=loss.item(), val_loss=1.0 + 0.01 * math.sin(step) + (4.0 if step >= 168 else 0.0))
    if step == 80:  # poisoned for that one capture: the incident ends 50 quiet steps later
        with torch.no_grad():
            model.fc1.weight[0, :] = saved
    time.sleep(0.05)
print("alerts", len(hits), hits[0].severity if hits else None)
print("evidence", sorted({(a.metric, a.evidence.get("kind")) for a in hits}))`;

const session = labSession();

test("an alert appears in the widget while the training cell is still running", { timeout: 300_000 }, async () => {
  writeNotebook(session.lab(), "alerts.ipynb", [SETUP, TRAIN]);
  const { page, problems } = await openNotebook(session.browser(), session.lab(), "alerts.ipynb");
  await page.evaluate(() => {
    (window as unknown as { __longtasks: number[] }).__longtasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) (window as unknown as { __longtasks: number[] }).__longtasks.push(e.duration);
    }).observe({ type: "longtask", buffered: false });
  });
  await runCell(page, 0);
  await waitKernelIdle(page);
  await page.waitForSelector(".sentrycam-root", { timeout: 60_000 });
  await runCell(page, 1);
  let alertWhileBusy = false;
  let noticeWhileBusy = "";
  let framesWhileBusy: number[] = [];
  let stepsDrawnWhileBusy = new Set<string>();
  let alertsAtOpen = -1; // data-alerts when the first alert's evidence was opened
  while (await kernelBusy(page)) {
    const attrs = await rootAttrs(page);
    framesWhileBusy.push(Number(attrs.frames ?? 0));
    if (attrs.step) stepsDrawnWhileBusy.add(attrs.step);
    if (Number(attrs.alerts ?? 0) > 0 && !alertWhileBusy) {
      alertWhileBusy = true;
      noticeWhileBusy = await page.locator(".sentrycam-notice").first().innerText();
      // Open the first (non-finite) alert's evidence while training still runs.
      await page.locator(".sentrycam-alerts li.sentrycam-alert.critical").first().click();
      alertsAtOpen = Number((await rootAttrs(page)).alerts);
    }
    await page.waitForTimeout(150);
  }
  framesWhileBusy = [...new Set(framesWhileBusy)];
  assert.ok(alertWhileBusy, "data-alerts stayed 0 while the kernel was busy");
  assert.match(noticeWhileBusy, /alert/i);
  assert.match(noticeWhileBusy, /non-finite|NaN/i);
  const items = await page.locator(".sentrycam-alerts li.sentrycam-alert").allInnerTexts();
  assert.ok(items.length >= 1 && items.some((t) => /step 8[0-9]/.test(t)), `alert list: ${items.join(" | ")}`);
  assert.ok(framesWhileBusy.length >= 4, `frames while busy: ${framesWhileBusy.join(",")}`);
  // UMAP (the default reducer) redrew several different steps during training.
  const attrs = await rootAttrs(page);
  assert.equal(attrs.reducer, "umap");
  assert.equal(attrs.worker, "1", "reduction must run in a Web Worker");
  assert.ok(stepsDrawnWhileBusy.size >= 3, `UMAP frames drawn while busy: ${[...stepsDrawnWhileBusy].join(",")}`);
  await checkEvidence(page, alertsAtOpen, await cellOutput(page, 1));
  const longtasks = await page.evaluate(() => (window as unknown as { __longtasks: number[] }).__longtasks);
  console.log(`# long tasks during the run (ms): ${longtasks.map((d) => d.toFixed(0)).join(", ") || "none"}`);
  if (process.env.SENTRYCAM_SHOT) await page.locator(".sentrycam-root").first().screenshot({ path: process.env.SENTRYCAM_SHOT });
  assert.deepEqual(problems.errors, []);
  await page.close();
});

/** The panel open under an alert: its hooks and what its chart draws. */
async function openPanel(page: Page) {
  return page.evaluate(() => {
    const panels = document.querySelectorAll<HTMLElement>(".sentrycam-alerts .sentrycam-evidence");
    const p = panels[0];
    const item = p?.previousElementSibling as HTMLElement | null;
    const svg = p?.querySelector("svg");
    return {
      count: panels.length,
      points: Number(p?.dataset.points ?? -1),
      kind: p?.dataset.kind ?? "",
      lines: svg?.querySelectorAll("polyline").length ?? 0,
      threshold: svg?.querySelectorAll("line.ev-threshold").length ?? 0,
      caption: p?.querySelector(".sentrycam-evidence-caption")?.textContent ?? "",
      item: item?.textContent ?? "",
      expanded: item?.getAttribute("aria-expanded") ?? "",
      root: (document.querySelector(".sentrycam-root") as HTMLElement).dataset.evidence,
    };
  });
}

/**
 * The non-finite alert's evidence, opened while the cell ran, is still open after later alerts
 * re-rendered the list; a second click closes it; the val_loss jump's evidence opens with a click
 * and closes with Enter.
 */
async function checkEvidence(page: Page, alertsAtOpen: number, output: string): Promise<void> {
  const attrs = await rootAttrs(page);
  assert.ok(alertsAtOpen > 0 && Number(attrs.alerts) > alertsAtOpen, `no alert arrived after the evidence was opened (${alertsAtOpen} then ${attrs.alerts}): ${output}`);
  let p = await openPanel(page);
  const opened = `evidence panel: ${JSON.stringify(p)}; kernel: ${output}`;
  assert.equal(p.count, 1, opened);
  assert.equal(p.kind, "nonfinite", opened);
  assert.ok(p.points > 0, opened);
  assert.ok(p.lines >= 1, opened);
  assert.equal(p.expanded, "true", opened);
  assert.equal(p.root, "1", opened);
  assert.match(p.item, /non-?finite|NaN/i, opened);
  const nonfinite = page.locator(".sentrycam-alerts li.sentrycam-alert[aria-expanded='true']");
  await nonfinite.click();
  p = await openPanel(page);
  assert.equal(p.count, 0, `a second click left it open: ${JSON.stringify(p)}`);
  assert.equal(p.root, "0");

  const jump = page.locator(".sentrycam-alerts li.sentrycam-alert", { hasText: "val_loss" }).first();
  await jump.waitFor({ timeout: 10_000 }).catch(() => assert.fail(`no val_loss alert; kernel: ${output}`));
  await jump.click();
  p = await openPanel(page);
  const trend = `val_loss evidence: ${JSON.stringify(p)}; kernel: ${output}`;
  assert.equal(p.kind, "jump", trend);
  assert.ok(p.points >= 5 && p.lines >= 1 && p.threshold === 1, trend);
  assert.match(p.caption, /reference [-\d.e+]+ ± [-\d.e+]+ · threshold [-\d.e+]+ · window steps \d+–\d+/, trend);
  assert.equal(p.root, "1", trend);
  await jump.focus();
  await page.keyboard.press("Enter");
  p = await openPanel(page);
  assert.equal(p.count, 0, `Enter left it open: ${JSON.stringify(p)}`);
  assert.equal(await jump.getAttribute("aria-expanded"), "false");
  assert.equal(p.root, "0");
}
