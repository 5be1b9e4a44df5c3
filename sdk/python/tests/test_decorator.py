"""@requires_approval against the real server: the function runs only on approval, with
the reviewer's edit, and reports its outcome; everything else raises without running it."""

from __future__ import annotations

import pytest

from handoff import (
    Cancelled,
    DecisionTimeout,
    Expired,
    HandedOver,
    Rejected,
    UnusableDraft,
    current_handoff,
    requires_approval,
    sha256_hex,
)

REPLY = dict(task="respond_to_client_inquiry", summary="Reply to a client's question", confidence=0.95)


def test_an_approved_call_runs_once_with_its_own_arguments_and_reports_executed(agent, ana, pool, submitted):
    calls = []

    @requires_approval(agent, **REPLY, subject=lambda a: a["to"], on_submit=submitted.put)
    def send_reply(to: str, body: str, cc: tuple = ()) -> str:
        calls.append((to, body, cc))
        return f"sent to {to}"

    fut = pool.submit(send_reply, "ceo@acme.example", "Hello, the copy is attached.")
    h = submitted.get(timeout=10)
    assert h.status == "pending" and h.level == 2
    assert h.packet["draft"] == {"to": "ceo@acme.example", "body": "Hello, the copy is attached.", "cc": []}
    assert h.packet["subject"] == "ceo@acme.example"
    assert not calls  # nothing ran before the decision

    ana.approve(h.id)
    assert fut.result(timeout=15) == "sent to ceo@acme.example"
    # The caller's own objects, not a JSON round trip of them (the tuple stays a tuple).
    assert calls == [("ceo@acme.example", "Hello, the copy is attached.", ())]
    final = agent.get(h.id)
    assert final.status == "executed"
    assert final["draft_versions"][-1]["sha256"] == sha256_hex(h.packet["draft"])


def test_an_edited_draft_runs_the_function_with_the_reviewers_arguments(agent, ana, pool, submitted):
    calls = []

    @requires_approval(agent, **REPLY, on_submit=submitted.put)
    def send_reply(to: str, body: str, *, discount: float = 0.0) -> None:
        calls.append((to, body, discount))
        assert current_handoff() is not None and current_handoff().id == h.id

    fut = pool.submit(send_reply, "ceo@acme.example", "We can do 20% off.", discount=0.2)
    h = submitted.get(timeout=10)
    edited = {"to": "ceo@acme.example", "body": "We can do 10% off.", "discount": 0.1}
    after = ana.edit(h.id, edited)
    assert after.status == "approved" and after.was_edited
    fut.result(timeout=15)
    assert calls == [("ceo@acme.example", "We can do 10% off.", 0.1)]
    final = agent.get(h.id)
    assert final.status == "executed"
    assert final["approved_draft"] == edited
    assert final["draft_versions"][-1] == {"version": 2, "by": "ana", "sha256": sha256_hex(edited)}


def test_a_rejection_raises_with_the_rationale_and_never_runs_the_function(agent, ana, pool, submitted):
    calls = []

    @requires_approval(agent, **REPLY, on_submit=submitted.put)
    def send_reply(to: str, body: str) -> None:
        calls.append(to)

    fut = pool.submit(send_reply, "ceo@acme.example", "Sure, 50% off forever.")
    h = submitted.get(timeout=10)
    ana.reject(h.id, "We never promise discounts in writing.")
    with pytest.raises(Rejected) as err:
        fut.result(timeout=15)
    assert err.value.rationale == "We never promise discounts in writing."
    assert err.value.decided_by == "ana"
    assert err.value.handoff_id == h.id
    assert "We never promise discounts" in str(err.value)
    assert calls == []
    assert agent.get(h.id).status == "rejected"


def test_a_failing_function_reports_failed_with_the_exception_and_reraises(agent, ana, pool, submitted):
    @requires_approval(agent, **REPLY, on_submit=submitted.put)
    def send_reply(to: str) -> None:
        raise ConnectionError("SMTP server said 554")

    fut = pool.submit(send_reply, "ceo@acme.example")
    h = submitted.get(timeout=10)
    ana.approve(h.id)
    with pytest.raises(ConnectionError, match="554"):
        fut.result(timeout=15)
    final = agent.get(h.id)
    assert final.status == "failed"
    assert final["outcome"]["result"] == "failed"
    assert "ConnectionError: SMTP server said 554" in final["outcome"]["detail"]


def test_an_autonomous_task_runs_at_once_under_a_policy_receipt(agent):
    @requires_approval(agent, task="categorize_support_ticket", summary="Tag ticket #4411 as billing", confidence=0.97)
    def tag(ticket: int, tag: str) -> str:
        h = current_handoff()
        assert h is not None and h.level == 1
        assert agent.verify_receipt(h.receipt, {"ticket": ticket, "tag": tag})["approvers"] == ["policy"]
        return h.id

    hid = tag(4411, "billing")
    assert agent.get(hid).status == "executed"


def test_a_flag_and_stop_task_raises_handed_over_without_waiting(agent):
    @requires_approval(agent, task="delete_data", summary="Delete the 2019 CRM export", confidence=0.99)
    def delete(path: str) -> None:
        raise AssertionError("must not run")

    with pytest.raises(HandedOver) as err:
        delete("/exports/2019.csv")
    assert err.value.status == "handed_over"


def test_a_timeout_is_never_an_approval_and_cancels_the_handoff(agent, submitted):
    @requires_approval(agent, **REPLY, timeout=0.5, on_submit=submitted.put)
    def send_reply(to: str) -> None:
        raise AssertionError("must not run")

    with pytest.raises(DecisionTimeout):
        send_reply("ceo@acme.example")
    assert agent.get(submitted.get_nowait().id).status == "cancelled"


def test_a_cancelled_handoff_raises_cancelled(agent, pool, submitted):
    @requires_approval(agent, **REPLY, on_submit=submitted.put)
    def send_reply(to: str) -> None:
        raise AssertionError("must not run")

    fut = pool.submit(send_reply, "ceo@acme.example")
    h = submitted.get(timeout=10)
    agent.cancel(h.id)
    with pytest.raises(Cancelled):
        fut.result(timeout=15)


def test_an_edit_that_does_not_fit_the_parameters_is_not_run_and_reports_failed(agent, ana, pool, submitted):
    @requires_approval(agent, **REPLY, on_submit=submitted.put)
    def send_reply(to: str, body: str) -> None:
        raise AssertionError("must not run")

    fut = pool.submit(send_reply, "ceo@acme.example", "Hello")
    h = submitted.get(timeout=10)
    ana.edit(h.id, "Hello, a plain string instead of the arguments")
    with pytest.raises(UnusableDraft):
        fut.result(timeout=15)
    assert agent.get(h.id).status == "failed"


def test_excluded_parameters_stay_out_of_the_draft_and_keep_the_callers_value(agent, ana, pool, submitted):
    class Mailer:
        def __init__(self) -> None:
            self.sent = []

        @requires_approval(agent, **REPLY, exclude=["self"], on_submit=submitted.put)
        def send(self, to: str) -> None:
            self.sent.append(to)

    m = Mailer()
    fut = pool.submit(m.send, "a@acme.example")
    h = submitted.get(timeout=10)
    assert h.packet["draft"] == {"to": "a@acme.example"}
    ana.approve(h.id)
    fut.result(timeout=15)
    assert m.sent == ["a@acme.example"]


def test_arguments_that_are_not_json_fail_before_anything_is_submitted(agent):
    @requires_approval(agent, **REPLY)
    def send(to: object) -> None:
        raise AssertionError("must not run")

    with pytest.raises(TypeError):
        send(object())
    assert agent.list().items == []


def test_expiry_raises_expired_and_never_runs_the_function(test_policy_server):
    agent = test_policy_server.new_agent()
    calls = []

    @requires_approval(agent, task="quick_reply", summary="Reply within two seconds", confidence=0.95)
    def reply(text: str) -> None:
        calls.append(text)

    # The server's own clock expires it after 2 s; the long-poll returns at that moment.
    with pytest.raises(Expired) as err:
        reply("hello")
    assert err.value.status == "expired"
    assert calls == []
