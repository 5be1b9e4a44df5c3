// The real `handoff serve` on port 0 with a fresh data dir, and small API helpers, for the
// browser tests. The binary is target/debug/handoff (build it first: `cargo build`), or
// HANDOFF_BIN.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/// Debian's Chromium, or $CHROMIUM.
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
/// Screenshots go to target/screenshots; UPDATE_SCREENSHOTS=1 writes the README's copies.
export const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? join(ROOT, "docs/screenshots") : join(ROOT, "target/screenshots");

/// A fresh browser context on `url`, signed in with `key` through the login form.
export async function signIn(browser, url, key, options = {}) {
  const context = await browser.newContext({ baseURL: url, ...options });
  const page = await context.newPage();
  await page.goto("/login");
  await page.fill("#key", key);
  await Promise.all([page.waitForURL(url + "/"), page.click("button[type=submit]")]);
  return { context, page };
}

/// `policy`: a policy's TOML text instead of the built-in example; `args`: more flags for
/// `handoff serve` (e.g. `--smtp-url`).
export async function startServer({ policy, args = [] } = {}) {
  const bin = process.env.HANDOFF_BIN || join(ROOT, "target/debug/handoff");
  const dataDir = mkdtempSync(join(tmpdir(), "handoff-browser-"));
  const env = { ...process.env };
  for (const v of ["HANDOFF_ADDR", "HANDOFF_DATA_DIR", "HANDOFF_POLICY", "HANDOFF_DATABASE_URL", "HANDOFF_SMTP_URL", "HANDOFF_PUBLIC_URL"]) delete env[v];
  const extra = [...args];
  if (policy !== undefined) {
    const file = join(dataDir, "policy.toml");
    writeFileSync(file, policy);
    extra.push("--policy", file);
  }
  const child = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, ...extra], {
    env, stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const url = await new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`no listening line in 30 s; stderr:\n${stderr}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/handoff listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); ok(m[1].replace(/\/$/, "")); }
    });
    child.on("exit", (code) => fail(new Error(`the server exited (${code}):\n${stderr}`)));
  });
  const adminKey = readFileSync(join(dataDir, "admin.key"), "utf8").trim();
  const server = {
    url, adminKey, dataDir,
    async api(method, path, key, body) {
      const res = await fetch(url + path, {
        method,
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    async key(role, name) {
      return (await this.api("POST", "/v1/keys", adminKey, { role, name })).key;
    },
    async submit(agentKey, packet) {
      return (await this.api("POST", "/v1/handoffs", agentKey, packet)).id;
    },
    async get(key, id) {
      return this.api("GET", `/v1/handoffs/${id}`, key);
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((ok) => { if (child.exitCode !== null) ok(); else child.on("exit", ok); });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/// A client reply routed to `sales` (ana, ben), one approver.
export function clientReply(overrides = {}) {
  return {
    task: "respond_to_client_inquiry",
    client: "Northwind Traders",
    summary: "Asks for a copy of invoice INV-2026-0412 and whether it can be paid in two instalments.",
    decision_needed: "Send this reply, which offers two instalments without a fee?",
    draft_response: "Dear Ms Fuller,\n\nplease find attached the copy of invoice INV-2026-0412.\nWe can split the amount into two instalments, due on 1 December and 1 January, at no extra cost.\n\nKind regards,\nAccounts team",
    confidence: 0.9,
    ...overrides,
  };
}
