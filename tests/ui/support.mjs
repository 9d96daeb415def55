// What the browser tests share: the product started as a user starts it (the `wfa` binary on a
// private SQLite file and a random port), a real HTTP sink, Debian's chromium driven by
// playwright-core, axe-core's accessibility check, and screenshots at desktop and phone size.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(root, "target");
export const SCREENSHOTS = join(target, "ui-screenshots");
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Starts `wfa` with the fast settings the Rust e2e tests use; resolves once it answers. */
export async function startApp({ token } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "wfa-ui-"));
  const port = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: `sqlite://${join(dir, "wfa.db")}`,
    HTTP_ADDR: `127.0.0.1:${port}`,
    POLL_INTERVAL: "50ms",
    LEASE_DURATION: "2s",
    REQUEUE_AFTER: "2s",
    SHUTDOWN_GRACE: "2s",
    RUST_LOG: "warn",
  };
  delete env.KAFKA_BROKERS;
  delete env.WFA_API_TOKEN;
  if (token) env.WFA_API_TOKEN = token;
  const bin = process.env.WFA_BIN ?? join(target, "debug", "wfa");
  const child = spawn(bin, [], { env, stdio: ["ignore", "ignore", "inherit"] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${bin} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch { /* not listening yet */ }
    if (i > 300) throw new Error(`${bin} did not become ready`);
    await sleep(50);
  }
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const call = async (method, path, body) => {
    const response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  return {
    base,
    api: call,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((done) => (child.exitCode !== null ? done() : child.once("exit", done)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real HTTP sink: `/ok` answers 200 with JSON, `/fail` 500; every request is kept. */
export async function startSink() {
  const received = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, body });
      if (req.url.startsWith("/fail")) {
        res.writeHead(500, { "content-type": "text/plain" }).end("boom from the sink");
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, path: req.url }));
      }
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${server.address().port}`, received, stop: () => server.close() };
}

/** Serves one page of HTML on another origin (`localhost`, not `127.0.0.1`): a hostile site. */
export async function startSite(html) {
  const server = createServer((req, res) => res.writeHead(200, { "content-type": "text/html" }).end(html));
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://localhost:${server.address().port}/`, stop: () => server.close() };
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"],
  });
}

/** Fails the test on any script error of the page. */
export function watchErrors(page) {
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

/** axe-core on the page as it is: no serious or critical violation. */
export async function assertAccessible(page, what) {
  // Evaluated through the driver, as the page's own Content-Security-Policy refuses injected
  // script tags.
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`),
    [],
    `${what}: accessibility violations`,
  );
}

/** The page at desktop and at phone size: screenshots of each, axe on each, and nothing wider
 *  than a phone's screen (tables scroll inside their own region). */
export async function inspect(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const [size, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(viewport);
    await assertAccessible(page, `${name} (${size})`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} (${size}) is ${overflow}px wider than the screen`);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

export function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/** Waits until `check` resolves truthy (polling the API, say). */
export async function eventually(check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}
