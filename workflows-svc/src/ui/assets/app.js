// The dashboard's one script: live regions from the server's event stream, relative times and
// retry countdowns, and the buttons and forms, which call the JSON API itself.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content;

/** A message in the corner, announced to screen readers; an error stays longer. */
function toast(html, bad) {
  const box = document.querySelector("[data-toast]");
  if (!box) return;
  box.innerHTML = html;
  box.classList.toggle("bad", !!bad);
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), bad ? 20000 : 8000);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Calls the API as the page's user: JSON in and out, the CSRF token when signed in. */
async function api(url, method, body) {
  const headers = { accept: "application/json" };
  if (csrf) headers["x-csrf-token"] = csrf;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
  return { ok: response.ok, status: response.status, json, text };
}

function failure(result) {
  const message = result.status === 401
    ? "Your session has ended: reload the page to sign in again."
    : result.json?.message ?? (result.text || `HTTP ${result.status}`);
  toast(escapeHtml(message), true);
}

// --- Times: "in 5s", "3m ago", and countdowns that reach "due". ---
function span(seconds) {
  const s = Math.abs(Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

function refreshTimes() {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[data-relative]")) {
    const seconds = (Date.parse(el.dateTime) - now) / 1000;
    el.textContent = Math.abs(seconds) < 1 ? "now" : seconds > 0 ? `in ${span(seconds)}` : `${span(seconds)} ago`;
  }
  for (const el of document.querySelectorAll("time[data-countdown]")) {
    const seconds = Math.ceil((Date.parse(el.dateTime) - now) / 1000);
    el.textContent = seconds > 0 ? `${el.dataset.countdown} in ${seconds}s` : `${el.dataset.countdown} due now`;
  }
}

// --- Live regions. ---
function showPauseState() {
  const summary = document.querySelector("[data-paused]");
  if (!summary) return;
  const paused = summary.dataset.paused === "true";
  for (const b of document.querySelectorAll("[data-pause]")) b.hidden = paused;
  for (const b of document.querySelectorAll("[data-resume]")) b.hidden = !paused;
}

/** Replaces a region's content, keeping what the reader had: which <details> were open, how
 *  far each scrolling region was scrolled, and the focus when it was on a link in it. */
function swap(region, html) {
  const open = new Map([...region.querySelectorAll("details[data-key]")].map((d) => [d.dataset.key, d.open]));
  const scrolled = new Map([...region.querySelectorAll(".scroll[aria-label]")].map((e) => [e.getAttribute("aria-label"), e.scrollLeft]));
  const focused = region.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
  region.innerHTML = html;
  for (const d of region.querySelectorAll("details[data-key]")) {
    if (open.has(d.dataset.key)) d.open = open.get(d.dataset.key);
  }
  for (const e of region.querySelectorAll(".scroll[aria-label]")) {
    const left = scrolled.get(e.getAttribute("aria-label"));
    if (left) e.scrollLeft = left;
  }
  if (focused) region.querySelector(`[href="${CSS.escape(focused)}"]`)?.focus();
}

/** The live stream, open while the tab is visible (a hidden tab holds no connection). */
function connect() {
  const url = document.body.dataset.live;
  if (!url || !window.EventSource) return;
  const status = document.querySelector("[data-connection]");
  const say = (text) => { if (status) status.textContent = text; };
  let source = null;
  let gone = false;
  const open = () => {
    if (source || gone) return;
    source = new EventSource(url);
    source.addEventListener("fragments", (event) => {
      for (const { id, html } of JSON.parse(event.data)) {
        const region = document.querySelector(`[data-fragment="${CSS.escape(id)}"]`);
        if (region) swap(region, html);
      }
      showPauseState();
      refreshTimes();
      say("");
    });
    source.addEventListener("trouble", (event) => say(event.data));
    source.addEventListener("gone", (event) => {
      gone = true;
      close();
      say(event.data);
    });
    source.addEventListener("open", () => say(""));
    source.addEventListener("error", () => {
      // Closed for good (signed out, say) or trying again.
      say(source?.readyState === EventSource.CLOSED
        ? "Live updates stopped: reload the page."
        : "Live updates paused; reconnecting…");
    });
  };
  const close = () => {
    source?.close();
    source = null;
  };
  document.addEventListener("visibilitychange", () => (document.hidden ? close() : open()));
  if (!document.hidden) open();
}

// --- Buttons and forms. ---
async function onCall(button) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  try {
    const method = button.dataset.method ?? "POST";
    const result = await api(button.dataset.call, method, method === "DELETE" ? undefined : {});
    if (!result.ok) return failure(result);
    if (button.dataset.then) return window.location.assign(button.dataset.then);
    if (result.json && "paused" in result.json) {
      const summary = document.querySelector("[data-paused]");
      if (summary) summary.dataset.paused = String(result.json.paused);
      showPauseState();
      // The pressed button is hidden now: the focus goes to the one that undoes it.
      document.querySelector(result.json.paused ? "[data-resume]" : "[data-pause]")?.focus();
      toast(result.json.paused ? "Paused." : "Resumed.");
    }
  } catch (err) {
    toast(escapeHtml(`The request did not reach the API: ${err.message}`), true);
  } finally {
    button.disabled = false;
  }
}

/** The trigger's input from the form: empty fields take their defaults. */
function readInputs(form) {
  const input = {};
  for (const field of form.querySelectorAll("[data-type]")) {
    const raw = field.value.trim();
    if (raw === "") continue;
    const type = field.dataset.type;
    try {
      if (type === "string") input[field.name] = raw;
      else if (type === "integer" || type === "number") input[field.name] = Number(raw);
      else input[field.name] = JSON.parse(raw);
    } catch {
      throw new Error(`Input ${field.name} is not valid JSON.`);
    }
  }
  return input;
}

async function onTrigger(form) {
  const button = form.querySelector('button[type="submit"]');
  let body;
  try {
    const input = readInputs(form);
    body = Object.keys(input).length ? { input } : {};
  } catch (err) {
    return toast(escapeHtml(err.message), true);
  }
  button.disabled = true;
  try {
    const result = await api(form.dataset.trigger, "POST", body);
    if (!result.ok) return failure(result);
    const id = result.json.executionId;
    toast(`Triggered: <a href="/ui/executions/${encodeURIComponent(id)}">execution ${escapeHtml(id.slice(-8))}</a> is ${escapeHtml(result.json.status)}.`);
  } catch (err) {
    toast(escapeHtml(`The request did not reach the API: ${err.message}`), true);
  } finally {
    button.disabled = false;
  }
}

async function onSignIn(form) {
  const error = form.querySelector("[data-sign-in-error]");
  const result = await api("/ui/session", "POST", { token: form.elements.token.value });
  if (result.ok) return window.location.reload();
  error.textContent = result.status === 401 ? "That is not this API's token." : (result.json?.message ?? `HTTP ${result.status}`);
}

document.addEventListener("click", (event) => {
  const call = event.target.closest("button[data-call]");
  if (call) onCall(call);
  if (event.target.closest("[data-sign-out]")) {
    api("/ui/session", "DELETE").then(() => window.location.assign("/ui"));
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.matches("form[data-trigger]")) {
    event.preventDefault();
    onTrigger(form);
  } else if (form.matches("form[data-sign-in]")) {
    event.preventDefault();
    onSignIn(form);
  }
});

showPauseState();
refreshTimes();
setInterval(refreshTimes, 1000);
connect();
