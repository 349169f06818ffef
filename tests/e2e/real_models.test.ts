// End to end in a real JupyterLab: real models whose layers are not (N, D) — a CNN's conv maps
// (N, C, H, W) and a transformer encoder's token sequences (N, T, D) — are pooled to one row per
// sample in the kernel and stream into the view while the training cell runs.
import test from "node:test";
import assert from "node:assert/strict";
import { labSession, rootAttrs, runCell, waitKernelIdle } from "./jupyter.ts";
import { cellJson, trainLive, waitFrames } from "./scenarios.ts";

// One intra-op thread: on this shared 2-core machine the kernel competes with the Jupyter server
// and Chromium, and a second OpenMP thread made each small training step ~20x slower.
const PRELUDE = `
import json, time, torch
from torch import nn
from collections import OrderedDict
import sentrycam
torch.set_num_threads(1)
torch.manual_seed(0)`;

// The CNN on scikit-learn's 8x8 digits; the two ReLUs output (N, 16, 8, 8) and (N, 32, 4, 4).
const CNN_SETUP = `${PRELUDE}
from sklearn.datasets import load_digits
d = load_digits()
X = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
y = torch.tensor(d.target)
model = nn.Sequential(OrderedDict(
    conv1=nn.Conv2d(1, 16, 3, padding=1), act1=nn.ReLU(), pool1=nn.MaxPool2d(2),
    conv2=nn.Conv2d(16, 32, 3, padding=1), act2=nn.ReLU(), gap=nn.AdaptiveAvgPool2d(1),
    flat=nn.Flatten(), out=nn.Linear(32, 10)))
PROBE = 400
cam = sentrycam.Monitor(model, layers=["act1", "act2"], probe=(X[:PROBE], y[:PROBE]), every=5)
cam`;

// A 2-block transformer encoder classifying whether the planted token 0 occurs in a sequence.
const TRANSFORMER_SETUP = `${PRELUDE}
VOCAB, T, N = 32, 32, 3000
X = torch.randint(1, VOCAB, (N, T))
y = torch.randint(0, 2, (N,))
where = torch.randint(0, T, (N,))
X[y == 1, where[y == 1]] = 0  # label 1: token 0 appears once

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 64)
        self.pos = nn.Parameter(torch.randn(1, T, 64) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True) for _ in range(2))
        self.head = nn.Linear(64, 2)

    def forward(self, tokens):
        h = self.embed(tokens) + self.pos
        for block in self.blocks:
            h = block(h)
        return self.head(h.mean(dim=1))

model = Encoder()
PROBE = 300
cam = sentrycam.Monitor(model, layers=["blocks.0", "blocks.1"], probe=(X[:PROBE], y[:PROBE]), every=5)
cam`;

function train(steps: number, sleep: number, lr: number): string {
  return `
opt = torch.optim.Adam(model.parameters(), lr=${lr})
for step in range(${steps}):
    idx = torch.randint(PROBE, len(X), (64,))
    loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
    opt.zero_grad(); loss.backward(); opt.step()
    cam.step(step, loss=loss.item())
    time.sleep(${sleep})
print("trained", step + 1)`;
}

// What the kernel kept: frame and capture counts, and the first and last frames' pooling.
const CHECK = `
f = cam.frames
model.eval()
with torch.no_grad():
    acc = (model(X[:PROBE]).argmax(1) == y[:PROBE]).float().mean().item()
describe = lambda fr: {"layer": fr.layer, "x": list(fr.x.shape), "shape": list(fr.shape), "pool": fr.pool}
print(json.dumps({"frames": len(f), "captures": cam.stats["captures"], "first": describe(f[0]), "last": describe(f[-1]), "acc": acc}))`;

interface Expect {
  points: number;
  layers: [string, string];
  first: { x: number[]; shape: number[] };
  last: { x: number[]; shape: number[] };
}

const session = labSession();

async function liveRun(name: string, setup: string, trainCell: string, expect: Expect): Promise<void> {
  const { page, problems, seen } = await trainLive(session.browser(), session.lab(), name, [setup, trainCell, CHECK]);

  await runCell(page, 2);
  await waitKernelIdle(page);
  const out = await cellJson(page, 2);
  const frames = Number(out.frames);
  assert.equal(frames, 2 * Number(out.captures), JSON.stringify(out));
  assert.ok(frames >= 20, `only ${frames} frames: ${JSON.stringify(out)}`);
  assert.deepEqual(out.first, { layer: expect.layers[0], ...expect.first, pool: "mean" });
  assert.deepEqual(out.last, { layer: expect.layers[1], ...expect.last, pool: "mean" });
  console.log(`${name}: ${frames} frames, probe accuracy after training ${Number(out.acc).toFixed(3)}, data-frames while busy ${seen.join(",")}`);

  await waitFrames(page, frames);
  await page.waitForFunction((n) => (document.querySelector(".sentrycam-root") as HTMLElement | null)?.dataset.points === String(n), expect.points, { timeout: 60_000 })
    .catch(async () => assert.fail(`data-points never read ${expect.points}: ${JSON.stringify(await rootAttrs(page))}`));
  const attrs = await rootAttrs(page);
  assert.equal(attrs.errors, "0");
  assert.ok(expect.layers.includes(attrs.layer ?? ""), `data-layer ${attrs.layer}`);
  assert.deepEqual(problems.errors, []);
  await page.close();
}

test("a CNN's conv maps are pooled per channel and stream live", { timeout: 180_000 }, async () => {
  await liveRun("cnn.ipynb", CNN_SETUP, train(120, 0.06, 3e-3), {
    points: 400,
    layers: ["act1", "act2"],
    first: { x: [400, 16], shape: [400, 16, 8, 8] },
    last: { x: [400, 32], shape: [400, 32, 4, 4] },
  });
});

test("a transformer encoder's token sequences are pooled over tokens and stream live", { timeout: 180_000 }, async () => {
  await liveRun("transformer.ipynb", TRANSFORMER_SETUP, train(120, 0.05, 1e-3), {
    points: 300,
    layers: ["blocks.0", "blocks.1"],
    first: { x: [300, 64], shape: [300, 32, 64] },
    last: { x: [300, 64], shape: [300, 32, 64] },
  });
});
