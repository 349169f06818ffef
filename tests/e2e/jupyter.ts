// A real JupyterLab server and a real headless Chromium (Debian's, driven by playwright-core) for
// end-to-end tests: start the server on a free port, write a notebook, open it, run cells.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import test from "node:test";
import assert from "node:assert/strict";
import { chromium, type Browser, type Page } from "playwright-core";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
const PYTHON_BIN = process.env.SENTRYCAM_PYTHON_BIN ?? path.join(ROOT, ".venv", "bin");

export interface Lab {
  url: string;
  token: string;
  dir: string;
  proc: ChildProcess;
  log: string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export async function startLab(): Promise<Lab> {
  const port = await freePort();
  const token = "sentrycam-e2e";
  const dir = mkdtempSync(path.join(tmpdir(), "sentrycam-e2e-"));
  // Render every cell (no virtual scrolling), so cells can be clicked wherever they are.
  const settings = path.join(dir, ".settings", "@jupyterlab", "notebook-extension");
  mkdirSync(settings, { recursive: true });
  writeFileSync(path.join(settings, "tracker.jupyterlab-settings"), JSON.stringify({ windowingMode: "none" }));
  const jupyter = path.join(PYTHON_BIN, "jupyter");
  const proc = spawn(
    existsSync(jupyter) ? jupyter : "jupyter",
    [
      "lab", "--no-browser", "--allow-root", `--port=${port}`, "--ip=127.0.0.1",
      `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${dir}`,
      "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
      "--ServerApp.disable_check_xsrf=True", `--LabApp.workspaces_dir=${path.join(dir, ".workspaces")}`,
    ],
    { cwd: dir, env: { ...process.env, PATH: `${PYTHON_BIN}:${process.env.PATH}`, JUPYTERLAB_SETTINGS_DIR: path.join(dir, ".settings") }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const log: string[] = [];
  proc.stdout?.on("data", (d: Buffer) => log.push(d.toString()));
  proc.stderr?.on("data", (d: Buffer) => log.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/api/status?token=${token}`);
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill("SIGKILL");
      throw new Error(`JupyterLab did not start:\n${log.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    url, token, dir, proc, log,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      await new Promise<void>((r) => {
        const t = setTimeout(() => { proc.kill("SIGKILL"); r(); }, 8000);
        proc.on("exit", () => { clearTimeout(t); r(); });
      });
    },
  };
}

/** Write a notebook of code cells into the server's root directory. */
export function writeNotebook(lab: Lab, name: string, cells: string[]): void {
  const nb = {
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: cells.map((src, i) => ({ cell_type: "code", id: `c${i}`, metadata: {}, execution_count: null, outputs: [], source: src })),
  };
  writeFileSync(path.join(lab.dir, name), JSON.stringify(nb));
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.SENTRYCAM_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

export interface PageProblems {
  errors: string[];
}

/** Open `name` in JupyterLab, wait for an idle kernel; collect page errors and console errors. */
export async function openNotebook(browser: Browser, lab: Lab, name: string): Promise<{ page: Page; problems: PageProblems }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems: PageProblems = { errors: [] };
  page.on("pageerror", (err) => problems.errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.errors.push(`console.error: ${msg.text()} (${msg.location().url})`);
  });
  // A workspace of its own, reset: nothing restored from an earlier page (other notebooks' tabs).
  const workspace = `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
  await page.goto(`${lab.url}/lab/workspaces/${workspace}/tree/${name}?reset&token=${lab.token}`);
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 90_000 });
  // The kernel must be started and connected, not just "not busy": wait for its status to read idle.
  await page.waitForFunction(
    () =>
      document.querySelector(".jp-Notebook-ExecutionIndicator")?.getAttribute("data-status") === "idle" ||
      /\(ipykernel\) \| Idle/.test((document.querySelector(".jp-StatusBar-Panel") as HTMLElement | null)?.innerText ?? ""),
    undefined,
    { timeout: 90_000, polling: 200 },
  );
  await waitKernelIdle(page, 90_000);
  return { page, problems };
}

export async function kernelBusy(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const prompts = [...document.querySelectorAll(".jp-Notebook .jp-InputArea-prompt")];
    return prompts.some((p) => p.textContent?.includes("*"));
  });
}

export async function waitKernelIdle(page: Page, timeout = 120_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const status = document.querySelector(".jp-Notebook-ExecutionIndicator");
      const s = status?.getAttribute("data-status");
      const prompts = [...document.querySelectorAll(".jp-Notebook .jp-InputArea-prompt")];
      return (s === null || s === undefined || s === "idle") && !prompts.some((p) => p.textContent?.includes("*"));
    },
    undefined,
    { timeout, polling: 200 },
  );
}

/** Select cell `index` and run it (Shift+Enter); does not wait for it to finish. */
export async function runCell(page: Page, index: number): Promise<void> {
  const cell = page.locator(".jp-Notebook .jp-Cell").nth(index);
  for (let attempt = 0; ; attempt++) {
    try {
      // JupyterLab may re-render cells right after opening: retry a detached element.
      await cell.scrollIntoViewIfNeeded({ timeout: 5000 });
      await cell.locator(".jp-InputArea-editor").click({ timeout: 5000 });
      break;
    } catch (err) {
      if (attempt >= 4) throw err;
      await page.waitForTimeout(500);
    }
  }
  const started = (i: number) => {
    const p = document.querySelectorAll(".jp-Notebook .jp-InputArea-prompt")[i];
    return Boolean(p?.textContent?.includes("[") && !p.textContent.includes("[ ]"));
  };
  await page.keyboard.press("Shift+Enter");
  // A request sent while the kernel connection settles can be lost: if the cell never started
  // (its prompt still reads [ ]), select it and run it again.
  for (let retry = 0; retry < 2; retry++) {
    const ok = await page.waitForFunction(started, index, { timeout: 10_000, polling: 50 }).then(() => true, () => false);
    if (ok) return;
    await cell.locator(".jp-InputArea-editor").click({ timeout: 5000 });
    await page.keyboard.press("Shift+Enter");
  }
  await page.waitForFunction(started, index, { timeout: 10_000, polling: 50 }).catch(async (err: unknown) => {
    await page.screenshot({ path: path.join(tmpdir(), `sentrycam-runcell-${index}.png`) }).catch(() => undefined);
    throw err;
  });
}

export async function cellOutput(page: Page, index: number): Promise<string> {
  return (await page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea").innerText()).trim();
}

/** The testing hooks of the first (or `nth`) sentrycam view on the page. */
export async function rootAttrs(page: Page, nth = 0): Promise<Record<string, string>> {
  return page.evaluate((i) => {
    const root = document.querySelectorAll(".sentrycam-root")[i] as HTMLElement | undefined;
    return root ? { ...root.dataset } as Record<string, string> : {};
  }, nth);
}

/** Register before/after hooks that start one JupyterLab and one browser for a test file. */
export function labSession(): { lab(): Lab; browser(): Browser } {
  let lab: Lab | undefined;
  let browser: Browser | undefined;
  test.before(async () => {
    lab = await startLab();
    browser = await launchBrowser();
  });
  test.after(async () => {
    await browser?.close();
    await lab?.stop();
  });
  return {
    lab: () => lab ?? assert.fail("JupyterLab did not start"),
    browser: () => browser ?? assert.fail("the browser did not start"),
  };
}
