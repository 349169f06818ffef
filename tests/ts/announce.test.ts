// New warning and critical alerts become one `sentrycam:alert` event on window (what the JupyterLab
// extension listens to); info alerts, replays and pages without a window stay silent.
import test from "node:test";
import assert from "node:assert/strict";
import { createState, handleMessage } from "../../src/model-state.ts";
import { ALERT_EVENT, type AlertEventDetail } from "../../src/contract.ts";

const alert = (step: number, severity: string) => ({ step, layer: "h", metric: "fisher", message: "fell", severity });

test("new warning and critical alerts are announced once, with the monitor's uid and path", () => {
  const target = new EventTarget();
  (globalThis as { window?: unknown }).window = target;
  try {
    const heard: AlertEventDetail[] = [];
    target.addEventListener(ALERT_EVENT, (e) => heard.push((e as CustomEvent<AlertEventDetail>).detail));
    const state = createState();
    state.origin = { uid: "u1", path: "runs/train.ipynb" };
    handleMessage(state, { type: "alerts", alerts: [alert(1, "info"), alert(2, "warning"), alert(3, "critical")] }, []);
    handleMessage(state, { type: "alerts", alerts: [alert(2, "warning"), alert(3, "critical")] }, []); // a replay
    handleMessage(state, { type: "alerts", alerts: [alert(4, "info")] }, []);
    assert.equal(heard.length, 1);
    assert.deepEqual(heard[0].alerts.map((a) => [a.step, a.severity]), [[2, "warning"], [3, "critical"]]);
    assert.equal(heard[0].uid, "u1");
    assert.equal(heard[0].path, "runs/train.ipynb");
  } finally {
    delete (globalThis as { window?: unknown }).window;
  }
});

test("without a window (Node, a worker) nothing is dispatched and nothing fails", () => {
  const state = createState();
  state.origin = { uid: "u1", path: null };
  handleMessage(state, { type: "alerts", alerts: [alert(2, "critical")] }, []);
  assert.equal(state.alerts.length, 1);
});
