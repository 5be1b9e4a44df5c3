// The learning loop's pages in a real browser: the dashboard's server-drawn charts and
// task table, an admin promoting a task from its page (and the rubric floor's refusal
// shown on the page), and a reviewer working the spot-check queue.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, clientReply, CHROMIUM, SHOTS, signIn } from "./harness.mjs";

let server, browser, keys;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  keys = {
    agent: await server.key("agent", "sales-bot"),
    opsBot: await server.key("agent", "ops-bot"),
    ana: await server.key("reviewer", "ana"),
    oz: await server.key("reviewer", "oz"),
  };
  mkdirSync(SHOTS, { recursive: true });
  // Some decisions for the charts: approvals unchanged, an edit, a rejection.
  for (let i = 0; i < 5; i++) {
    const id = await server.submit(keys.agent, clientReply({ client: `Client ${i}` }));
    const body = i === 3
      ? { action: "edit", draft: "Dear client,\n\nthe invoice copy for March is attached.\n\nKind regards" }
      : i === 4 ? { action: "reject", rationale: "wrong invoice number" } : { action: "approve" };
    await server.api("POST", `/v1/handoffs/${id}/decisions`, keys.ana, body);
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const signedIn = (key, options = {}) => signIn(browser, server.url, key, options);

/// Whether the page fits the window's width (throws naming the overflow when not).
async function noSidewaysScroll(page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${page.url()} scrolls sideways by ${overflow}px`);
  return true;
}

/// The active policy with `[learning] spot_check_rate` set, through `PUT /v1/policy`.
async function setSpotCheckRate(rate) {
  const headers = { Authorization: `Bearer ${server.adminKey}` };
  const toml = await (await fetch(server.url + "/v1/policy", { headers })).text();
  const changed = toml.replace(/spot_check_rate = [0-9.]+/, `spot_check_rate = ${rate}`);
  assert.notEqual(changed, toml);
  const res = await fetch(server.url + "/v1/policy", {
    method: "PUT", headers: { ...headers, "Content-Type": "application/toml" }, body: changed,
  });
  assert.equal(res.status, 200, await res.text());
}

test("the dashboard draws a chart per KPI on the server and the per-task table", async () => {
  const { context, page } = await signedIn(server.adminKey, { viewport: { width: 1280, height: 900 } });
  const scripts = [];
  page.on("request", (r) => { if (r.resourceType() === "script") scripts.push(r.url()); });
  await page.goto("/dashboard");
  const charts = page.locator("figure.chart svg[role=img]");
  assert.equal(await charts.count(), 6);
  for (const id of ["kpi-decisions", "kpi-unchanged", "kpi-escalation", "kpi-sla", "kpi-rollback", "kpi-incidents"]) {
    const svg = page.locator(`#${id} svg`);
    const label = await svg.getAttribute("aria-labelledby");
    assert.equal(label, `${id}-t ${id}-d`);
    assert.ok((await page.locator(`#${id}-t`).textContent()).length > 0);
  }
  // Today's five decisions: a bar of unchanged approvals and one of the others.
  const bars = await page.locator("#kpi-decisions rect.bar title").allTextContents();
  assert.ok(bars.some((t) => / 3 approved unchanged$/.test(t)), bars.join("\n"));
  assert.ok(bars.some((t) => / 2 edited, rejected or taken over$/.test(t)), bars.join("\n"));
  const box = await page.locator("#kpi-unchanged svg").boundingBox();
  assert.ok(box.width > 300 && box.height > 80, JSON.stringify(box));
  // The task table: the client replies' evidence, linked to the task's page.
  const row = page.locator("#task-table tr", { has: page.locator("a[href='/tasks/respond_to_client_inquiry']") });
  const text = await row.innerText();
  assert.match(text, /3 of 5 \(60%; 95% interval/);
  assert.match(text, /fewer than the 30 required/);
  assert.equal(scripts.length, 0, `no script on the dashboard: ${scripts}`);
  await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
  // The numbers as text, under each chart.
  await page.click("#kpi-unchanged details summary");
  assert.match(await page.locator("#kpi-unchanged table").innerText(), /60%/);
  // 390 px: nothing sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/dashboard?window=7d");
  assert.ok(await noSidewaysScroll(page));
  await context.close();
});

test("an admin promotes a task from its page, and a rubric floor's refusal is shown there", async () => {
  const { context, page } = await signedIn(server.adminKey, { viewport: { width: 1280, height: 900 } });
  await page.goto("/dashboard");
  await Promise.all([page.waitForURL("**/tasks/report_data_anomaly"), page.click("a[href='/tasks/report_data_anomaly']")]);
  assert.match(await page.locator("#task-level").innerText(), /^2 · draft & review/);
  assert.equal(await page.locator("#level-submit").innerText(), "Promote to level 1 (autonomous)");
  // The reason is required: the browser holds the form.
  await page.click("#level-submit");
  assert.equal(page.url(), server.url + "/tasks/report_data_anomaly");
  await page.fill("#level-reason", "noise reports were right for a month");
  await Promise.all([page.waitForNavigation(), page.click("#level-submit")]);
  assert.match(await page.locator(".flash").innerText(), /^Promoted report_data_anomaly to level 1 · autonomous \(from 2\)/);
  assert.match(await page.locator("#task-level").innerText(), /1 · autonomous \(policy file: 2\)/);
  assert.match(await page.locator("#last-change").innerText(), /promoted from level 2 to 1 by admin .*noise reports were right/);
  assert.match(await page.locator("#level-submit").innerText(), /^Demote to level 2/);
  const stats = await server.api("GET", "/v1/stats?task=report_data_anomaly", server.adminKey);
  assert.equal(stats.tasks[0].level, 1);
  // A task whose rubric floor is level 2: warned before, refused with a 409 on the page.
  await page.goto("/tasks/respond_to_client_inquiry");
  assert.match(await page.locator("#floor").innerText(), /will be refused/);
  await page.locator("#level-reason").fill("let us try anyway");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/tasks/respond_to_client_inquiry/level")),
    page.click("#level-submit"),
  ]);
  assert.equal(response.status(), 409);
  await page.waitForLoadState("load");
  assert.match(await page.locator("#level-error").innerText(),
    /^Not changed: respond_to_client_inquiry cannot go below level 2: task rubric floor/);
  assert.equal(await page.inputValue("#level-reason"), "let us try anyway");
  assert.match(await page.locator("#task-level").innerText(), /^2 · draft & review/);
  await page.screenshot({ path: join(SHOTS, "task.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/tasks/report_data_anomaly");
  assert.ok(await noSidewaysScroll(page));
  await context.close();
});

test("a reviewer checks a sampled autonomous item from the queue and it is gone", async () => {
  await setSpotCheckRate(1.0);
  const ticket = (summary, tag, queue, note) => ({
    task: "categorize_support_ticket", summary, confidence: 0.97, draft: { tag, queue, note },
  });
  const first = await server.submit(keys.opsBot,
    ticket("Tag ticket #4411 (double charge) as billing", "billing", "finance", "Customer asks about a double charge"));
  const second = await server.submit(keys.opsBot,
    ticket("Tag ticket #4412 (password reset) as account", "account", "support", "Reset link expired twice"));
  assert.equal((await server.get(keys.oz, first)).status, "approved");
  const { context, page } = await signedIn(keys.oz, { viewport: { width: 1280, height: 900 } });
  assert.match(await page.locator("#spot-due").innerText(), /2 waiting for a spot check/);
  await Promise.all([page.waitForURL("**/spot-checks"), page.click("#spot-due a")]);
  const items = page.locator("li.spot-item");
  assert.equal(await items.count(), 2);
  assert.equal(await items.first().getAttribute("data-id"), first, "oldest first");
  const item = page.locator(`li.spot-item[data-id="${first}"]`);
  assert.match(await item.locator("dl.kv").innerText(), /queue\s+finance/);
  await page.screenshot({ path: join(SHOTS, "spot-checks.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await noSidewaysScroll(page));
  await page.setViewportSize({ width: 1280, height: 900 });
  await item.locator("textarea").fill("it belongs in the refunds queue");
  await Promise.all([page.waitForURL("**/spot-checks"), item.getByRole("button", { name: "Would have changed" }).click()]);
  assert.match(await page.locator(".flash").innerText(), new RegExp(`^Checked ${first} .*would have changed it`));
  assert.equal(await page.locator(`li.spot-item[data-id="${first}"]`).count(), 0);
  assert.equal(await page.locator(`li.spot-item[data-id="${second}"]`).count(), 1);
  const h = await server.get(keys.oz, first);
  assert.equal(h.spot_check.verdict, "would_change");
  assert.equal(h.spot_check.note, "it belongs in the refunds queue");
  // The handoff's page says how it was checked.
  await page.goto(`/handoffs/${first}`);
  assert.match(await page.locator("#spot-check").innerText(), /^Spot-checked: would have changed it \(oz, .*“it belongs in the refunds queue”/);
  await context.close();
});
