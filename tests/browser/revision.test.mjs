// Revisions and e-mail (issue #15). A revision's decision page shows what changed since
// the version the reviewer rejected (words marked), the rationale beside it, and links the
// superseded handoff; the e-mail a team receives reads on a phone: at 375 px nothing
// scrolls sideways, the button is a large tap target, nothing is loaded from elsewhere.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, clientReply, CHROMIUM, SHOTS, signIn } from "./harness.mjs";

let browser;

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
});

const FIRST_DRAFT = "Dear Ms Fuller,\n\nplease find attached the copy of invoice INV-2026-0412.\nWe can split the amount into two instalments, due on 1 December and 1 January, at no extra cost.\n\nKind regards,\nAccounts team";
const REVISED_DRAFT = "Dear Ms Fuller,\n\nplease find attached the copy of invoice INV-2026-0412.\nWe can split the amount into two instalments, due on 1 December and 15 January, with a fee of 25 EUR as our terms say.\n\nKind regards,\nAccounts team";
const RATIONALE = "Instalments carry the 25 EUR fee of our terms, and the second is due on the 15th, not the 1st.";

test("a revision's page shows the word diff against the rejected draft, the rationale beside it, and the chain", async () => {
  const server = await startServer();
  try {
    const agent = await server.key("agent", "sales-bot");
    const ana = await server.key("reviewer", "ana");
    const first = await server.submit(agent, clientReply({ draft_response: FIRST_DRAFT }));
    await server.api("POST", `/v1/handoffs/${first}/decisions`, ana, { action: "reject", rationale: RATIONALE });
    const second = await server.submit(agent, clientReply({
      draft_response: REVISED_DRAFT,
      supersedes: first,
      summary: "Revised after the rejection: the fee and the second due date as our terms say.",
      decision_needed: "Send this reply, which offers two instalments with the 25 EUR fee?",
    }));
    const h = await server.get(ana, second);
    assert.equal(h.revision_of.id, first);
    assert.equal(h.revision_of.rationale, RATIONALE);

    const { context, page } = await signIn(browser, server.url, ana, { viewport: { width: 1280, height: 900 } });
    await page.goto(`/handoffs/${second}`);
    const panel = page.locator("#revision");
    assert.ok(await panel.isVisible(), "the revision panel shows");
    assert.equal(await page.locator("#revision-of").getAttribute("href"), `/handoffs/${first}`);
    assert.match(await page.locator("#revision-rationale").innerText(), /25 EUR fee of our terms/);
    const marked = await page.locator("#revision-diff mark").allInnerTexts();
    assert.ok(marked.some((t) => t.includes("15")), `the changed date is marked: ${marked}`);
    assert.ok(marked.some((t) => t.includes("fee")), `the fee is marked: ${marked}`);
    assert.match(await page.locator("#revision-summary").innerText(), /word/);
    // The rationale sits beside the diff on a wide screen.
    const why = await page.locator("#revision-rationale").boundingBox();
    const diff = await page.locator("#revision-diff").boundingBox();
    assert.ok(why.x + why.width <= diff.x + 1 && Math.abs(why.y - diff.y) < 80, `side by side: ${JSON.stringify({ why, diff })}`);
    // The timeline links the chain both ways.
    assert.equal(await page.locator(`#revision-chain a[href="/handoffs/${first}"]`).count(), 1);
    await page.goto(`/handoffs/${first}`);
    assert.equal(await page.locator(`#revision-chain a[href="/handoffs/${second}"]`).count(), 1);

    await page.goto(`/handoffs/${second}`);
    await page.locator("#revision").evaluate((el) => el.scrollIntoView({ block: "start" }));
    await page.evaluate(() => window.scrollBy(0, -16));
    await page.screenshot({ path: join(SHOTS, "revision.png") });
    await context.close();
  } finally {
    await server.stop();
  }
});

test("a JSON revision at 390 px: the changed paths one column below the rationale, nothing scrolls sideways", async () => {
  const server = await startServer();
  try {
    const agent = await server.key("agent", "sales-bot");
    const ana = await server.key("reviewer", "ana");
    const order = { supplier: "Contoso", items: [{ sku: "X14-16GB-SILVER-EU-KEYBOARD-LAYOUT-DE", qty: 40 }], total: "48000 EUR", note: "usual terms" };
    const first = await server.submit(agent, clientReply({ draft_response: order }));
    await server.api("POST", `/v1/handoffs/${first}/decisions`, ana, { action: "reject", rationale: "38 are enough; two are spare from the last order." });
    const revised = { supplier: "Contoso", items: [{ sku: "X14-16GB-SILVER-EU-KEYBOARD-LAYOUT-DE", qty: 38 }], total: "45600 EUR", delivery: "10 December" };
    const second = await server.submit(agent, clientReply({ draft_response: revised, supersedes: first }));
    const { context, page } = await signIn(browser, server.url, ana, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await page.goto(`/handoffs/${second}`);
    const rows = await page.locator("#revision-paths tbody tr").allInnerTexts();
    assert.equal(rows.length, 4, rows.join("\n"));
    assert.ok(rows.some((r) => r.includes("items › 0 › qty") && r.includes("40") && r.includes("38")), rows.join("\n"));
    assert.ok(rows.some((r) => r.includes("note") && r.includes("removed")), rows.join("\n"));
    assert.ok(rows.some((r) => r.includes("delivery") && r.includes("added")), rows.join("\n"));
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `nothing scrolls sideways (${width} px)`);
    const why = await page.locator("#revision-rationale").boundingBox();
    const paths = await page.locator("#revision-paths").boundingBox();
    assert.ok(paths.y >= why.y + why.height - 1, "the rationale comes first, the paths below it");
    await context.close();
  } finally {
    await server.stop();
  }
});

/// A minimal SMTP server on loopback that accepts every message and keeps its DATA.
async function smtpSink() {
  const mails = [];
  const waiting = [];
  const srv = createServer((sock) => {
    let buf = "";
    let data = null;
    const say = (line) => sock.write(line + "\r\n");
    say("220 sink.test ESMTP");
    sock.on("data", (chunk) => {
      buf += chunk.toString("latin1");
      let at;
      while ((at = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, at);
        buf = buf.slice(at + 2);
        if (data !== null) {
          if (line === ".") {
            mails.push(data);
            data = null;
            say("250 2.0.0 accepted");
            waiting.splice(0).forEach((w) => w());
          } else {
            data += (line.startsWith("..") ? line.slice(1) : line) + "\r\n";
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") say("250 sink.test");
        else if (verb === "DATA") { data = ""; say("354 end with <CRLF>.<CRLF>"); }
        else if (verb === "QUIT") { say("221 bye"); sock.end(); }
        else say("250 OK");
      }
    });
    sock.on("error", () => {});
  });
  await new Promise((ok) => srv.listen(0, "127.0.0.1", ok));
  return {
    port: srv.address().port,
    async waitFor(n, ms = 15000) {
      const deadline = Date.now() + ms;
      while (mails.length < n) {
        if (Date.now() > deadline) throw new Error(`${mails.length} mails, not ${n}`);
        await new Promise((ok) => { waiting.push(ok); setTimeout(ok, 200); });
      }
      return mails;
    },
    close() { srv.close(); },
  };
}

/// The body of a MIME entity's part whose Content-Type starts with `type`, decoded.
function mimePart(message, type) {
  const boundary = message.match(/boundary="?([^";\r\n]+)"?/i)[1];
  for (const raw of message.split(`--${boundary}`)) {
    const sep = raw.indexOf("\r\n\r\n");
    if (sep < 0) continue;
    const head = raw.slice(0, sep).replace(/\r\n[ \t]/g, " ");
    const body = raw.slice(sep + 4);
    if (!new RegExp(`content-type:\\s*${type}`, "i").test(head)) continue;
    const enc = (head.match(/content-transfer-encoding:\s*([\w-]+)/i) || [])[1]?.toLowerCase();
    if (enc === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    if (enc === "quoted-printable") {
      const bytes = Buffer.from(body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1");
      return bytes.toString("utf8");
    }
    return Buffer.from(body, "latin1").toString("utf8");
  }
  throw new Error(`no ${type} part`);
}

/// A header with its RFC 2047 encoded words decoded (adjacent ones joined, as the RFC says).
function decodeHeader(value) {
  const out = [];
  let pending = [];
  const flush = () => { if (pending.length) { out.push(Buffer.concat(pending).toString("utf8")); pending = []; } };
  for (const token of value.split(/[ \t]+/).filter(Boolean)) {
    const m = token.match(/^=\?[^?]+\?([bq])\?([^?]*)\?=$/i);
    if (!m) { flush(); out.push(token); continue; }
    pending.push(m[1].toLowerCase() === "b"
      ? Buffer.from(m[2], "base64")
      : Buffer.from(m[2].replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1"));
  }
  flush();
  return out.join(" ");
}

const MAIL_POLICY = `
[defaults]
level = 2
route = "sales"

[teams.sales]
members = ["ana"]
notify = ["email:sales@example.com"]

[tasks.respond_to_client_inquiry]
level = 2
route = "sales"
sla = "3h20m"
`;

test("the e-mail's HTML at 375 px: one column, a large button to the decision page, nothing loaded", async () => {
  const smtp = await smtpSink();
  const publicUrl = "https://handoff.example.com";
  const server = await startServer({
    policy: MAIL_POLICY,
    args: ["--smtp-url", `smtp://127.0.0.1:${smtp.port}`, "--mail-from", "handoff <noreply@example.com>", "--public-url", publicUrl],
  });
  try {
    const agent = await server.key("agent", "sales-bot");
    const ana = await server.key("reviewer", "ana");
    const first = await server.submit(agent, clientReply({ draft_response: FIRST_DRAFT }));
    await smtp.waitFor(1);
    await server.api("POST", `/v1/handoffs/${first}/decisions`, ana, { action: "reject", rationale: RATIONALE });
    const second = await server.submit(agent, clientReply({
      draft_response: REVISED_DRAFT,
      supersedes: first,
      summary: "Revised after the rejection: the fee and the second due date as our terms say. <b>Not bold</b>",
      decision_needed: "Send this reply, which offers two instalments with the 25 EUR fee?",
    }));
    const mails = await smtp.waitFor(2);
    const message = mails[1];
    const subject = message.replace(/\r\n[ \t]/g, " ").match(/^Subject: (.*)$/im)[1];
    const decoded = decodeHeader(subject);
    assert.match(decoded, /^Approve\? respond_to_client_inquiry — 3h (19|20)m left$/, decoded);
    const html = mimePart(message, "text/html");
    const text = mimePart(message, "text/plain");
    assert.ok(text.includes(`${publicUrl}/handoffs/${second}`), text);

    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const requests = [];
    await page.route("**/*", (route) => { requests.push(route.request().url()); route.abort(); });
    await page.setContent(html, { waitUntil: "load" });
    assert.deepEqual(requests, [], "the mail loads nothing");
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `nothing scrolls sideways (${width} px)`);
    const links = await page.locator("a").all();
    assert.equal(links.length, 1, "one link");
    assert.equal(await links[0].getAttribute("href"), `${publicUrl}/handoffs/${second}`);
    const box = await links[0].boundingBox();
    assert.ok(box.height >= 44 && box.width >= 300, `a large tap target: ${JSON.stringify(box)}`);
    assert.equal(await page.locator("b").count(), 0, "the agent's markup is text");
    assert.match(await page.locator("body").innerText(), /<b>Not bold<\/b>/);
    assert.match(await page.locator("body").innerText(), /25 EUR fee of our terms/);
    await page.screenshot({ path: join(SHOTS, "email-375.png"), fullPage: true });
    await context.close();
  } finally {
    await server.stop();
    smtp.close();
  }
});
