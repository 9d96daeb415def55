// The dashboard as an operator uses it, in a real browser: workflows created through the API,
// triggered, paused and resumed from the page, executions watched as they run, without reloading.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, inspect, launch, startApp, startSink, watchErrors } from "./support.mjs";

let app, sink, browser;

before(async () => {
  [app, sink, browser] = await Promise.all([startApp(), startSink(), launch()]);
});

after(async () => {
  await browser?.close();
  sink?.stop();
  await app?.stop();
});

/** Marks the document; the mark survives only if the page is never reloaded. */
async function markDocument(page) {
  await page.evaluate(() => (window.notReloaded = true));
  return async () => assert.equal(await page.evaluate(() => window.notReloaded), true, "the page was reloaded");
}

test("a workflow triggered from its page is seen succeeding live, and its execution shows each step and the timeline", { timeout: 90000 }, async () => {
  const created = await app.api("POST", "/workflows", {
    workflowId: "greeting",
    trigger: { type: "manual" },
    inputs: { who: { type: "string", default: "world" }, times: { type: "integer", default: 1 } },
    actions: [
      { id: "fetch", type: "http-request", method: "POST", url: `${sink.url}/ok`, body: { who: "{{ inputs.who }}" } },
      { id: "greet", type: "log", message: "hello {{ inputs.who }}" },
    ],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${app.base}/ui`);
  const row = page.locator('tr[data-workflow="greeting"]');
  await row.waitFor();
  assert.match(await row.textContent(), /manual/);
  assert.match(await row.textContent(), /never ran/);
  await inspect(page, "workflows");

  await row.getByRole("link", { name: "greeting" }).click();
  await page.waitForURL(/\/ui\/workflows\/greeting$/);
  assert.equal(await page.locator("svg.graph [data-step]").count(), 2, "both steps drawn");
  const notReloaded = await markDocument(page);
  await page.getByLabel(/^who/).fill("tester");
  await page.getByRole("button", { name: "Trigger now" }).click();
  await page.locator("[data-toast]", { hasText: "Triggered" }).waitFor();

  // The history updates in place, through the live stream, until the run has succeeded.
  const newest = page.locator("#live-history tbody tr").first();
  await newest.locator(".badge", { hasText: "succeeded" }).waitFor({ timeout: 20000 });
  await notReloaded();
  const posted = sink.received.filter((r) => r.url === "/ok");
  assert.equal(posted.length, 1);
  assert.deepEqual(JSON.parse(posted[0].body), { who: "tester" });
  await inspect(page, "workflow");

  await newest.getByRole("link").click();
  await page.waitForURL(/\/ui\/executions\//);
  for (const step of ["fetch", "greet"]) {
    await page.locator(`article[data-step="${step}"][data-status="succeeded"]`).waitFor();
    assert.equal(await page.locator(`svg.graph .node.s-succeeded[data-step="${step}"]`).count(), 1);
  }
  const fetchStep = page.locator('article[data-step="fetch"]');
  assert.match(await fetchStep.textContent(), new RegExp(`POST ${sink.url}/ok`));
  assert.match(await fetchStep.textContent(), /HTTP 200/);
  assert.equal(await page.locator("svg.gantt g.row").count(), 2, "a timeline row per step");
  assert.equal(await page.locator("svg.gantt rect.bar").count(), 2, "a bar per step that ran");
  assert.match(await page.locator("dl.summary").textContent(), /succeeded/);
  await inspect(page, "execution");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a failing step shows its error and the retry countdown, then the execution fails", { timeout: 90000 }, async () => {
  await app.api("POST", "/workflows", {
    workflowId: "flaky",
    trigger: { type: "manual" },
    retry: { maxAttempts: 2, initialDelay: "6s", jitter: 0 },
    actions: [
      { id: "prepare", type: "log", message: "about to call" },
      { id: "call", type: "http-request", url: `${sink.url}/fail` },
    ],
  });
  const accepted = await app.api("POST", "/workflows/flaky/trigger", {});
  assert.equal(accepted.status, 202);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${app.base}/ui/executions/${accepted.body.executionId}`);
  const notReloaded = await markDocument(page);

  const call = page.locator('article[data-step="call"][data-status="failed"]');
  await call.waitFor({ timeout: 20000 });
  assert.match(await call.locator(".error").textContent(), /500/);
  const countdown = page.locator("time[data-countdown]");
  await countdown.waitFor();
  assert.match(await countdown.textContent(), /^retry (in [1-6]s|due now)$/);
  assert.equal(await page.locator("svg.graph .node.s-failed").count(), 1, "the failed step stands out in the graph");
  assert.equal(await page.locator("svg.gantt line.retry").count(), 1, "the next attempt is on the timeline");
  await inspect(page, "execution-retrying");

  await page.locator("dl.summary .badge", { hasText: "failed" }).waitFor({ timeout: 20000 });
  await notReloaded();
  assert.equal(await page.locator("time[data-countdown]").count(), 0);
  assert.match(await page.locator('article[data-step="call"]').textContent(), /Attempts\s*2/);
  assert.equal(await page.locator("svg.gantt rect.earlier").count(), 1, "the first attempt stays on the timeline");
  const execution = await app.api("GET", `/executions/${accepted.body.executionId}`);
  assert.equal(execution.body.status, "failed");
  assert.equal(execution.body.attempt, 2);
  assert.equal(sink.received.filter((r) => r.url === "/fail").length, 2);
  await inspect(page, "execution-failed");
  assert.deepEqual(errors, []);
  await page.close();
});

test("pause, resume and delete from the page change what the API reports", { timeout: 60000 }, async () => {
  await app.api("POST", "/workflows", {
    workflowId: "hourly-report",
    trigger: { type: "periodic", interval: "1h" },
    actions: [{ type: "log", message: "report" }],
  });
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${app.base}/ui/workflows/hourly-report`);
  const paused = async () => (await app.api("GET", "/workflows/hourly-report")).body.paused;

  await page.getByRole("button", { name: "Pause" }).click();
  await eventually(paused, "the API to report the workflow paused");
  await page.getByRole("button", { name: "Resume" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Pause" }).isVisible(), false);
  await page.locator("dl.summary .badge", { hasText: "paused" }).waitFor();

  // The list's paused filter finds it while it is paused.
  const list = await browser.newPage();
  await list.goto(`${app.base}/ui?status=paused`);
  assert.deepEqual(await list.locator("tr[data-workflow]").evaluateAll((rows) => rows.map((r) => r.dataset.workflow)), ["hourly-report"]);
  await list.close();

  await page.getByRole("button", { name: "Resume" }).click();
  await eventually(async () => (await paused()) === false, "the API to report the workflow resumed");
  await page.getByRole("button", { name: "Pause" }).waitFor();
  await page.locator("dl.summary .badge", { hasText: "idle" }).waitFor();

  // Delete asks first; a dismissed question deletes nothing.
  const asked = [];
  page.once("dialog", (dialog) => asked.push(dialog.message()) && dialog.dismiss());
  await page.getByRole("button", { name: "Delete" }).click();
  assert.match(asked[0] ?? "", /Delete the workflow hourly-report\?/);
  assert.equal((await app.api("GET", "/workflows/hourly-report")).status, 200);
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/ui$/);
  assert.equal((await app.api("GET", "/workflows/hourly-report")).status, 404);
  assert.equal(await page.locator('tr[data-workflow="hourly-report"]').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test("the list filters by search, and a bad filter is a page that says which", { timeout: 60000 }, async () => {
  for (const id of ["billing-sync", "Nightly-Billing", "orders"]) {
    await app.api("POST", "/workflows", { workflowId: id, trigger: { type: "manual" }, actions: [{ type: "log", message: "x" }] });
  }
  const page = await browser.newPage();
  await page.goto(`${app.base}/ui`);
  await page.getByLabel("Search by id").fill("BILLING");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/q=BILLING/);
  const ids = await page.locator("tr[data-workflow]").evaluateAll((rows) => rows.map((r) => r.dataset.workflow));
  assert.deepEqual(ids, ["Nightly-Billing", "billing-sync"]);

  const response = await page.goto(`${app.base}/ui?status=sleeping`);
  assert.equal(response.status(), 400);
  assert.match(await page.locator("[role=alert]").textContent(), /status filter is `sleeping`/);
  const missing = await page.goto(`${app.base}/ui/workflows/no-such-flow`);
  assert.equal(missing.status(), 404);
  await page.close();
});
