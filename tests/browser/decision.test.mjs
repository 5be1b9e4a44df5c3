// The decision page (issue #11): a quick scan that never approves what the reviewer did
// not see. Keys act only on what has been on screen for a moment; alerts look like
// alarms; every viewer sees what an edit changed; a change by someone else disables the
// buttons; nothing scrolls sideways at 390 px.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, startServer, clientReply, CHROMIUM, SHOTS, signIn } from "./harness.mjs";


let server, browser, keys;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  keys = {
    agent: await server.key("agent", "sales-bot"),
    ana: await server.key("reviewer", "ana"),
    fay: await server.key("reviewer", "fay"),
    finn: await server.key("reviewer", "finn"),
    sam: await server.key("reviewer", "sam"),
    dan: await server.key("reviewer", "dan"),
  };
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/// A fresh browser context signed in with `key` (on the server of the moment).
const signedIn = (key, options = {}) => signIn(browser, server.url, key, options);

/// Waits until the page's shortcuts act (the item has been on screen for a moment).
async function armed(page) {
  await page.waitForFunction(() => document.querySelector("article.handoff[data-keys=armed]"), null, { polling: "raf", timeout: 5000 });
}

function purchase(overrides = {}) {
  return {
    task: "make_purchase",
    subject: "40 laptops",
    summary: "Orders 40 laptops for the new office from the usual supplier.",
    draft: { supplier: "Contoso", items: 40, total: "48000 EUR" },
    context: { amount: 48000, currency: "EUR" },
    confidence: 0.95,
    ...overrides,
  };
}

function alarm(overrides = {}) {
  return {
    task: "report_data_anomaly",
    subject: "Payments",
    summary: "Refund volume tripled in the last hour from 3 new accounts.",
    flags: ["possible fraud"],
    confidence: 0.9,
    ...overrides,
  };
}

test("a key pressed as a page appears does nothing; `a` twice approves one item, named in the message", async () => {
  const first = await server.submit(keys.agent, clientReply({ client: "Invoice copy for Northwind" }));
  const second = await server.submit(keys.agent, clientReply({ client: "Second question" }));
  const { context, page } = await signedIn(keys.ana);
  await page.goto(`/handoffs/${first}`);
  await page.keyboard.press("a");
  await page.waitForTimeout(300);
  assert.equal((await server.get(keys.ana, first)).status, "pending", "a key before the item was seen");
  await armed(page);
  await page.keyboard.press("a");
  await page.waitForTimeout(250);
  await page.keyboard.press("a");
  await page.waitForURL((u) => !u.pathname.endsWith(first));
  await page.waitForTimeout(1500);
  assert.equal((await server.get(keys.ana, first)).status, "approved");
  assert.equal((await server.get(keys.ana, second)).status, "pending", "the second press approved nothing");
  const landed = new URL(page.url()).pathname.match(/^\/handoffs\/(.+)$/);
  if (landed) assert.equal((await server.get(keys.ana, landed[1])).status, "pending");
  const flash = await page.locator(".flash").innerText();
  assert.match(flash, new RegExp(first));
  assert.match(flash, /respond_to_client_inquiry/);
  assert.match(flash, /Invoice copy for Northwind/);
  await context.close();
});

test("a level-4 alert is pinned red in the inbox and its page is an alarm; Acknowledge goes to the next alert or the inbox", async () => {
  const routine = await server.submit(keys.agent, clientReply());
  const id = await server.submit(keys.agent, alarm());
  const { context, page } = await signedIn(keys.sam);
  const rows = page.locator("tr[data-id]");
  assert.equal(await rows.first().getAttribute("data-id"), id, "the alert is first");
  assert.match(await rows.first().getAttribute("class"), /alarm/);
  assert.match(await rows.first().innerText(), /alert/i);
  await page.goto(`/handoffs/${id}`);
  const banner = page.locator("#alarm");
  assert.match(await banner.innerText(), /Unacknowledged for/);
  assert.match(await banner.innerText(), /every 15 minutes/);
  assert.match(await banner.innerText(), /What to do/);
  const body = await page.locator("main").innerText();
  assert.doesNotMatch(body, /decide on the draft/);
  assert.doesNotMatch(body, /No draft\./);
  assert.doesNotMatch(body, /Approvals/);
  assert.equal(await page.locator("#sla-clock").count(), 0, "no SLA countdown");
  await armed(page);
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith(id)), page.click("#acknowledge")]);
  assert.equal(new URL(page.url()).pathname, "/", "no other alert: the inbox");
  assert.match(await page.locator(".flash").innerText(), new RegExp(`Acknowledged.*${id}`));
  assert.equal((await server.get(keys.sam, id)).status, "acknowledged");
  // Acknowledged: now it is sam's to handle, and resolving needs a written outcome.
  await page.goto(`/handoffs/${id}`);
  assert.match(await page.locator("#yours").innerText(), /sam/);
  await page.click("#resolve");
  assert.ok(page.url().endsWith(`/handoffs/${id}`), "an empty outcome is not sent");
  assert.equal((await server.get(keys.sam, id)).status, "acknowledged");
  await page.fill("#resolve-rationale", "Blocked the 3 accounts; refunds reversed.");
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith(id)), page.click("#resolve")]);
  const h = await server.get(keys.sam, id);
  assert.equal(h.status, "resolved");
  assert.ok(routine);
  await context.close();
});

test("a new alert is announced in the open inbox as an alert", async () => {
  const { context, page } = await signedIn(keys.sam);
  await page.waitForTimeout(300); // the event stream connects
  await server.submit(keys.agent, alarm({ subject: "Chargebacks" }));
  await page.locator("#live.live-alarm").waitFor({ timeout: 5000 });
  assert.match(await page.locator("#live").innerText(), /^1 new level-4 alert arrived; reload to see it\.$/);
  await context.close();
});

test("a level-3 page says the agent stopped and the work is yours; resolving needs a written outcome", async () => {
  const id = await server.submit(keys.agent, { task: "delete_data", subject: "Account 88121", summary: "The customer asked for erasure of all personal data.", confidence: 0.99 });
  const { context, page } = await signedIn(keys.dan);
  await page.goto(`/handoffs/${id}`);
  const yours = await page.locator("#yours").innerText();
  assert.match(yours, /The agent stopped/);
  assert.match(yours, /team data/);
  const body = await page.locator("main").innerText();
  assert.doesNotMatch(body, /decide on the draft/);
  assert.doesNotMatch(body, /Approvals/);
  assert.equal(await page.locator("#sla-clock").count(), 0);
  assert.equal(await page.locator("#resolve-rationale[required]").count(), 1);
  // Assign to me: the page stays on it and names the owner; the button is gone.
  assert.match(await page.locator("#owner").innerText(), /nobody has taken it yet/);
  await Promise.all([page.waitForURL(server.url + `/handoffs/${id}`), page.click("#assign")]);
  assert.match(await page.locator("#owner").innerText(), /^dan \(assigned it to themselves/);
  assert.equal(await page.locator("#assign").count(), 0);
  assert.match(await page.locator("body").innerText(), /is yours now/);
  await context.close();
});

test("the second approver sees what the first one's edit changed, word by word, with the reason's values", async () => {
  const id = await server.submit(keys.agent, purchase());
  const h = await server.get(keys.fay, id);
  await server.api("POST", `/v1/handoffs/${id}/decisions`, keys.fay, {
    action: "edit", draft: { supplier: "Contoso", items: 38, total: "48000 EUR" }, rationale: "two are spare",
  });
  const { context, page } = await signedIn(keys.finn);
  await page.goto(`/handoffs/${id}`);
  await page.locator("#draft-diff").waitFor();
  assert.match(await page.locator("#diff-summary").innerText(), /^1 word changed$/);
  const dels = await page.locator("#draft-diff .del").allInnerTexts();
  const adds = await page.locator("#draft-diff .add").allInnerTexts();
  assert.equal(dels.length, 1);
  assert.equal(adds.length, 1);
  assert.match(dels[0], /"items": 40/);
  assert.match(adds[0], /"items": 38/);
  assert.deepEqual(await page.locator("#draft-diff .del mark").allInnerTexts(), ["40,"]);
  assert.deepEqual(await page.locator("#draft-diff .add mark").allInnerTexts(), ["38,"]);
  // The removed line comes first.
  const order = await page.evaluate(() => [...document.querySelectorAll("#draft-diff > div")].map((d) => d.className));
  assert.ok(order.indexOf("del") < order.indexOf("add"), order.join(","));
  // Why it is here, with the values; the task with its description.
  const why = await page.locator("#headline").innerText();
  assert.match(why, /amount EUR 48,000 > 10,000/);
  assert.match(await page.locator("h1").innerText(), /Buy goods or services on the company's account/);
  assert.equal((await page.locator("#trace").getAttribute("open")), null, "the full trace is folded");
  assert.ok(h);
  await context.close();
  // The editor herself: her edit counts as her approval, and the bar says so.
  const own = await signedIn(keys.fay);
  await own.page.goto(`/handoffs/${id}`);
  assert.equal(await own.page.locator("#approve").count(), 0);
  assert.match(await own.page.locator("#decision-bar").innerText(), /You approved this version; it needs 2 approvals in all/);
  await own.context.close();
});

test("the editor's own diff lists removals first, marks the changed words and counts words", async () => {
  const id = await server.submit(keys.agent, clientReply());
  const { context, page } = await signedIn(keys.ana);
  await page.goto(`/handoffs/${id}`);
  await page.click("#edit-box summary");
  const original = await page.inputValue("#draft-editor");
  await page.fill("#draft-editor", original.replace("Ms Fuller", "Mrs Fuller").replace("1 December", "2 December").replace("1 January", "3 January"));
  await page.click("#edit-save");
  await page.locator("#diff-box").waitFor({ state: "visible" });
  assert.match(await page.locator("#edit-save").innerText(), /\(3 words changed\)$/);
  const kinds = await page.evaluate(() => [...document.querySelectorAll("#diff > span")].map((s) => s.className).filter((k) => k !== "same"));
  assert.deepEqual(kinds, ["del", "add", "del", "add"]);
  assert.deepEqual(await page.locator("#diff .del mark").allInnerTexts(), ["Ms", "1", "1"]);
  assert.deepEqual(await page.locator("#diff .add mark").allInnerTexts(), ["Mrs", "2", "3"]);
  // Saved, the page shows every later viewer the same count.
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith(id)), page.click("#edit-save")]);
  await page.goto(`/handoffs/${id}`);
  assert.equal(await page.locator("#diff-summary").innerText(), "3 words changed");
  assert.equal(await page.locator("#sla-clock").count(), 0, "approved: no SLA countdown");
  await context.close();
});

test("hostile text in an edited draft's diff runs nothing", async () => {
  const evil = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">";
  const id = await server.submit(keys.agent, clientReply({ client: "Hostile", draft_response: `Hello ${evil}\nsecond line` }));
  await server.api("POST", `/v1/handoffs/${id}/decisions`, keys.ana, {
    action: "edit", draft: `Hello ${evil.replace("__pwned=1", "__pwned=3")} \u202Eevil\nsecond line`,
  });
  const { context, page } = await signedIn(keys.ana);
  await page.goto(`/handoffs/${id}`);
  await page.locator("#draft-diff").waitFor();
  assert.match(await page.locator("#draft-diff .add").innerText(), /<script>window.__pwned=3<\/script>/);
  assert.match(await page.locator("#draft-diff .add").innerText(), /U\+202E/);
  assert.equal(await page.locator("#draft-diff img, #draft-diff script").count(), 0);
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await context.close();
});

test("the headline reason names the confidence against the threshold", async () => {
  const id = await server.submit(keys.agent, clientReply({ confidence: 0.6 }));
  const { context, page } = await signedIn(keys.ana);
  await page.goto(`/handoffs/${id}`);
  assert.match(await page.locator("#headline").innerText(), /confidence 60% < 85%/);
  await context.close();
});

test("a change by someone else is announced next to the buttons and disables them until a reload", async () => {
  const id = await server.submit(keys.agent, purchase({ subject: "12 monitors" }));
  const { context, page } = await signedIn(keys.finn);
  await page.goto(`/handoffs/${id}`);
  await armed(page);
  await page.waitForTimeout(300); // the event stream connects
  await server.api("POST", `/v1/handoffs/${id}/decisions`, keys.fay, { action: "approve" });
  const stale = page.locator("#stale");
  await stale.waitFor({ state: "visible", timeout: 5000 });
  assert.match(await stale.innerText(), /changed by someone else.*reload to see version 2/i);
  assert.ok(await page.locator("#approve").isDisabled());
  await page.keyboard.press("a");
  await page.waitForTimeout(500);
  const h = await server.get(keys.finn, id);
  assert.equal(h.status, "pending");
  assert.equal(h.approvals.length, 1, "only fay's approval");
  await page.reload();
  await armed(page);
  assert.ok(await page.locator("#approve").isEnabled());
  await context.close();
});

test("a JSON draft reads as keys and values in the agent's order, the amount in the header", async () => {
  const id = await server.submit(keys.agent, purchase({
    draft: { supplier: "Contoso", approver_note: null, items: 40, total: 48000, currency: "EUR", image_bytes: 40802189312 },
  }));
  const { context, page } = await signedIn(keys.fay);
  await page.goto(`/handoffs/${id}`);
  const keysShown = await page.locator("#draft-fields dt").allInnerTexts();
  assert.deepEqual(keysShown, ["supplier", "approver_note", "items", "total", "currency", "image_bytes"], "as the agent wrote them");
  const values = await page.locator("#draft-fields dd").allInnerTexts();
  assert.deepEqual(values, ["Contoso", "—", "40", "EUR 48,000.00", "EUR", "38.0 GiB"]);
  assert.equal(await page.locator("#amount").innerText(), "EUR 48,000.00");
  assert.equal(await page.locator("#draft-json").getAttribute("open"), null, "the raw JSON is folded");
  await context.close();
});

test("four eyes that chose different options do not add up, and the page says who chose what", async () => {
  const id = await server.submit(keys.agent, purchase({
    options: [{ id: "a", label: "Order from Contoso" }, { id: "b", label: "Ask for a second quote" }],
  }));
  await server.api("POST", `/v1/handoffs/${id}/decisions`, keys.fay, { action: "approve", option: "b" });
  const { context, page } = await signedIn(keys.finn);
  await page.goto(`/handoffs/${id}`);
  assert.match(await page.locator("article.handoff").innerText(), /fay chose option b/);
  await armed(page);
  await page.selectOption("#approve-option", "a");
  await Promise.all([page.waitForURL(/\/(handoffs\/.+)?$/), page.click("#approve")]);
  const h = await server.get(keys.finn, id);
  assert.equal(h.status, "pending", "fay approved another course: her approval is dismissed");
  assert.deepEqual(h.approvals.map((a) => [a.by, a.option]), [["finn", "a"]]);
  await page.goto(`/handoffs/${id}`);
  assert.match(await page.locator("article.handoff").innerText(), /finn chose option a/);
  assert.doesNotMatch(await page.locator("article.handoff").innerText(), /fay chose/);
  await context.close();
});

test("the decision bar is in reach on load, wide and at 390 px", async () => {
  const long = clientReply({ draft_response: Array.from({ length: 72 }, (_, i) => `Line ${i + 1} of a long reply.`).join("\n") });
  const id = await server.submit(keys.agent, long);
  for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    const { context, page } = await signedIn(keys.ana, { viewport });
    await page.goto(`/handoffs/${id}`);
    const box = await page.locator("#approve").boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= viewport.height, `Approve at ${JSON.stringify(box)} in ${viewport.width}px`);
    assert.match(await page.locator("#draft-more summary").innerText(), /\+ 42 more lines/);
    await context.close();
  }
});

test("at 390 px the inbox is cards and no page scrolls sideways", async () => {
  const alert = await server.submit(keys.agent, alarm());
  const p = await server.submit(keys.agent, purchase());
  await server.api("POST", `/v1/handoffs/${p}/decisions`, keys.fay, {
    action: "edit", draft: { supplier: "Contoso GmbH", items: 38, total: "45600 EUR" },
  });
  for (const [key, paths] of [[keys.finn, ["/", `/handoffs/${p}`]], [keys.sam, ["/", `/handoffs/${alert}`]]]) {
    const { context, page } = await signedIn(key, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    for (const path of paths) {
      await page.goto(path);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${path} is ${width}px wide at 390`);
      if (path === "/") {
        const link = await page.locator("tr[data-id] a").first().boundingBox();
        assert.ok(link && link.x + link.width <= 390, `the first card's link at ${JSON.stringify(link)}`);
        assert.equal(await page.locator("table.inbox thead").isVisible(), false, "cards, no table header");
      }
    }
    await context.close();
  }
});

test("screenshots of the decision page (wide and 390 px), an alert, and the inbox at 390 px", async () => {
  const main = server;
  server = await startServer();
  try {
    const agent = await server.key("agent", "sales-bot");
    const fay = await server.key("reviewer", "fay");
    const finn = await server.key("reviewer", "finn");
    const sam = await server.key("reviewer", "sam");
    const id = await server.submit(agent, purchase({
      summary: "Orders 40 laptops for the new office from the usual supplier, delivered in two batches.",
      decision_needed: "Order 38 laptops from Contoso for 45,600 EUR?",
      draft: "Dear Contoso team,\n\nplease deliver 40 laptops (model X14, 16 GB) to our new office at Hafenstrasse 12.\nThe first batch of 20 is due on 3 December, the rest on 10 December.\nInvoice total: 48,000 EUR, payable within 30 days.\n\nBest regards,\nProcurement",
      evidence: [{ label: "Budget", detail: "Office fit-out budget: 52,000 EUR left" }],
      assumptions: ["The usual price of 1,200 EUR per laptop still holds"],
    }));
    await server.api("POST", `/v1/handoffs/${id}/decisions`, fay, {
      action: "edit", rationale: "two are spare",
      draft: "Dear Contoso team,\n\nplease deliver 38 laptops (model X14, 16 GB) to our new office at Hafenstrasse 12.\nThe first batch of 20 is due on 3 December, the rest on 10 December.\nInvoice total: 45,600 EUR, payable within 30 days.\n\nBest regards,\nProcurement",
    });
    const alertId = await server.submit(agent, alarm());
    await server.submit(agent, alarm({ subject: "Card testing", summary: "200 small charges on one card in 5 minutes." }));
    await server.submit(agent, purchase({ subject: "Office chairs", summary: "Buys 12 chairs.", draft: { supplier: "Fabrikam", items: 12 }, context: { amount: 3600, currency: "EUR" } }));
    const wide = await signedIn(finn, { viewport: { width: 1280, height: 900 } });
    await wide.page.goto(`/handoffs/${id}`);
    await wide.page.screenshot({ path: join(SHOTS, "decision-edited.png") });
    await wide.context.close();
    const narrow = await signedIn(finn, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await narrow.page.goto(`/handoffs/${id}`);
    await narrow.page.screenshot({ path: join(SHOTS, "decision-390.png") });
    await narrow.context.close();
    const secNarrow = await signedIn(sam, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await secNarrow.page.goto("/");
    await secNarrow.page.screenshot({ path: join(SHOTS, "inbox-390.png"), fullPage: true });
    await secNarrow.context.close();
    const sec = await signedIn(sam, { viewport: { width: 1280, height: 800 } });
    await sec.page.goto(`/handoffs/${alertId}`);
    await sec.page.screenshot({ path: join(SHOTS, "alert.png") });
    await sec.context.close();
  } finally {
    await server.stop();
    server = main;
  }
});
