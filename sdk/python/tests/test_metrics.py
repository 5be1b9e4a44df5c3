"""`GET /metrics` read by Prometheus' own Python parser (prometheus_client), as a scraper
reads it: every family parses, names and units follow Prometheus' conventions, and the
families operators run on are there with the labels they are grouped by."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

parser = pytest.importorskip("prometheus_client.parser")


def _families(server) -> dict:
    text = httpx.get(server.base_url + "/metrics").text
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def _samples(family, name=None):
    return [s for s in family.samples if name is None or s.name == name]


def test_every_family_parses_and_follows_the_naming_conventions(server, agent):
    agent.submit(task="respond_to_client_inquiry", summary="Open one", confidence=0.95, draft="Hi")
    families = _families(server)
    for name, f in families.items():
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
        assert f.documentation, f"{name} has no HELP"
        if f.type == "counter":
            # The parser strips `_total` from a counter family's name; its samples keep it.
            assert all(s.name.endswith("_total") for s in f.samples), name
        if f.type in ("counter", "gauge"):
            for s in f.samples:
                assert s.value >= 0, (name, s)


def test_the_families_operators_run_on_are_there(server, agent):
    agent.submit(task="respond_to_client_inquiry", summary="Open two", confidence=0.95, draft="Hi")
    f = _families(server)
    expected = {
        "handoff_build_info": "gauge",
        "handoff_open_handoffs": "gauge",
        "handoff_sla_breaches": "counter",
        "handoff_outbox_pending_deliveries": "gauge",
        "handoff_outbox_oldest_due_age_seconds": "gauge",
        "handoff_long_polls_waiting": "gauge",
        "handoff_event_streams_open": "gauge",
        "handoff_time_to_decision_seconds": "histogram",
        "process_cpu_seconds": "counter",
        "process_resident_memory_bytes": "gauge",
        "process_virtual_memory_bytes": "gauge",
        "process_open_fds": "gauge",
        "process_max_fds": "gauge",
        "process_start_time_seconds": "gauge",
    }
    for name, kind in expected.items():
        assert name in f, f"no {name} in {sorted(f)}"
        assert f[name].type == kind, (name, f[name].type)

    (info,) = _samples(f["handoff_build_info"])
    assert info.value == 1 and info.labels["version"]
    open_ = _samples(f["handoff_open_handoffs"])
    sales = [s for s in open_ if s.labels == {"team": "sales", "level": "2", "status": "pending"}]
    assert sales and sales[0].value >= 1, open_
    (start,) = _samples(f["process_start_time_seconds"])
    assert time.time() - 3600 < start.value <= time.time() + 1
    (rss,) = _samples(f["process_resident_memory_bytes"])
    assert rss.value > 1024 * 1024
    (fds,) = _samples(f["process_open_fds"])
    assert fds.value > 3


def test_long_polls_are_counted_while_they_wait(server, agent):
    h = agent.submit(task="respond_to_client_inquiry", summary="Wait on me", confidence=0.95, draft="Hi")

    def poll() -> None:
        httpx.get(
            f"{server.base_url}/v1/handoffs/{h.id}?wait=3",
            headers={"Authorization": f"Bearer {agent._key}"},
            timeout=10,
        )

    t = threading.Thread(target=poll)
    t.start()
    seen = 0.0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline and seen < 1:
        (s,) = _samples(_families(server)["handoff_long_polls_waiting"])
        seen = s.value
        time.sleep(0.05)
    t.join()
    assert seen >= 1
