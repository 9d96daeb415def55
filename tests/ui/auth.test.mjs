// The dashboard of an API with a token: it asks for the token once, shows nothing of the store
// before, keeps the token in a cookie scripts cannot read, and a page of another site cannot
// make the signed-in browser change anything.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { inspect, launch, sleep, startApp, startSite, watchErrors } from "./support.mjs";

const TOKEN = "ui-test-token-0123456789abcdef";
let app, browser;

before(async () => {
  [app, browser] = await Promise.all([startApp({ token: TOKEN }), launch()]);
  const created = await app.api("POST", "/workflows", {
    workflowId: "private-payroll",
    trigger: { type: "manual" },
    actions: [{ type: "log", message: "pay" }],
  });
  assert.equal(created.status, 201);
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

test("without the cookie the dashboard asks for the token and shows nothing of the store", { timeout: 60000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  for (const path of ["/ui", "/ui/workflows/private-payroll", "/ui?q=payroll"]) {
    const response = await page.goto(app.base + path);
    assert.equal(response.status(), 401, path);
    await page.getByLabel("API token").waitFor();
    assert.doesNotMatch(await page.content(), /payroll/, `${path} leaks the workflow`);
  }
  for (const path of ["/ui/live", "/ui/workflows/private-payroll/live", "/workflows", "/workflows/private-payroll"]) {
    const response = await page.request.get(app.base + path);
    assert.equal(response.status(), 401, path);
    assert.doesNotMatch(await response.text(), /payroll/, path);
  }
  await inspect(page, "sign-in");

  await page.getByLabel("API token").fill("not-the-token");
  assert.equal(await page.locator("[data-sign-in-error]").isVisible(), false, "no error before trying");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("[data-sign-in-error]", { hasText: "not this API's token" }).waitFor();
  assert.equal((await context.cookies()).length, 0);
  await context.close();
});

test("signed in, the page works and a cross-site request with the cookie changes nothing", { timeout: 60000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${app.base}/ui`);
  await page.getByLabel("API token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('tr[data-workflow="private-payroll"]').waitFor();
  const [cookie] = await context.cookies();
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Lax");
  assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read the token");

  // The page's own buttons work: the trigger carries the CSRF token.
  await page.goto(`${app.base}/ui/workflows/private-payroll`);
  await page.getByRole("button", { name: "Trigger now" }).click();
  await page.locator("[data-toast]", { hasText: "Triggered" }).waitFor();
  const history = async () => (await app.api("GET", "/workflows/private-payroll/executions")).body.items.length;
  assert.equal(await history(), 1);

  // A hostile page, visited in the same browser, posts a form and a no-cors fetch at the API.
  const target = `${app.base}/workflows/private-payroll`;
  const site = await startSite(`<!doctype html><title>cute cats</title>
    <iframe name="sink"></iframe>
    <form id="f" method="POST" action="${target}/trigger" enctype="text/plain" target="sink">
      <input name='{"input":{},"x":"' value='"}'></form>
    <script>
      fetch("${target}/pause", { method: "POST", mode: "no-cors", credentials: "include", body: "{}" })
        .finally(() => { document.getElementById("f").submit(); window.done = true; });
    </script>`);
  const evil = await context.newPage();
  const refused = [];
  evil.on("response", (r) => r.url().startsWith(target) && refused.push(`${r.request().method()} ${r.url().slice(target.length)} ${r.status()}`));
  await evil.goto(site.url);
  await evil.waitForFunction(() => window.done === true);
  for (let i = 0; i < 50 && refused.length < 2; i++) await sleep(100);
  await evil.close();
  // Both requests reached the API, and it refused them: its cross-site guard does (the Lax
  // cookie is not even sent); the CSRF check is exercised below, with the cookie.
  assert.deepEqual(refused.sort(), ["POST /pause 403", "POST /trigger 403"]);
  site.stop();
  assert.equal(await history(), 1, "the cross-site form triggered nothing");
  assert.equal((await app.api("GET", "/workflows/private-payroll")).body.paused, false, "the cross-site fetch paused nothing");

  // The cookie without the page's CSRF token authorises reads, not changes.
  const cookieHeader = `${cookie.name}=${cookie.value}`;
  const read = await fetch(target, { headers: { cookie: cookieHeader } });
  assert.equal(read.status, 200);
  const change = await fetch(`${target}/pause`, { method: "POST", headers: { cookie: cookieHeader } });
  assert.equal(change.status, 403);
  assert.equal((await change.json()).error, "csrf_token_missing");
  assert.equal((await app.api("GET", "/workflows/private-payroll")).body.paused, false);

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API token").waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test("the sign-in form works without the page's script, and keeps the token out of the URL", { timeout: 60000 }, async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${app.base}/ui`);
  await page.getByLabel("API token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("[data-sign-in-error]", { hasText: "not this API's token" }).waitFor();
  await page.getByLabel("API token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('tr[data-workflow="private-payroll"]').waitFor();
  assert.equal(new URL(page.url()).search, "", "the token never reaches the address bar");
  const [cookie] = await context.cookies();
  assert.doesNotMatch(decodeURIComponent(cookie.value), new RegExp(TOKEN), "the cookie is a session, not the token");
  await context.close();
});
