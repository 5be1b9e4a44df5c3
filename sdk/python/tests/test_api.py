"""The rest of the API through the sync client: idempotency, long-polls, listing, policy,
learning, spot checks and the decisions export."""

from __future__ import annotations

import logging
import threading

import pytest

from handoff import Conflict, DecisionTimeout, Invalid

from conftest import Server


def test_the_same_idempotency_key_and_body_return_the_same_handoff(agent):
    packet = {"task": "respond_to_client_inquiry", "summary": "Once", "confidence": 0.95, "draft": "x"}
    a = agent.submit(packet, idempotency_key="reply-42")
    b = agent.submit(dict(reversed(list(packet.items()))), idempotency_key="reply-42")
    assert a.id == b.id
    with pytest.raises(Invalid):
        agent.submit({**packet, "summary": "Twice"}, idempotency_key="reply-42")


def test_wait_for_decision_returns_when_a_person_decides(agent, ana):
    h = agent.submit(task="respond_to_client_inquiry", summary="Wait", confidence=0.95, draft="x")
    with pytest.raises(DecisionTimeout) as err:
        agent.wait_for_decision(h.id, timeout=0.2)
    assert err.value.handoff["status"] == "pending"
    threading.Timer(0.0, lambda: ana.approve(h.id)).start()
    decided = agent.wait_for_decision(h.id, timeout=20)
    assert decided.status == "approved" and decided.receipt


def test_the_seed_packet_with_aliases_is_explained_and_listed(agent, ana):
    seed = {
        "task": "respond_to_client_inquiry", "client": "Acme Corp",
        "summary": "Client asked about custom pricing for 50+ seats", "draft_response": "...",
        "confidence": 0.72, "flags": ["non-standard request", "high-value account"],
        "recommended_action": "send_with_modifications",
        "options": ["approve", "edit", "reject", "escalate_to_sales"],
    }
    ev = agent.explain_policy(seed)
    assert (ev["level"], ev["route"], ev["approvals_required"]) == (2, "sales-leads", 2)
    h = agent.submit(seed)
    assert h.packet["subject"] == "Acme Corp" and h.draft == "..."
    assert h["assigned_team"] == "sales-leads"
    assert [i["id"] for i in agent.list(task="respond_to_client_inquiry").items] == [h.id]
    assert all(i["id"] != h.id for i in ana.iter_handoffs())  # not ana's team


def test_timeline_lists_the_audit_entries_oldest_first(agent, ana):
    h = agent.submit(task="respond_to_client_inquiry", summary="Timeline", confidence=0.95, draft="x")
    ana.decide(h.id, "escalate", rationale="Needs a lead")
    actions = [e["action"] for e in agent.timeline(h.id)]
    assert actions[0] == "handoff.submitted" and "handoff.decision" in actions


def test_admin_learning_calls(admin, agent, ana):
    h = agent.submit(task="respond_to_client_inquiry", summary="Stats", confidence=0.95, draft="x")
    ana.approve(h.id)
    stats = admin.stats(task="respond_to_client_inquiry")
    row = next(t for t in stats["tasks"] if t["task"] == "respond_to_client_inquiry")
    assert row["decisions"] >= 1 and "kpis" in stats
    assert isinstance(admin.recommendations(), list)
    with pytest.raises(Conflict):  # its rubric floor keeps it at level 2
        admin.set_task_level("respond_to_client_inquiry", 1, "try")
    changed = admin.set_task_level("publish_content", 3, "a bad week")
    assert (changed["level"], changed["previous_level"]) == (3, 2)
    admin.set_task_level("publish_content", 2, "back")
    exported = list(admin.export_decisions(task="respond_to_client_inquiry"))
    assert any(e["id"] == h.id for e in exported)
    assert admin.verify_audit()["ok"] is True


def test_spot_checks_list_and_take_a_verdict(test_policy_server):
    agent = test_policy_server.new_agent()
    oz = test_policy_server.client("reviewer", "oz")
    h = agent.submit(task="tag_ticket", summary="Tag #1 as billing", confidence=0.97, draft={"tag": "billing"})
    assert h.status == "approved" and h.level == 1
    assert h.id in [i["id"] for i in oz.spot_checks().items]
    checked = oz.spot_check(h.id, "would_change", note="wrong tag")
    assert checked["spot_check"]["verdict"] == "would_change"
    assert h.id not in [i["id"] for i in oz.spot_checks().items]
    with pytest.raises(Conflict):
        oz.spot_check(h.id, "fine")


def test_a_wait_for_decision_outlives_a_server_restart(pool, caplog):
    s = Server()
    try:
        agent, ana = s.new_agent(), s.client("reviewer", "ana")
        h = agent.submit(task="respond_to_client_inquiry", summary="Restart", confidence=0.95, draft="x")
        s.halt()
        caplog.set_level(logging.INFO, logger="handoff")
        waiting = pool.submit(agent.wait_for_decision, h.id, 30)  # finds nobody listening
        s.resume()
        ana.approve(h.id)
        assert waiting.result(timeout=30).status == "approved"
        assert "waiting again" in caplog.text
    finally:
        s.stop()
