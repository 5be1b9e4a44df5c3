#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/<target>/seed-*: real packets (the SPEC's
seed packet, every packet of the example policy's [[tests]], packets that reach the
evaluation policy's rules), the example policy and variants, JSON for the RFC 8785 cases,
a chain sealed as the server seals it, and signed webhook and Slack requests.

Run from anywhere: `python3 fuzz/seeds.py`. Seeds are small, named for what they hold, and
rewritten identically each time; `cargo fuzz cmin` additions (no `seed-` prefix) are left
alone.
"""
import hashlib
import hmac
import json
import pathlib
import tomllib
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
EXAMPLE = (ROOT / "crates/handoff-domain/policies/example.toml").read_text()


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


# ---- packets: `packet` and `policy_eval` ---------------------------------------------
packets = {
    "spec": (ROOT / "crates/handoff-domain/fixtures/seed_packet.json").read_text(),
    "everything": compact({
        "task": "respond_to_client_inquiry",
        "subject": "Acme Corp",
        "summary": "Re: custom pricing for 50+ seats",
        "confidence": 0.72,
        "draft": {"to": "cfo@acme.example", "body": "Dear Ana,\nour offer…"},
        "flags": ["non-standard request", "high-value account"],
        "recommended_action": "send_with_modifications",
        "options": ["approve", {"id": "discount", "label": "Offer 10%", "risk": "high",
                                "effort": "low", "impact": "medium", "note": "n"}],
        "decision_needed": "Which discount?",
        "evidence": [{"label": "CRM", "detail": "3 years", "url": "http://crm.example/acme"}],
        "assumptions": ["the list price holds"],
        "open_questions": ["is 50 firm?"],
        "rubric": {"impact": "high", "reversibility": "medium",
                   "policy_sensitivity": "low", "uncertainty": "medium"},
        "context": {"amount": 48000, "currency": "EUR", "tags": ["urgent"],
                    "nested": {"deep": [1, 2, 3]}, "n": 12, "d": 4, "s": "7", "f": 3.5,
                    "d2": 0.25, "fraud_score": 0.9},
        "callback_url": "https://agent.example/hook?x=1",
        "supersedes": "hnd_01JD0000000000000000000000",
        "x": "an unknown field, kept",
    }),
    "aliases": compact({"task": "draft_contract_clause", "client": "Acme",
                        "summary": "Liability cap", "confidence": 1,
                        "draft_response": "Clause 7…", "flags": ["non-standard clause"]}),
    "duplicate": '{"task":"make_purchase","summary":"a","confidence":0.5,'
                 '"context":{"amount":1,"amount":20000}}',
    "bad-fields": compact({"task": "Not A Task!", "summary": "", "confidence": 1.5,
                           "flags": "x", "evidence": [{"url": "~s\u00d2"}],
                           "callback_url": "ftp:/x", "supersedes": 7}),
    "overflow": compact({"task": "make_purchase", "summary": "max", "confidence": 0.5,
                         "context": {"amount": 9223372036854775807, "n": -9223372036854775808,
                                     "d": -1, "s": "99999999999999999999", "f": -1.0,
                                     "d2": "x"}}),
    "unicode": compact({"task": "publish_content", "summary": "Ünïcødé \u202e 𝔘 ﷽",
                        "subject": "🙂Corp", "confidence": 0.05,
                        "flags": ["a", "b"]}),
}
tests = tomllib.loads(EXAMPLE)["tests"]
for i, t in enumerate(tests):
    packets[f"example-test-{i:02}"] = compact(t["packet"])
for name, text in packets.items():
    write("packet", name, text)
    write("policy_eval", name, text)

# ---- policies: `policy_load` -----------------------------------------------------------
write("policy_load", "example", EXAMPLE)
write("policy_load", "sdk-tests", (ROOT / "sdk/python/tests/policy.toml").read_text())
write("policy_load", "minimal", '[defaults]\nlevel = 2\nroute = "ops"\n\n[teams.ops]\nmembers = ["oz"]\n')
write("policy_load", "cel-rules", """[defaults]
level = 2
route = "ops"
sla = "1h30m"
expire_after = "30d"

[teams.ops]
members = ["oz"]
escalate_to = "leads"

[teams.leads]
members = ["lea"]

[people.oz]
slack = "U0OZ"

[tasks.make_purchase]
level = 1
route = "ops"
rubric = { impact = "high" }

[[rules]]
name = "big"
when = "has(context.amount) && context.amount / 3 > 100 && handoff.summary.matches('^B')"
level = 3
approvals = 2
route = "leads"
add_flags = ["big"]

[[rules]]
name = "listy"
when = "handoff.flags.exists(f, f.startsWith('x')) || size(handoff.evidence) > 2 || now < timestamp('2020-01-01T00:00:00Z')"
level = 4

[[tests]]
name = "big purchase"
packet = { task = "make_purchase", summary = "Buy", confidence = 0.9, context = { amount = 900 } }
expect = { level = 3, route = "leads", approvals_required = 2, flags = ["big"] }
""")
write("policy_load", "errors", """[defaults]
level = 7
route = "nobody"
sla = "4x"

[tasks.a]
level = 0

[[rules]]
name = "broken"
when = "handoff.nope +"
""")

# ---- canonical JSON ---------------------------------------------------------------------
canon = {
    "rfc8785-numbers": "[333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001, -0, 1e21, 1e-7, 9007199254740993, 18446744073709551615, -9223372036854775808]",
    "rfc8785-strings": '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis", "\\u0000\\u001f\\"\\\\/\\b\\f\\n\\t": "escapes"}',
    "nested": '{"b": [true, false, null, {"z": {}, "a": []}], "a": {"y": 1.5, "x": "é"}, "a2": 0.1}',
    "duplicate": '{"a": 1, "a": 2, "b": {"c": [1, {"c": 3, "c": 4}]}}',
    "scalars": '"\\ud800\\udc00 \\u2028 \\u007f"',
}
for name, text in canon.items():
    write("canonical", name, text)


# ---- the audit chain ----------------------------------------------------------------------
def canonical(v):
    # Enough of RFC 8785 for the ASCII keys, strings and integers of these entries.
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


GENESIS = "0" * 64


def seal(prev, seq, at, actor, action, handoff_id, data):
    head = canonical({"action": action, "actor": actor, "at": at, "data": data,
                      "handoff_id": handoff_id, "seq": seq})
    h = hashlib.sha256((prev + head).encode()).hexdigest()
    return {"seq": seq, "at": at, "actor": actor, "action": action,
            "handoff_id": handoff_id, "data": data, "prev_hash": prev, "hash": h}


contents = [
    ("2026-11-21T12:00:00.000Z", "admin", "key.created", None, {"name": "bot", "role": "agent"}),
    ("2026-11-21T12:00:01.250Z", "bot", "handoff.submitted", "hnd_01JD0000000000000000000001",
     {"task": "make_purchase", "level": 2, "route": "finance", "via": "api"}),
    ("2026-11-21T12:05:00.000Z", "fay", "handoff.decision", "hnd_01JD0000000000000000000001",
     {"action": "approve", "version": 1, "rationale": "ok ✓"}),
    ("2026-11-21T12:05:00.001Z", "system", "notification.sent", "hnd_01JD0000000000000000000001",
     {"channel": "webhook", "attempt": 1, "status": 200}),
]
chain, prev = [], GENESIS
for i, c in enumerate(contents, start=1):
    e = seal(prev, i, *c)
    chain.append(e)
    prev = e["hash"]
lines = [compact(e) for e in chain]
head = compact({"seq": len(chain), "hash": prev, "at": "2026-11-21T13:00:00Z"})
write("audit_chain", "chain", "\n".join(lines) + "\n")
write("audit_chain", "chain-with-head", "\n".join([head] + lines) + "\n")
write("audit_chain", "cut-tail-with-head", "\n".join([head] + lines[:-1]) + "\n")
write("audit_chain", "unreadable-line", "\n".join(lines[:2] + ["not an entry"] + lines[2:]) + "\n")
edited = dict(chain[1], actor="mallory")
write("audit_chain", "edited", "\n".join([lines[0], compact(edited)] + lines[2:]) + "\n")

# ---- Standard Webhooks: secret \n id \n timestamp \n body -----------------------------------
known = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
write("webhook_sign", "known-answer", f'{known}\nmsg_p5jXN8AQM9LWM0D4loKWxJek\n1614265330\n{{"test": 2432232314}}')
event = compact({"type": "handoff.routed", "timestamp": "2026-11-21T12:00:01.250Z", "data": {
    "id": "hnd_01JD0000000000000000000001", "task": "make_purchase", "status": "pending",
    "version": 1, "team": "finance", "level": 2, "risk": "medium", "summary": "Buy 40 laptops",
    "options": [], "approvals": [], "confidence": 0.95, "flags": ["four-eyes"],
    "approvals_required": 2, "url": "https://handoff.example/inbox/hnd_01JD0000000000000000000001"}})
write("webhook_sign", "routed-event", f"whsec_aGFuZG9mZi10ZXN0cy1zZWNvbmQtc2VjcmV0LWtleSE=\nmsg_2f6c0d0e9b\n1795000000\n{event}")
write("webhook_sign", "bad-secret", "whsec_c2hvcnQ=\nmsg_1\n-1\n{}")

# ---- Slack: secret \n timestamp \n signature \n body ------------------------------------------
slack_secret = "8f742231b10e8888abcd99edabcd00d1"
press = urllib.parse.urlencode({"payload": json.dumps({
    "type": "block_actions", "user": {"id": "U0OZ", "team_id": "T0"}, "team": {"id": "T0"},
    "response_url": "https://hooks.slack.com/actions/T0/1/abc",
    "actions": [{"action_id": "approve", "block_id": "handoff_actions", "type": "button",
                 "value": json.dumps({"id": "hnd_01JD0000000000000000000001", "version": 1})}]})})


def slack_sig(secret, ts, body):
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()


write("slack_signature", "button-press", f"{slack_secret}\n1795000000\n{slack_sig(slack_secret, '1795000000', press)}\n{press}")
write("slack_signature", "wrong-signature", f"{slack_secret}\n1795000000\nv0={'ab' * 32}\n{press}")
write("slack_signature", "no-timestamp", f"{slack_secret}\n\nv0=00\npayload=%7B%22type%22%3A%22block_actions%22%7D")
write("slack_signature", "uppercase-hex", f"{slack_secret}\n 1795000000 \n{slack_sig(slack_secret, '1795000000', 'a=b').upper().replace('V0=', 'v0=')}\na=b")
