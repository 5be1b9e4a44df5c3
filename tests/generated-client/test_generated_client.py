"""A client generated from the server's own `/openapi.json` by openapi-python-client (from
PyPI, nobody here wrote it) must compile, type-check, and do a whole handoff: keys, a
submission, a decision bound by If-Match, the agent's long-poll, the outcome, the receipt
key, and the refusals the document promises (problem documents, 401, 412, 422).

The generator is run on the live document at the start (never a copy kept in the repo),
into a temporary directory; mypy checks the package it wrote. One module is left out of
the type check: the generator reads a `text/event-stream` answer as one JSON object, which
no event stream is (SSE is read with an SSE client; the API tests cover it).
"""

import importlib
import os
import pathlib
import pkgutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("HANDOFF_BIN", str(ROOT / "target" / "debug" / "handoff"))
VENV_BIN = pathlib.Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    data = tempfile.mkdtemp(prefix="handoff-genclient-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [BIN, "serve", "--data-dir", str(pathlib.Path(data, "data")), "--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        admin = pathlib.Path(data, "data", "admin.key").read_text().strip()
        yield {"url": url, "admin": admin, "dir": data}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def api(server):
    """The package openapi-python-client writes from the live document, imported."""
    out = pathlib.Path(server["dir"], "gen")
    out.mkdir()
    doc = pathlib.Path(out, "openapi.json")
    with urllib.request.urlopen(server["url"] + "/openapi.json", timeout=10) as r:
        doc.write_bytes(r.read())
    gen = subprocess.run(
        [str(VENV_BIN / "openapi-python-client"), "generate", "--path", str(doc), "--meta", "none",
         "--output-path", str(out / "handoff_api")],
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert gen.returncode == 0, gen.stdout + gen.stderr
    # What it could not generate, it says: only the non-JSON bodies (TOML policy, NDJSON
    # export and audit) may be named, never a JSON schema it failed to read.
    for line in (gen.stdout + gen.stderr).splitlines():
        if line.startswith("WARNING") or "Unsupported" in line or "Cannot parse" in line:
            assert any(ok in line for ok in ("/v1/policy", "/v1/audit", "/v1/export", "application/toml",
                                                "application/x-ndjson", "Cannot parse response")), line
    sys.path.insert(0, str(out))
    pkg = importlib.import_module("handoff_api")
    return {"pkg": pkg, "dir": out}


def test_every_generated_module_imports(api):
    pkg = api["pkg"]
    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, "handoff_api.")]
    assert len(names) > 80, names
    for name in names:
        importlib.import_module(name)


def test_the_generated_package_type_checks(api):
    check = subprocess.run(
        [str(VENV_BIN / "mypy"), "--no-incremental", "--exclude", r"api/events/events\.py$", "handoff_api"],
        cwd=api["dir"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_whole_handoff_through_the_generated_client(server, api):
    from handoff_api import AuthenticatedClient, Client
    from handoff_api.api.handoffs import decide, get, outcome, submit
    from handoff_api.api.keys import create
    from handoff_api.api.system import receipt_key
    from handoff_api.models import (CreateKey, DecisionAction, DecisionRequest, Handoff, OutcomeRequest,
                                    OutcomeResult, Packet, Problem, Role, Status)

    admin = AuthenticatedClient(base_url=server["url"], token=server["admin"])
    keys = {}
    for role, name in [(Role.AGENT, "bot"), (Role.REVIEWER, "ana")]:
        made = create.sync(client=admin, body=CreateKey(role=role, name=name))
        assert not isinstance(made, Problem) and made is not None, made
        keys[name] = made.key
    bot = AuthenticatedClient(base_url=server["url"], token=keys["bot"])
    ana = AuthenticatedClient(base_url=server["url"], token=keys["ana"])

    packet = Packet(task="respond_to_client_inquiry", summary="Answer Acme about the invoice", confidence=0.9,
                    draft="Dear Acme, the invoice is attached.")
    h = submit.sync(client=bot, body=packet, idempotency_key="gen-1")
    assert isinstance(h, Handoff), h
    assert h.status == Status.PENDING
    again = submit.sync(client=bot, body=packet, idempotency_key="gen-1")
    assert isinstance(again, Handoff) and again.id == h.id

    # A decision on a version that is not the current one: 412, as a problem document.
    stale = decide.sync_detailed(h.id, client=ana, body=DecisionRequest(action=DecisionAction.APPROVE),
                                 if_match=f'"{h.version + 1}"')
    assert stale.status_code == 412 and isinstance(stale.parsed, Problem), stale
    done = decide.sync(h.id, client=ana, body=DecisionRequest(action=DecisionAction.APPROVE),
                       if_match=f'"{h.version}"')
    assert isinstance(done, Handoff) and done.status == Status.APPROVED, done

    seen = get.sync(h.id, client=bot, wait=1)
    assert isinstance(seen, Handoff) and seen.status == Status.APPROVED and seen.receipt, seen
    out = outcome.sync(h.id, client=bot, body=OutcomeRequest(result=OutcomeResult.EXECUTED))
    assert isinstance(out, Handoff), out

    jwks = receipt_key.sync(client=Client(base_url=server["url"]))
    assert jwks is not None and jwks.keys and jwks.keys[0].crv == "Ed25519", jwks


def test_refusals_are_problem_documents_the_client_reads(server, api):
    from handoff_api import AuthenticatedClient
    from handoff_api.api.handoffs import get, submit
    from handoff_api.models import Packet, Problem

    nobody = AuthenticatedClient(base_url=server["url"], token="hk_not-a-key")
    r = get.sync_detailed("hnd_00000000000000000000000000", client=nobody)
    assert r.status_code == 401 and isinstance(r.parsed, Problem) and r.parsed.status == 401, r
    admin = AuthenticatedClient(base_url=server["url"], token=server["admin"])
    bad = Packet(task="respond_to_client_inquiry", summary="", confidence=7.0)
    r = submit.sync_detailed(client=admin, body=bad)
    assert r.status_code in (403, 422) and isinstance(r.parsed, Problem), r
