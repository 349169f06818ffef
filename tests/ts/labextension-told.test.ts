// The JupyterLab extension's memory of notified alerts and its notification text (DOM-free parts).
import test from "node:test";
import assert from "node:assert/strict";
import { REMEMBERED, Told, alertKey, notificationText } from "../../labextension/src/told.ts";

const alert = { step: 380, layer: "act1", metric: "fisher", message: "class separation fell 8%", severity: "warning" };

test("the text starts with severity, step, layer and metric (a toast shows 140 characters)", () => {
  const text = notificationText(alert, "runs/train.ipynb", 2);
  assert.ok(text.startsWith("sentrycam warning · step 380 · act1 · fisher (+2 more) — train.ipynb: "), text);
  assert.match(notificationText({ ...alert, layer: null, metric: "forgetting_accuracy@0-4" }, null, 0), /^sentrycam warning · step 380 · model · forgetting_accuracy@0-4: /);
});

test("an alert is told once, also after a reload (the storage remembers), and the memory is bounded", () => {
  const store = new Map<string, string>();
  const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
  const told = new Told(storage);
  const key = alertKey("uid1", alert);
  assert.equal(told.first(key), true);
  assert.equal(told.first(key), false);
  assert.equal(new Told(storage).first(key), false, "a new page of the same browser knows it");
  assert.equal(told.first(alertKey("uid2", alert)), true, "another monitor's alert is its own");
  for (let i = 0; i < REMEMBERED + 10; i++) told.first(`k${i}`);
  assert.equal((JSON.parse(store.get("sentrycam-alerts:told") ?? "[]") as string[]).length, REMEMBERED);
  assert.equal(new Told(undefined).first(key), true, "without storage: remembered for the page only");
  const broken = { getItem: () => "{not json", setItem: () => { throw new Error("quota"); } };
  assert.equal(new Told(broken).first(key), true);
});
