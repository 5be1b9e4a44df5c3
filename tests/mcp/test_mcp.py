"""The MCP tools driven end to end by the official MCP Python client (`mcp` from PyPI)
against the real binary: over streamable HTTP at /mcp and over stdio (`handoff mcp`).

The server runs the built-in example policy: `categorize_support_ticket` is level 1
(approved by policy), `respond_to_client_inquiry` level 2 routed to `sales` (ana).
"""

import json
import os
import pathlib
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("HANDOFF_BIN", str(ROOT / "target" / "debug" / "handoff"))

ROUTINE = {"task": "categorize_support_ticket", "summary": "Tag ticket 4411 as billing",
           "confidence": 0.97, "draft": {"ticket": 4411, "tag": "billing"}}
REPLY = {"task": "respond_to_client_inquiry", "summary": "Answer Acme about the invoice",
         "confidence": 0.95, "draft": "Dear Acme, the invoice copy is attached."}


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


@pytest.fixture(scope="module")
def server():
    data = tempfile.mkdtemp(prefix="handoff-mcp-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([BIN, "serve", "--data-dir", data, "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        admin = pathlib.Path(data, "admin.key").read_text().strip()
        keys = {}
        for role, name in [("agent", "mcp-bot"), ("reviewer", "ana"), ("reviewer", "oz")]:
            status, body = call(url, admin, "POST", "/v1/keys", {"role": role, "name": name})
            assert status == 201, body
            keys[name] = body["key"]
        yield {"url": url, "admin": admin, **keys}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def http_session(server, key):
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return client, streamable_http_client(server["url"] + "/mcp", http_client=client)


async def run_with_session(server, transport, body):
    if transport == "http":
        client, streams = http_session(server, server["mcp-bot"])
        async with client, streams as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            return await body(s)
    params = StdioServerParameters(command=BIN, args=["mcp", "--server", server["url"]],
                                   env={"HANDOFF_KEY": server["mcp-bot"], "PATH": os.environ.get("PATH", "")})
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        return await body(s)


def structured(result):
    assert result.structured_content is not None, result
    return result.structured_content


def text(result):
    return " ".join(c.text for c in result.content if getattr(c, "type", "") == "text")


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_the_tools_are_listed_with_the_packet_schema(server, transport):
    async def body(s):
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) >= {"request_approval", "get_handoff", "wait_for_decision",
                              "report_outcome", "explain_policy"}
        schema = json.dumps(tools["request_approval"].input_schema)
        for field in ["task", "summary", "confidence", "draft", "rubric", "timeout_seconds"]:
            assert field in schema
        # The identity is the key, never an argument.
        assert "agent" not in tools["request_approval"].input_schema.get("properties", {})
    anyio.run(run_with_session, server, transport, body)


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_a_routine_action_is_approved_by_policy_and_its_outcome_reported(server, transport):
    async def body(s):
        r = await s.call_tool("request_approval", {"packet": ROUTINE, "timeout_seconds": 5})
        out = structured(r)
        assert not r.is_error
        assert out["status"] == "approved" and out["act"] is True
        assert out["receipt"] and out["draft_sha256"]
        assert out["approved_draft"] == ROUTINE["draft"]
        assert text(r).startswith("APPROVED")
        done = await s.call_tool("report_outcome", {"id": out["id"], "result": "executed",
                                                    "draft_sha256": out["draft_sha256"]})
        assert structured(done)["status"] == "executed"
        return out["id"]
    hid = anyio.run(run_with_session, server, transport, body)
    status, timeline = call(server["url"], server["mcp-bot"], "GET", f"/v1/handoffs/{hid}/timeline")
    assert status == 200
    via = {e["action"]: e["data"].get("via") for e in timeline["items"]}
    # Over HTTP the server records the door; over stdio the tools call the API.
    want = "mcp" if transport == "http" else None
    assert via["handoff.submitted"] == want and via["handoff.outcome"] == want, via


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_a_timeout_is_still_pending_never_an_approval_and_the_wait_sees_the_decision(server, transport):
    async def body(s):
        r = await s.call_tool("request_approval", {"packet": REPLY, "timeout_seconds": 1})
        out = structured(r)
        assert out["status"] == "pending" and out["act"] is False
        assert out["draft_sha256"] is None and out["receipt"] is None
        assert text(r).startswith("STILL PENDING")
        hid = out["id"]

        def approve_soon():
            time.sleep(0.5)
            status, body = call(server["url"], server["ana"], "POST",
                                f"/v1/handoffs/{hid}/decisions",
                                {"action": "edit", "draft": "Dear Acme, attached.",
                                 "rationale": "shorter"})
            assert status == 200, body
        t = threading.Thread(target=approve_soon)
        t.start()
        waited = await s.call_tool("wait_for_decision", {"id": hid, "timeout_seconds": 30})
        t.join()
        w = structured(waited)
        assert w["status"] == "approved" and w["act"] is True
        assert w["approved_draft"] == "Dear Acme, attached."
        assert w["rationale"] == "shorter"
        got = structured(await s.call_tool("get_handoff", {"id": hid}))
        assert got["status"] == "approved"
    anyio.run(run_with_session, server, transport, body)


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_a_rejection_says_do_not_act_with_the_rationale(server, transport):
    async def body(s):
        out = structured(await s.call_tool("request_approval", {"packet": REPLY, "timeout_seconds": 0}))
        status, _ = call(server["url"], server["ana"], "POST", f"/v1/handoffs/{out['id']}/decisions",
                         {"action": "reject", "rationale": "wrong client"})
        assert status == 200
        r = await s.call_tool("wait_for_decision", {"id": out["id"], "timeout_seconds": 5})
        assert structured(r)["act"] is False
        assert "REJECTED" in text(r) and "wrong client" in text(r)
    anyio.run(run_with_session, server, transport, body)


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_refusals_are_tool_errors_naming_what_was_wrong(server, transport):
    async def body(s):
        bad = await s.call_tool("request_approval", {"packet": {**REPLY, "confidence": 7}})
        assert bad.is_error and "confidence" in text(bad)
        missing = await s.call_tool("get_handoff", {"id": "hnd_nothing"})
        assert missing.is_error
        e = await s.call_tool("explain_policy", {"packet": ROUTINE})
        assert not e.is_error and structured(e)["level"] == 1
        assert text(e).startswith("Level 1")
    anyio.run(run_with_session, server, transport, body)


def test_http_needs_an_agents_key(server):
    status, _ = call(server["url"], "hk_not_a_key", "POST", "/mcp",
                     {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert status == 401
    status, body = call(server["url"], server["ana"], "POST", "/mcp",
                        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert status == 403, body
