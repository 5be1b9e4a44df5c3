"""Deciding from Slack (SPEC §8) against the real binary, with Slack's own Python SDK as the
judge of signatures: `slack_sdk.signature.SignatureVerifier` checks that what these tests
sign is what Slack would send (and refuses what Slack would never send), and the server
must accept and refuse exactly the same requests.

The server runs with `--slack-signing-secret` and a policy whose `[people]` maps two Slack
users to ana and ben of `sales`; a local HTTP receiver (allowed by `--callback-allow`)
stands in for the `response_url`.
"""

import hashlib
import hmac
import json
import os
import pathlib
import queue
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from slack_sdk.signature import SignatureVerifier

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("HANDOFF_BIN", str(ROOT / "target" / "debug" / "handoff"))
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ANA, BEN = "U0ANA0001", "U0BEN0001"

POLICY = f"""
[defaults]
route = "ops"

[teams.ops]
members = ["oz"]

[teams.sales]
members = ["ana", "ben"]

[people.ana]
slack = "{ANA}"

[people.ben]
slack = "{BEN}"

[tasks.reply]
level = 2
route = "sales"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Receiver:
    """The response_url: records every JSON body posted to it."""

    def __init__(self):
        self.bodies = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                outer.bodies.put(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/actions/T0/1/r"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout=15):
        return self.bodies.get(timeout=timeout)


@pytest.fixture(scope="module")
def server():
    data = tempfile.mkdtemp(prefix="handoff-slack-")
    policy = pathlib.Path(data, "policy.toml")
    policy.write_text(POLICY)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    receiver = Receiver()
    proc = subprocess.Popen(
        [BIN, "serve", "--data-dir", str(pathlib.Path(data, "data")), "--addr", f"127.0.0.1:{port}",
         "--policy", str(policy), "--slack-signing-secret", SECRET, "--callback-allow", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        admin = pathlib.Path(data, "data", "admin.key").read_text().strip()
        keys = {}
        for role, name in [("agent", "bot"), ("reviewer", "ana"), ("reviewer", "ben")]:
            status, body = call(url, admin, "POST", "/v1/keys", {"role": role, "name": name})
            assert status == 201, body
            keys[name] = body["key"]
        yield {"url": url, "admin": admin, "receiver": receiver, **keys}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        receiver.server.shutdown()


def submit(server):
    status, body = call(server["url"], server["bot"], "POST", "/v1/handoffs",
                        {"task": "reply", "summary": "Answer Acme about the invoice", "confidence": 0.9})
    assert status == 201, body
    return body["id"]


def handoff(server, hid):
    status, body = call(server["url"], server["admin"], "GET", f"/v1/handoffs/{hid}")
    assert status == 200, body
    return body


def press_body(server, user, action, hid, version, rationale=None):
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0"},
        "team": {"id": "T0"},
        "response_url": server["receiver"].url,
        "state": {"values": {"rationale": {"rationale": {"type": "plain_text_input", "value": rationale}}}},
        "actions": [{"action_id": action, "block_id": "handoff_actions", "type": "button",
                     "value": json.dumps({"id": hid, "version": version})}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def our_signature(timestamp, body):
    """Slack's scheme as SPEC §8 states it, written out by hand."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


def post(server, body, timestamp, signature):
    req = urllib.request.Request(server["url"] + "/v1/integrations/slack", data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("X-Slack-Request-Timestamp", str(timestamp))
    req.add_header("X-Slack-Signature", signature)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_what_the_tests_sign_is_what_slack_sends():
    verifier = SignatureVerifier(SECRET)
    ts = str(int(time.time()))
    body = "payload=%7B%22type%22%3A%22block_actions%22%7D"
    ours = our_signature(ts, body)
    assert ours == verifier.generate_signature(timestamp=ts, body=body)
    assert verifier.is_valid(body=body, timestamp=ts, signature=ours)
    assert verifier.is_valid_request(body, {"x-slack-request-timestamp": ts, "x-slack-signature": ours})


def test_a_press_signed_by_the_sdk_is_taken_and_decides_as_ana(server):
    hid = submit(server)
    verifier = SignatureVerifier(SECRET)
    ts = str(int(time.time()))
    body = press_body(server, ANA, "approve", hid, 1)
    signature = verifier.generate_signature(timestamp=ts, body=body)
    assert verifier.is_valid_request(body, {"x-slack-request-timestamp": ts, "x-slack-signature": signature})
    status, answer = post(server, body, ts, signature)
    assert status == 200, answer
    assert answer["replace_original"] is True
    assert handoff(server, hid)["status"] == "approved"
    status, timeline = call(server["url"], server["admin"], "GET", f"/v1/handoffs/{hid}/timeline")
    decision = [e for e in timeline["items"] if e["action"] == "handoff.decision"][0]
    assert decision["actor"] == "ana" and decision["data"]["via"] == "slack"
    replaced = server["receiver"].next()
    assert replaced["replace_original"] is True and "Approved by ana" in replaced["text"]


def test_what_the_sdk_refuses_the_server_refuses_and_nothing_changes(server):
    hid = submit(server)
    verifier = SignatureVerifier(SECRET)
    body = press_body(server, BEN, "approve", hid, 1)
    now = int(time.time())
    cases = []
    # The body changed after signing.
    ts = str(now)
    cases.append((body.replace("approve", "reject"), ts, verifier.generate_signature(timestamp=ts, body=body)))
    # Signed with another secret.
    cases.append((body, ts, SignatureVerifier("another-secret").generate_signature(timestamp=ts, body=body)))
    # Signed ten minutes ago.
    old = str(now - 600)
    cases.append((body, old, verifier.generate_signature(timestamp=old, body=body)))
    for sent_body, sent_ts, signature in cases:
        headers = {"x-slack-request-timestamp": sent_ts, "x-slack-signature": signature}
        assert not verifier.is_valid_request(sent_body, headers)
        status, problem = post(server, sent_body, sent_ts, signature)
        assert status == 401, problem
    assert handoff(server, hid)["version"] == 1
    assert handoff(server, hid)["status"] == "pending"


def test_a_replayed_press_is_refused(server):
    hid = submit(server)
    verifier = SignatureVerifier(SECRET)
    ts = str(int(time.time()))
    body = press_body(server, BEN, "reject", hid, 1, rationale="Wrong invoice")
    signature = verifier.generate_signature(timestamp=ts, body=body)
    status, _ = post(server, body, ts, signature)
    assert status == 200
    assert handoff(server, hid)["status"] == "rejected"
    assert verifier.is_valid(body=body, timestamp=ts, signature=signature)  # Slack's check alone passes
    status, problem = post(server, body, ts, signature)
    assert status == 401 and "replay" in problem["detail"], problem
    assert handoff(server, hid)["version"] == 2
