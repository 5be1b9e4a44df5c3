"""examples/python_agent.py runs: it waits for the decision and sends the edited reply."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def test_the_example_agent_sends_the_reviewers_edit(server, ana):
    key = server.new_agent()._key
    env = dict(os.environ, HANDOFF_URL=server.base_url, HANDOFF_KEY=key)
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "python_agent.py"), "--to", "ceo@acme.example",
         "--client", "Acme Corp", "Can you send me a copy of the March invoice?"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("submitted hnd_"), first + proc.stderr.read()
        hid = first.split()[1].rstrip(":")
        h = ana.get(hid)
        assert "invoice is attached" in h.draft["body"]
        ana.edit(hid, {"to": "ceo@acme.example", "body": "Hello, the March invoice is attached."})
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "sent to ceo@acme.example:\nHello, the March invoice is attached." in out
    assert ana.get(hid).status == "executed"
