// End to end, in a real JupyterLab: an alert appears in the widget while training runs, and the
// default UMAP view updates during training with reduction off the main thread.
import test from "node:test";
import assert from "node:assert/strict";
import { kernelBusy, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook , labSession } from "./jupyter.ts";

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
cam = sentrycam.Monitor(model, layers=["act1"], probe=(X[:400], y[:400]), every=4)
hits = []
cam.on_alert(hits.append)
cam`;

// Training goes well, then the weights are poisoned at step 80: a critical non-finite alert.
const TRAIN = `
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(160):
    idx = torch.randint(0, len(X), (64,))
    loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
    opt.zero_grad(); loss.backward(); opt.step()
    if step == 80:
        with torch.no_grad():
            model.fc1.weight[0, :] = float("nan")
    cam.step(step, loss=loss.item())
    time.sleep(0.05)
print("alerts", len(hits), hits[0].severity if hits else None)`;

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
  while (await kernelBusy(page)) {
    const attrs = await rootAttrs(page);
    framesWhileBusy.push(Number(attrs.frames ?? 0));
    if (attrs.step) stepsDrawnWhileBusy.add(attrs.step);
    if (Number(attrs.alerts ?? 0) > 0 && !alertWhileBusy) {
      alertWhileBusy = true;
      noticeWhileBusy = await page.locator(".sentrycam-notice").first().innerText();
    }
    await page.waitForTimeout(150);
  }
  framesWhileBusy = [...new Set(framesWhileBusy)];
  assert.ok(alertWhileBusy, "data-alerts stayed 0 while the kernel was busy");
  assert.match(noticeWhileBusy, /alert/i);
  assert.match(noticeWhileBusy, /non-finite|NaN/i);
  const items = await page.locator(".sentrycam-alerts li").allInnerTexts();
  assert.ok(items.length >= 1 && items.some((t) => /step 8[0-9]/.test(t)), `alert list: ${items.join(" | ")}`);
  assert.ok(framesWhileBusy.length >= 4, `frames while busy: ${framesWhileBusy.join(",")}`);
  // UMAP (the default reducer) redrew several different steps during training.
  const attrs = await rootAttrs(page);
  assert.equal(attrs.reducer, "umap");
  assert.equal(attrs.worker, "1", "reduction must run in a Web Worker");
  assert.ok(stepsDrawnWhileBusy.size >= 3, `UMAP frames drawn while busy: ${[...stepsDrawnWhileBusy].join(",")}`);
  const longtasks = await page.evaluate(() => (window as unknown as { __longtasks: number[] }).__longtasks);
  console.log(`# long tasks during the run (ms): ${longtasks.map((d) => d.toFixed(0)).join(", ") || "none"}`);
  if (process.env.SENTRYCAM_SHOT) await page.locator(".sentrycam-root").first().screenshot({ path: process.env.SENTRYCAM_SHOT });
  assert.deepEqual(problems.errors, []);
  await page.close();
});
