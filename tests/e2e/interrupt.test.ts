// End to end in JupyterLab: interrupting the kernel while a training cell runs loses no captured
// frame (view, cam.frames, cam.stats and the recording agree). Notebook 7: notebook7.test.ts.
import test from "node:test";
import { labSession } from "./jupyter.ts";
import { interruptScenario } from "./scenarios.ts";

const session = labSession();

test("JupyterLab: interrupting the kernel mid-run loses no captured frame", { timeout: 180_000 }, async () => {
  await interruptScenario(session.browser(), session.lab(), "interrupt.ipynb");
});
