// A real JupyterLab server and a real headless Chromium (Debian's, driven by playwright-core) for
// end-to-end tests: start the server on a free port, write a notebook, open it, run cells.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import test from "node:test";
import assert from "node:assert/strict";
import { chromium, type Browser, type Page } from "playwright-core";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
const PYTHON_BIN = process.env.SENTRYCAM_PYTHON_BIN ?? path.join(ROOT, ".venv", "bin");

/** Which Jupyter front end serves the notebooks: JupyterLab 4 or Notebook 7 (the `notebook` package). */
export type JupyterApp = "lab" | "notebook";

export interface Lab {
  app: JupyterApp;
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

export async function startLab(options: { app?: JupyterApp } = {}): Promise<Lab> {
  const app = options.app ?? "lab";
  const port = await freePort();
  const token = "sentrycam-e2e";
  const dir = mkdtempSync(path.join(tmpdir(), "sentrycam-e2e-"));
  // Render every cell (no virtual scrolling), so cells can be clicked wherever they are.
  const settings = path.join(dir, ".settings", "@jupyterlab", "notebook-extension");
  mkdirSync(settings, { recursive: true });
  writeFileSync(path.join(settings, "tracker.jupyterlab-settings"), JSON.stringify({ windowingMode: "none" }));
  const jupyter = path.join(PYTHON_BIN, "jupyter");
  const common = [
    "--no-browser", "--allow-root", `--port=${port}`, "--ip=127.0.0.1",
    `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${dir}`, "--ServerApp.disable_check_xsrf=True",
  ];
  const args =
    app === "lab"
      ? [
          "lab", ...common,
          "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
          `--LabApp.workspaces_dir=${path.join(dir, ".workspaces")}`,
        ]
      : ["notebook", ...common, `--JupyterNotebookApp.workspaces_dir=${path.join(dir, ".workspaces")}`];
  const proc = spawn(
    existsSync(jupyter) ? jupyter : "jupyter",
    args,
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
      throw new Error(`${app === "lab" ? "JupyterLab" : "Notebook 7"} did not start:\n${log.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    app, url, token, dir, proc, log,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise<void>((r) => {
          const t = setTimeout(() => { proc.kill("SIGKILL"); r(); }, 8000);
          proc.on("exit", () => { clearTimeout(t); r(); });
        });
      }
      rmSync(dir, { recursive: true, force: true }); // nothing is left behind in the temp folder
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
  /** Errors of the Jupyter front end itself, known and unrelated to sentrycam (see NOTEBOOK7_OWN_ERRORS). */
  ignored: string[];
}

/** Open `name` in JupyterLab (or in Notebook 7 when the server is one, see `openNotebook7`), wait
 * for an idle kernel; collect page errors and console errors. */
export async function openNotebook(browser: Browser, lab: Lab, name: string): Promise<{ page: Page; problems: PageProblems }> {
  if (lab.app === "notebook") return openNotebook7(browser, lab, name);
  const { page, problems } = await newWatchedPage(browser);
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

/** Open `name` in Notebook 7's notebook page (/notebooks/NAME), wait for its kernel to be started,
 * connected and idle. The page uses JupyterLab's notebook widgets (.jp-Notebook, .jp-Cell,
 * .jp-InputArea-prompt) and the same execution indicator in the notebook's toolbar. */
export async function openNotebook7(browser: Browser, lab: Lab, name: string): Promise<{ page: Page; problems: PageProblems }> {
  assert.equal(lab.app, "notebook", "openNotebook7 needs a server started with startLab({ app: \"notebook\" })");
  const { page, problems } = await newWatchedPage(browser, NOTEBOOK7_OWN_ERRORS);
  await page.goto(`${lab.url}/notebooks/${name}?token=${lab.token}`);
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 90_000 });
  // Notebook 7 shows "Kernel Connecting"/"Kernel Starting" in .jp-NotebookKernelStatus until the
  // kernel is there; the toolbar's execution indicator then reads idle.
  await page.waitForFunction(
    () =>
      document.querySelector(".jp-Notebook-ExecutionIndicator")?.getAttribute("data-status") === "idle" &&
      !/Connecting|Starting|Restarting/i.test(document.querySelector(".jp-NotebookKernelStatus")?.textContent ?? ""),
    undefined,
    { timeout: 90_000, polling: 200 },
  );
  await waitKernelIdle(page, 90_000);
  return { page, problems };
}

/** A page error of Notebook 7 itself (7.6.5, seen on a notebook with no widget at all): while the
 * page loads, its keyboard-shortcuts plugin handles a settings change of
 * `@jupyterlab/docmanager-extension:plugin` before that plugin's schema is loaded and reads
 * `.schema` of undefined, in notebook_core.js. Only this exact error, thrown from that file, is set
 * apart (in `problems.ignored`); any other page error still counts. */
const NOTEBOOK7_OWN_ERRORS = [{ message: "Cannot read properties of undefined (reading 'schema')", file: /\/static\/notebook\/notebook_core\./ }];

async function newWatchedPage(browser: Browser, known: { message: string; file: RegExp }[] = []): Promise<{ page: Page; problems: PageProblems }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems: PageProblems = { errors: [], ignored: [] };
  page.on("pageerror", (err) => {
    const topFrame = (err.stack ?? "").split("\n").find((line) => /^\s+at /.test(line)) ?? "";
    const own = known.some((k) => err.message === k.message && k.file.test(topFrame));
    (own ? problems.ignored : problems.errors).push(`pageerror: ${err.message}${own ? ` ${topFrame.trim()}` : ""}`);
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.errors.push(`console.error: ${msg.text()} (${msg.location().url})`);
  });
  return { page, problems };
}

/** The id of the kernel of the session running notebook `name` (Jupyter REST API: GET /api/sessions). */
export async function kernelId(lab: Lab, name: string): Promise<string> {
  const res = await fetch(`${lab.url}/api/sessions`, { headers: { Authorization: `token ${lab.token}` } });
  assert.ok(res.ok, `GET /api/sessions: ${res.status}`);
  const sessions = (await res.json()) as { path: string; kernel: { id: string } | null }[];
  const session = sessions.find((s) => s.path === name || s.path.endsWith(`/${name}`));
  assert.ok(session?.kernel, `no kernel session for ${name}: ${JSON.stringify(sessions.map((s) => s.path))}`);
  return session.kernel.id;
}

/** Interrupt the kernel of notebook `name` (POST /api/kernels/{id}/interrupt), as the toolbar's ■ does. */
export async function interruptKernel(lab: Lab, name: string): Promise<void> {
  const id = await kernelId(lab, name);
  const res = await fetch(`${lab.url}/api/kernels/${id}/interrupt`, { method: "POST", headers: { Authorization: `token ${lab.token}` } });
  assert.ok(res.ok, `POST /api/kernels/${id}/interrupt: ${res.status} ${await res.text()}`);
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

/** Register before/after hooks that start one JupyterLab (or Notebook 7 with `{ app: "notebook" }`)
 * and one browser for a test file. */
export function labSession(options: { app?: JupyterApp } = {}): { lab(): Lab; browser(): Browser } {
  let lab: Lab | undefined;
  let browser: Browser | undefined;
  test.before(async () => {
    lab = await startLab(options);
    browser = await launchBrowser();
  });
  test.after(async () => {
    await browser?.close();
    await lab?.stop();
  });
  return {
    lab: () => lab ?? assert.fail("the Jupyter server did not start"),
    browser: () => browser ?? assert.fail("the browser did not start"),
  };
}

/**
 * Where a test's screenshot for the README goes: `docs/<name>` when SENTRYCAM_DOCS=1 (refreshing
 * the README's pictures on purpose), else nowhere (the screenshot is still taken, so the test still
 * checks that it can be): a test run never rewrites a tracked file.
 */
export function docsScreenshot(name: string): string | undefined {
  return process.env.SENTRYCAM_DOCS === "1" ? path.join(ROOT, "docs", name) : undefined;
}
